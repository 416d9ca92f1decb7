// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
)

// The daemon sets the collector's GOGC from gc_percent and says so; GOGC
// in the environment wins (and is what the log names).
func TestApplyGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if env, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", env)
	}
	os.Unsetenv("GOGC")

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	applyGCPercent(60, log, true)
	if got := debug.SetGCPercent(60); got != 60 {
		t.Fatalf("GC percent %d after gc_percent=60", got)
	}
	if !strings.Contains(buf.String(), "msg=gc percent=60 from=gc_percent") {
		t.Fatalf("log %q", buf.String())
	}
	buf.Reset()
	applyGCPercent(60, log, false) // a reload that changes nothing says nothing
	if buf.Len() != 0 {
		t.Fatalf("unchanged reload logged %q", buf.String())
	}

	t.Setenv("GOGC", "300")
	debug.SetGCPercent(300) // as the runtime would have at start
	applyGCPercent(60, log, true)
	if got := debug.SetGCPercent(300); got != 300 {
		t.Fatalf("GC percent %d with GOGC=300 in the environment", got)
	}
	if !strings.Contains(buf.String(), `percent=300 from="GOGC in the environment`) {
		t.Fatalf("log %q", buf.String())
	}
}

// releaseAfter hands the heap's free pages back once, when its delay is
// up (a later call moves it), and logs what it did.
func TestReleaseAfter(t *testing.T) {
	var buf testutil.SyncBuffer
	m := &Monitor{log: slog.New(slog.NewTextHandler(&buf, nil))}
	garbage := make([][]byte, 0, 64)
	for range 64 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage = nil
	m.releaseAfter(time.Hour)
	m.releaseAfter(20 * time.Millisecond) // moved: fires soon, once
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "free heap returned") {
		if time.Now().After(deadline) {
			t.Fatalf("no release logged: %q", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(buf.String(), "free heap returned"); n != 1 {
		t.Fatalf("%d releases logged, want 1: %q", n, buf.String())
	}
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	if st.HeapReleased < 32<<20 {
		t.Fatalf("heap released %d bytes after 64 MiB of garbage, want most of it", st.HeapReleased)
	}
}

// A reload that the table rejects applies nothing of its config: not its
// gc_percent, not its log level (it used to apply both before the
// targets); the same reload once the table takes it applies both.
func TestRejectedReloadAppliesNothing(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if env, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", env)
	}
	os.Unsetenv("GOGC")

	dir := t.TempDir()
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("tcp://198.18.0.1:22 name=a\n"), 0o644)
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.API.Listen, cfg.LogLevel = targets, "off", "info"
	next := cfg
	next.GCPercent, next.LogLevel = 37, "debug"
	level := new(slog.LevelVar)
	reload := make(chan struct{})
	src := newTestSource(obs.KindTCP)
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{src}, NoStore: true, Reload: reload, Level: level,
		Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Load: func() (config.Probe, string, error) { return next, "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-src.ready

	// A registered check the table cannot take (no valid kind): the
	// reload's rebuild fails after its targets loaded.
	m.reloadMu.Lock()
	m.registered = append(m.registered, obs.CheckSpec{Host: "x", Name: "bad"})
	m.reloadMu.Unlock()
	before := debug.SetGCPercent(100) // 100, or the start-up's lower one (gc.go)
	debug.SetGCPercent(before)
	reload <- struct{}{}
	reload <- struct{}{} // returns once the first reload is done
	if got := debug.SetGCPercent(before); got != before {
		t.Errorf("rejected reload set gc_percent %d (was %d)", got, before)
	}
	if level.Level() != slog.LevelInfo {
		t.Errorf("rejected reload set log level %v", level.Level())
	}
	if g, _, _ := src.state(); g != 1 {
		t.Errorf("rejected reload changed the checks: gen %d", g)
	}

	m.reloadMu.Lock()
	m.registered = nil
	m.reloadMu.Unlock()
	reload <- struct{}{}
	reload <- struct{}{}
	if got := debug.SetGCPercent(100); got != 37 {
		t.Errorf("accepted reload: gc_percent %d, want 37", got)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("accepted reload: log level %v", level.Level())
	}
}
