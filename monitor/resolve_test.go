// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
)

// A list with hostnames keeps its text (not its parsed lines) and is
// re-resolved from it: a changed address is applied, the literal lines
// beside it stay; a list without hostnames keeps nothing once the table
// has its hosts.
func TestReResolveFromText(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "targets")
	os.WriteFile(file, []byte("tcp://db.example:5432 team=x\ntcp://198.18.0.2:22 name=b\n"), 0o644)
	var addr atomic.Value
	addr.Store(netip.MustParseAddr("198.18.0.7"))
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.API.Listen, cfg.ResolveEvery = file, "off", config.Duration(20*time.Millisecond)
	src := newTestSource(obs.KindTCP)
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{src}, NoStore: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return []netip.Addr{addr.Load().(netip.Addr)}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if tl := m.targets; !tl.hostnames || len(tl.srcs) != 1 || len(tl.hosts) != 2 {
		t.Fatalf("target list with a hostname: %+v", tl)
	}
	// The file changes on disk: re-resolution reads the text loaded.
	os.WriteFile(file, []byte("198.18.0.9\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-src.ready
	addr.Store(netip.MustParseAddr("198.18.0.8"))
	waitFor(t, "the new address applied", func() bool {
		c := m.Table().View().LookupCheck("db.example", "tcp:5432")
		return c != nil && c.Spec().Addr == netip.MustParseAddr("198.18.0.8")
	})
	v := m.Table().View()
	if v.Len() != 2 || v.Lookup("b") == nil || v.Lookup("db.example").Spec().Labels.Map()["team"] != "x" {
		t.Errorf("after re-resolution: %d hosts", v.Len())
	}

	os.WriteFile(file, []byte("198.18.0.1\n198.18.0.2 site=a\n"), 0o644)
	m2, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{newTestSource(obs.KindICMP)}, NoStore: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.close()
	if tl := m2.targets; tl.hostnames || tl.srcs != nil || tl.hosts != nil || m2.Table().View().Len() != 2 {
		t.Errorf("target list without hostnames kept %+v", tl)
	}
}

// New collects at a lower GC percent until the start-up is through
// (releaseNow), then puts gc_percent back; close does too.
func TestStartGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if env, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", env)
	}
	os.Unsetenv("GOGC")
	dir := t.TempDir()
	file := filepath.Join(dir, "targets")
	os.WriteFile(file, []byte("198.18.0.1\n"), 0o644)
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.API.Listen, cfg.GCPercent = file, "off", 80
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{newTestSource(obs.KindICMP)}, NoStore: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(-1); got != 20 {
		t.Errorf("GC percent %d while starting, want 20", got)
	}
	debug.SetGCPercent(20)
	m.releaseNow()
	if got := debug.SetGCPercent(20); got != 80 {
		t.Errorf("GC percent %d after the start-up, want 80", got)
	}
	m.releaseNow() // once only: a later gc_percent (a reload's) stays
	if got := debug.SetGCPercent(100); got != 20 {
		t.Errorf("a second release set GC percent %d", got)
	}
	m.close()

	m, err = New(context.Background(), cfg, "", Options{Sources: []obs.Source{newTestSource(obs.KindICMP)}, NoStore: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	m.close()
	if got := debug.SetGCPercent(100); got != 80 {
		t.Errorf("GC percent %d after close, want 80", got)
	}

	t.Setenv("GOGC", "300")
	debug.SetGCPercent(300)
	m, err = New(context.Background(), cfg, "", Options{Sources: []obs.Source{newTestSource(obs.KindICMP)}, NoStore: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(300); got != 300 {
		t.Errorf("GC percent %d while starting with GOGC=300", got)
	}
	m.close()
}
