// SPDX-License-Identifier: MIT

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/responder"
	"github.com/hbmon/hb/wire"
)

// TestSIGHUPKeepsPush drives the real binary (userspace only, pushing to
// a loopback socket of the test): SIGHUP reloads what can change while
// running (responder/reload_linux_test.go checks the key and the port) but
// restarts nothing, and the [push] section is one of the settings that
// need a restart. The process keeps running with the same pid, keeps
// publishing (the generation grows), its heartbeats keep the same boot id
// with the sequence counting on and no shutdown or boot flag in between,
// the changed push interval is not taken, and the log says a restart is
// needed for it. SIGTERM then stops it with exit 0 and a shutdown
// heartbeat.
func TestSIGHUPKeepsPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, dir, ".")
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	status := filepath.Join(dir, "status.json")
	cfg := filepath.Join(dir, "hb-responder.toml")
	write := func(interval string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf("userspace_only = true\nudp_port = 0\nstatus_file = %q\n[push]\nname = \"hup\"\ninterval = %q\nservers = [%q]\n",
			status, interval, sink.LocalAddr().String())), 0o644)
	}
	write("1s")
	var log testutil.SyncBuffer
	cmd := exec.Command(bin, "--config", cfg)
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

	// next reads heartbeats until one arrives (or 10 s pass).
	buf := make([]byte, wire.PushMaxLen)
	next := func() wire.Push {
		t.Helper()
		sink.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("no heartbeat: %v\n%s", err, log.String())
		}
		var p wire.Push
		if err := wire.DecodePush(buf[:n], nil, &p); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return p
	}
	readStatus := func() responder.Status {
		var s responder.Status
		b, _ := os.ReadFile(status)
		json.Unmarshal(b, &s)
		return s
	}
	first := next()
	if first.Flags&wire.PushFlagBoot == 0 || first.Seq != 1 {
		t.Fatalf("first heartbeat %+v, want the boot flag and sequence 1", first.PushHeader)
	}
	next()
	before := readStatus()
	if before.PID != cmd.Process.Pid {
		t.Fatalf("status file pid %d, process %d", before.PID, cmd.Process.Pid)
	}

	// A changed [push] section (push every 5 s) is not taken on SIGHUP.
	write("5s")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "reload: applied") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload log line:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "takes effect after a restart (systemctl restart hb-responder)\" key=push") ||
		!strings.Contains(log.String(), "restart_needed=push") {
		t.Fatalf("the log does not say the push change needs a restart:\n%s", log.String())
	}
	last := first
	start := time.Now()
	for range 3 {
		p := next()
		if p.BootID != first.BootID || p.Seq <= last.Seq || p.Flags&(wire.PushFlagBoot|wire.PushFlagShutdown) != 0 {
			t.Fatalf("after SIGHUP: %+v (first %+v): a restart or a reload", p.PushHeader, first.PushHeader)
		}
		last = p
	}
	// Three heartbeats in well under 3 × 5 s: still the 1 s interval.
	if d := time.Since(start); d > 9*time.Second {
		t.Fatalf("3 heartbeats took %v after SIGHUP: the 5 s interval of the changed file was taken", d)
	}
	select {
	case err := <-exited:
		stopped = true
		t.Fatalf("SIGHUP stopped hb-responder: %v\n%s", err, log.String())
	default:
	}
	after := readStatus()
	if after.PID != before.PID || !after.Started.Equal(before.Started) || after.Generation <= before.Generation {
		t.Fatalf("status before SIGHUP %+v, after %+v", before, after)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for p := next(); p.Flags&wire.PushFlagShutdown == 0; p = next() {
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
