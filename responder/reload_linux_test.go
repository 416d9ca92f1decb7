// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// TestSIGHUPReload runs the real hb-responder binary in a namespace (the
// kernel program on a veth with generic XDP, and userspace only), probes
// it from a second namespace, then rotates the key file in place and moves
// the UDP port, sends SIGHUP, and checks the new behaviour: probes with
// the new key's tokens get health sealed with the new key, the old key's
// tokens are refused, the new port answers and the old one does not; the
// process is the same. Then a bad value (FILE:LINE in the log) and a key
// file others may read are each refused on SIGHUP with the running
// configuration kept.
func TestSIGHUPReload(t *testing.T) {
	testutil.Privileged(t)
	bin := testutil.BuildBinary(t, t.TempDir(), "github.com/hbmon/hb/cmd/hb-responder")
	for _, mode := range []string{"xdp", "userspace"} {
		t.Run(mode, func(t *testing.T) { testReload(t, bin, mode == "userspace") })
	}
}

func testReload(t *testing.T, bin string, userspace bool) {
	a, b := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hba", hostA4, b, "hbb", hostB4)
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "hb.key")
	cfgPath := filepath.Join(dir, "hb-responder.toml")
	status := filepath.Join(dir, "status.json")
	secretA, secretB := bytes.Repeat([]byte{0x11}, wire.KeyLen), bytes.Repeat([]byte{0x22}, wire.KeyLen)
	keyA, _ := wire.NewKey(1, secretA)
	keyB, _ := wire.NewKey(1, secretB)
	writeKey := func(secret []byte, mode os.FileMode) {
		t.Helper()
		tmp := keyPath + ".new"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(secret)+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(tmp, mode)
		if err := os.Rename(tmp, keyPath); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig := func(port uint16, extra string) {
		t.Helper()
		c := fmt.Sprintf("key_file = %q\nudp_port = %d\nstatus_file = %q\nsample_interval = \"1s\"\n", keyPath, port, status)
		if userspace {
			c += "userspace_only = true\n"
		} else {
			c += "interfaces = [\"hba\"]\nattach = [\"generic\"]\n"
		}
		if err := os.WriteFile(cfgPath, []byte(c+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const port1, port2 = 50003, 50004
	writeKey(secretA, 0o600)
	writeConfig(port1, "")

	var log testutil.SyncBuffer
	cmd := a.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "HB_CONFIG=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, err := ReadStatus(status); err == nil && s.Generation > 0 {
			break
		}
		select {
		case err := <-exited:
			stopped = true
			if strings.Contains(log.String(), "CAP_BPF") {
				t.Skipf("hb-responder lacks capabilities here:\n%s", log.String())
			}
			t.Fatalf("hb-responder exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hb-responder did not start:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	dst := hostA4.Addr()

	// healthy probes dst with key's token over UDP on port (and, with the
	// kernel program, over ICMP): nil when the replies carry health sealed
	// with key.
	healthy := func(key *wire.Key, port uint16) error {
		req := healthRequest(key.Token(time.Now().UnixNano(), dst), key.ID)
		rep, err := udpProbe(b, dst, port, req)
		if err != nil {
			return fmt.Errorf("UDP port %d: %w", port, err)
		}
		if err := sealedWith(rep, key); err != nil {
			return fmt.Errorf("UDP port %d: %w", port, err)
		}
		if userspace {
			return nil
		}
		if rep, err = echo(b, dst, req); err != nil {
			return fmt.Errorf("ICMP: %w", err)
		}
		return sealedWith(rep, key)
	}
	// refused checks that key's tokens get no health: the reachability
	// reply over UDP, the kernel's plain echo over ICMP.
	refused := func(key *wire.Key, port uint16) {
		t.Helper()
		req := healthRequest(key.Token(time.Now().UnixNano(), dst), key.ID)
		rep, err := udpProbe(b, dst, port, req)
		want := bytes.Clone(req)
		wire.MakeReachReply(want)
		if err != nil || !bytes.Equal(rep, want) {
			t.Fatalf("UDP port %d with a refused key: %v, reply %q…; want the reachability reply", port, err, rep[:min(8, len(rep))])
		}
		if !userspace {
			if rep, err = echo(b, dst, req); err != nil || !bytes.Equal(rep, req) {
				t.Fatalf("ICMP with a refused key: %v; want the ordinary echo", err)
			}
		}
	}
	// waitHealthy polls: the agent publishes the new blob right after the
	// reload, not within it.
	waitHealthy := func(key *wire.Key, port uint16) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := healthy(key, port)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v\n%s", err, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	hup := func(want string) {
		t.Helper()
		n := strings.Count(log.String(), want)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(log.String(), want) == n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", want, log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitHealthy(keyA, port1)
	refused(keyB, port1)

	// Rotate the key in place and move the UDP port.
	writeKey(secretB, 0o600)
	writeConfig(port2, "")
	hup("reload: applied")
	waitHealthy(keyB, port2)
	refused(keyA, port2)
	if _, err := udpProbe(b, dst, port1, healthRequest(keyB.Token(time.Now().UnixNano(), dst), keyB.ID)); err == nil {
		t.Fatalf("the old UDP port %d still answers after the reload", port1)
	}
	if l := log.String(); !strings.Contains(l, "changed=key,udp_port") || !strings.Contains(l, "key_rotated=true") {
		t.Fatalf("the reload does not log what it applied:\n%s", l)
	}

	// A bad value: refused with FILE:LINE, the running configuration kept.
	writeConfig(port1, "rate_limit = -5\n")
	hup("configuration rejected")
	line := 6 // writeConfig's lines: key_file, udp_port, status_file, sample_interval, then the mode's
	if !userspace {
		line = 7
	}
	if want := fmt.Sprintf("%s:%d: rate_limit: must be >= 0", cfgPath, line); !strings.Contains(log.String(), want) {
		t.Fatalf("the rejection does not name %q:\n%s", want, log.String())
	}
	if err := healthy(keyB, port2); err != nil {
		t.Fatalf("after a rejected reload: %v", err)
	}
	// A key file others may read: refused, the running key kept.
	writeConfig(port2, "")
	writeKey(secretA, 0o644)
	hup("configuration rejected")
	if !strings.Contains(log.String(), "chmod 600 "+keyPath) {
		t.Fatalf("the rejection does not say how to fix the key file:\n%s", log.String())
	}
	if err := healthy(keyB, port2); err != nil {
		t.Fatalf("after a rejected key file: %v", err)
	}
	refused(keyA, port2)

	s, err := ReadStatus(status)
	if err != nil || s.PID != pid || s.UDPPort != port2 || s.KeyID != 1 {
		t.Fatalf("status after the reloads: %+v, %v (want pid %d, udp port %d)", s, err, pid, port2)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// sealedWith checks that reply is an HBR1 reply or an echo carrying a blob
// that opens with key.
func sealedWith(reply []byte, key *wire.Key) error {
	r, err := wire.ParseReply(reply)
	if err != nil {
		return fmt.Errorf("not an HBR1 reply: %w", err)
	}
	var h wire.Health
	if err := wire.DecodeBlob(r.Blob, key, &h); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if !h.Sealed() {
		return fmt.Errorf("blob not sealed")
	}
	return nil
}
