// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/store"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("interval = \"5s\"\n[api]\nlisten = \"127.0.0.1:9\"\n"), 0o644)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("interval = \"5s\"\n\n[api]\nlisen = \"x\"\n"), 0o644)
	invalid := filepath.Join(dir, "invalid.toml")
	os.WriteFile(invalid, []byte("[fsm]\nfailures_to_down = 0\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err []string
	}{
		{"good", []string{"--config", good}, 0, []string{"# config file: " + good, "interval = '5s'", "listen = '127.0.0.1:9'"}, nil},
		{"flag wins", []string{"--config", good, "--interval", "7s"}, 0, []string{"interval = '7s'", "# overridden by flags: --config --interval"}, nil},
		{"unknown key", []string{"--config", bad}, 2, nil, []string{bad + ":4:1: unknown key \"api.lisen\""}},
		{"invalid value", []string{"--config", invalid}, 2, nil, []string{"fsm.failures_to_down: must be 1-1000"}},
		{"missing file", []string{"--config", filepath.Join(dir, "none.toml")}, 2, nil, []string{"config file not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HB_CONFIG", "")
			var out, errb bytes.Buffer
			code := run(append([]string{"check-config"}, tt.args...), nil, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.err {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hb.db")
	s, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Record(event.Event{Type: event.Result, At: time.Now(), Host: "a", Check: "icmp", Kind: obs.KindICMP,
		Obs: &obs.Observation{Outcome: obs.OK, RTT: time.Millisecond}})
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "copy.db")
	var so, se bytes.Buffer
	if code := run([]string{"backup", "--db", db, out}, nil, &so, &se); code != 0 {
		t.Fatalf("backup exit %d: %s", code, se.String())
	}
	c, err := store.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := c.History(context.Background(), "a", time.Time{}, time.Time{})
	if err != nil || len(h) != 1 || h[0].Probes != 1 {
		t.Fatalf("backup history = %+v, %v", h, err)
	}
	if code := run([]string{"backup", "--db", db, out}, nil, &so, &se); code != 2 {
		t.Fatalf("backup over an existing file: exit %d", code)
	}
	if code := run([]string{"backup"}, nil, &so, &se); code != 2 {
		t.Fatalf("backup without OUT: exit %d", code)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getJSON(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode, nil
}

func waitFor(t *testing.T, what string, log *testutil.SyncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; daemon log:\n%s", what, log.String())
}

// TestDaemonReload runs the real binary against loopback targets, then
// SIGHUPs it with one target unchanged, one removed and one added: the
// unchanged one keeps its state, the others come and go, the sockets and
// the store stay; SIGTERM then exits 0 with the history flushed.
func TestDaemonReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hb-probe binary")
	}
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, dir, ".")
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("127.0.0.1 name=keep role=a\n::1 name=gone\n"), 0o644)
	cfg := filepath.Join(dir, "hb-probe.toml")
	addr := freeAddr(t)
	db := filepath.Join(dir, "hb.db")
	os.WriteFile(cfg, []byte(fmt.Sprintf("targets = %q\ninterval = \"200ms\"\ntimeout = \"500ms\"\n[store]\ndb = %q\n[api]\nlisten = %q\n", targets, db, addr)), 0o644)

	var log testutil.SyncBuffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "HB_CONFIG=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	base := "http://" + addr
	state := func() map[string]string {
		m := map[string]string{}
		getJSON(base+"/state", &m)
		return m
	}
	waitFor(t, "the probe mode", &log, func() bool { return strings.Contains(log.String(), `msg="probe mode"`) })
	if strings.Contains(log.String(), "socket=udp") {
		t.Skip("no CAP_NET_RAW and ping sockets refused (net.ipv4.ping_group_range): only UDP probes, which loopback answers without hb-responder only with port unreachable; run as root")
	}
	waitFor(t, "both hosts up", &log, func() bool {
		m := state()
		return m["keep"] == "up" && m["gone"] == "up"
	})
	var before map[string]any
	if _, err := getJSON(base+"/api/v1/hosts/keep", &before); err != nil {
		t.Fatal(err)
	}

	os.WriteFile(targets, []byte("127.0.0.1 name=keep role=b\n127.0.0.2 name=added\n"), 0o644)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", &log, func() bool {
		m := state()
		_, gone := m["gone"]
		return m["added"] == "up" && m["keep"] == "up" && !gone
	})
	if !strings.Contains(log.String(), "added=1 removed=1 kept=1") {
		t.Errorf("reload log line missing:\n%s", log.String())
	}
	var after map[string]any
	if _, err := getJSON(base+"/api/v1/hosts/keep", &after); err != nil {
		t.Fatal(err)
	}
	// Kept: the same state since the same instant, probes keep counting,
	// the new labels are in.
	if after["since"] != before["since"] || after["transitions"] != before["transitions"] {
		t.Errorf("unchanged host lost its state: before %v/%v, after %v/%v",
			before["since"], before["transitions"], after["since"], after["transitions"])
	}
	if after["probes_total"].(float64) < before["probes_total"].(float64) {
		t.Errorf("unchanged host's probe count went back: %v → %v", before["probes_total"], after["probes_total"])
	}
	if l, _ := after["labels"].(map[string]any); l["role"] != "b" {
		t.Errorf("labels after reload = %v", after["labels"])
	}
	if code, _ := getJSON(base+"/api/v1/hosts/gone", nil); code != 404 {
		t.Errorf("removed host: HTTP %d, want 404", code)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, log.String())
	}
	// The history was flushed: every host is in the file with its last
	// state, and the kept host has rollups from before and after the reload.
	s, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hosts, err := s.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range hosts {
		got[h.Name] = h.State
	}
	if got["keep"] != "up" || got["gone"] != "up" || got["added"] != "up" {
		t.Errorf("stored host states = %v", got)
	}
	hist, err := s.History(context.Background(), "keep", time.Time{}, time.Time{})
	if err != nil || len(hist) == 0 {
		t.Fatalf("keep history = %v, %v", hist, err)
	}
	var probes int64
	for _, r := range hist {
		probes += r.Probes
	}
	if float64(probes) < after["probes_total"].(float64) {
		t.Errorf("stored %d probes for keep, the API had counted %v before shutdown", probes, after["probes_total"])
	}
	t.Logf("keep: %d probes stored; log:\n%s", probes, log.String())
	s.Close()

	// A restart on the same database brings each host back in its stored
	// state: the kept host is up since the same instant (to the store's
	// millisecond), not freshly up since the restart.
	var log2 testutil.SyncBuffer
	cmd2 := exec.Command(bin, "--config", cfg)
	cmd2.Stdout, cmd2.Stderr = &log2, &log2
	cmd2.Env = cmd.Env
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd2.Process.Signal(syscall.SIGTERM); cmd2.Wait() }()
	var restarted map[string]any
	waitFor(t, "the restarted API", &log2, func() bool {
		code, err := getJSON(base+"/api/v1/hosts/keep", &restarted)
		return code == 200 && err == nil
	})
	if restarted["state"] != "up" {
		t.Fatalf("after restart keep is %v, want up (restored); log:\n%s", restarted["state"], log2.String())
	}
	t1, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(after["since"]))
	t2, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(restarted["since"]))
	if err1 != nil || err2 != nil || t2.Sub(t1).Abs() > time.Millisecond {
		t.Errorf("keep since %v before the restart, %v after (%v %v): state not restored", after["since"], restarted["since"], err1, err2)
	}
	if !strings.Contains(log2.String(), `msg="restored host states" hosts=2`) {
		t.Errorf("no restore log line:\n%s", log2.String())
	}
}

// TestDaemonBindFailure is the bug: when the API cannot bind (the
// port is taken, or the address is not local) the daemon logged and
// exited 0, so systemd's Restart=on-failure never restarted it. The real
// binary must now exit 2, naming the address, before probing anything.
func TestDaemonBindFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hb-probe binary")
	}
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, dir, ".")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ name, listen, want string }{
		{"port in use", taken.Addr().String(), "address already in use"},
		// 198.18.0.1 is not on any interface here: bind fails with
		// EADDRNOTAVAIL; nothing is sent.
		{"address not local", "198.18.0.1:8787", "cannot assign requested address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(bin, "--listen", tc.listen, "--db", filepath.Join(dir, "hb.db"), "--proto", "udp", "127.0.0.1")
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.Env = append(os.Environ(), "HB_CONFIG=")
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2\n%s", err, out.String())
			}
			if s := out.String(); !strings.Contains(s, "cannot listen on "+tc.listen) || !strings.Contains(s, tc.want) || strings.Contains(s, `msg=monitoring`) {
				t.Errorf("output:\n%s", s)
			}
		})
	}
}
