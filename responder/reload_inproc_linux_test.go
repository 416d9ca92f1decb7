// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// TestRunReloadInProcess runs Run userspace-only on loopback and reloads it
// through Config.Reload while it answers (run it with -race): a new key
// and a new port are taken, a settings change that needs a restart is not,
// and a Load error keeps everything running as it was.
func TestRunReloadInProcess(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key")
	secretA, secretB := bytes.Repeat([]byte{0x33}, wire.KeyLen), bytes.Repeat([]byte{0x44}, wire.KeyLen)
	keyA, _ := wire.NewKey(2, secretA)
	keyB, _ := wire.NewKey(2, secretB)
	os.WriteFile(keyPath, []byte(hex.EncodeToString(secretA)), 0o600)
	port1, port2 := freeUDPPort(t), freeUDPPort(t)

	base := config.DefaultResponder(filepath.Join(dir, "status.json"))
	base.UserspaceOnly, base.UDPPort, base.KeyFile, base.KeyID = true, port1, keyPath, 2
	base.SampleInterval = config.Duration(50 * time.Millisecond)
	var logs testutil.SyncBuffer
	next := make(chan func() (config.Responder, string, error), 1)
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Responder: base, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Reload: reload,
			Load: func() (config.Responder, string, error) { return (<-next)() }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	dst := netip.MustParseAddr("127.0.0.1")
	probe := func(key *wire.Key, port uint16) (health bool, err error) {
		req := healthRequest(key.Token(time.Now().UnixNano(), dst), key.ID)
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		if err != nil {
			return false, err
		}
		defer c.Close()
		c.Write(req)
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			return false, err
		}
		return sealedWith(buf[:n], key) == nil, nil
	}
	want := func(key *wire.Key, port uint16, health bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			h, err := probe(key, port)
			if err == nil && h == health {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("port %d: health %v, err %v; want health %v\n%s", port, h, err, health, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want(keyA, port1, true)
	want(keyB, port1, false)

	// A rotated key, a new port, a new rate and a changed attach list
	// (restart needed: kept).
	os.WriteFile(keyPath+".new", []byte(hex.EncodeToString(secretB)), 0o600)
	os.Rename(keyPath+".new", keyPath)
	c2 := base
	c2.UDPPort, c2.RateLimit, c2.Attach = port2, 5000, []string{"generic"}
	next <- func() (config.Responder, string, error) { return c2, "", nil }
	reload <- struct{}{}
	want(keyB, port2, true)
	want(keyA, port2, false)
	if _, err := probe(keyB, port1); err == nil {
		t.Fatalf("old port %d still answers", port1)
	}

	// A failing load keeps the running configuration.
	next <- func() (config.Responder, string, error) { return c2, "x.toml", os.ErrNotExist }
	reload <- struct{}{}
	// A second reload request queues behind the first: once it is taken,
	// the failed one has been handled.
	c3 := c2
	c3.RateLimit = -1 // invalid: rejected too
	next <- func() (config.Responder, string, error) { return c3, "", nil }
	reload <- struct{}{}
	want(keyB, port2, true)
	for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), "configuration rejected") != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("want 2 rejections logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	want(keyB, port2, true)
	if !strings.Contains(logs.String(), "key=attach") {
		t.Fatalf("the attach change is not logged as needing a restart:\n%s", logs.String())
	}
}

// freeUDPPort returns a UDP port free on loopback just now.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}
