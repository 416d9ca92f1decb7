// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
)

// recorder is the test's obs.Sink: it records what the source hands over
// (the state table is the real sink; here the observations themselves are
// under test).
type recorder struct {
	mu   sync.Mutex
	seen map[uint64]map[int][]obs.Observation
}

func (r *recorder) Observe(gen uint64, id int, o obs.Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[uint64]map[int][]obs.Observation{}
	}
	if r.seen[gen] == nil {
		r.seen[gen] = map[int][]obs.Observation{}
	}
	r.seen[gen][id] = append(r.seen[gen][id], o)
}

func (r *recorder) count(gen uint64) (ids, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, os := range r.seen[gen] {
		ids++
		total += len(os)
	}
	return
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSourceSchedulesChecks(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "OK")
	}))
	defer srv.Close()
	ssh := bannerServer(t, "SSH-2.0-test\r\n")

	cfg := config.DefaultChecks()
	cfg.Concurrency = 8
	src := New(cfg, nil)
	if src.Name() != "checks" || len(src.Kinds()) != 2 {
		t.Fatal("name/kinds")
	}
	const n = 200
	var checks []obs.Check
	for i := range n {
		sp := obs.CheckSpec{Host: fmt.Sprint("h", i), Kind: obs.KindHTTP, Target: fmt.Sprintf("%s/?i=%d", srv.URL, i), Interval: 300 * time.Millisecond,
			Params: map[string]string{"check": "body_contains:OK"}}
		sp.Name = "http:/"
		checks = append(checks, obs.Check{ID: i, Spec: sp})
	}
	checks = append(checks,
		obs.Check{ID: n, Spec: obs.CheckSpec{Host: "ssh", Name: "tcp:22", Kind: obs.KindTCP, Target: "tcp://" + hostPort(ssh), Interval: 300 * time.Millisecond,
			Params: map[string]string{"check": "banner_contains:SSH-"}}},
		obs.Check{ID: n + 1, Spec: obs.CheckSpec{Host: "icmp", Name: "icmp", Kind: obs.KindICMP, Target: "127.0.0.1"}},  // not ours: ignored
		obs.Check{ID: n + 2, Spec: obs.CheckSpec{Host: "bad", Name: "tcp", Kind: obs.KindTCP, Target: "tcp://nowhere"}}, // no port: left out
	)
	src.SetChecks(1, checks)

	ctx, cancel := context.WithCancel(context.Background())
	var rec recorder
	done := make(chan error, 1)
	base := runtime.NumGoroutine()
	go func() { done <- src.Run(ctx, &rec) }()

	// Every check runs, repeatedly, and passes.
	waitFor(t, "each check twice", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.seen[1]) != n+1 {
			return false
		}
		for _, os := range rec.seen[1] {
			if len(os) < 2 {
				return false
			}
		}
		return true
	})
	rec.mu.Lock()
	for id, os := range rec.seen[1] {
		for _, o := range os {
			if o.Outcome != obs.OK {
				t.Errorf("check %d: %v %q", id, o.Outcome, o.Problem)
			}
		}
		if id == n+1 || id == n+2 {
			t.Errorf("check %d should not run", id)
		}
	}
	if d := rec.seen[1][n][0].Detail; d != "banner SSH-2.0-test" {
		t.Errorf("tcp detail %q", d)
	}
	rec.mu.Unlock()
	if src.Stats().Invalid.Load() != 1 {
		t.Errorf("invalid = %d", src.Stats().Invalid.Load())
	}
	// Bounded: the workers and the scheduler, not a goroutine per check
	// (net/http adds a few per connection in flight: at most 8 here).
	if g := runtime.NumGoroutine() - base; g > 1+8+8*3+4 {
		t.Errorf("%d goroutines for %d checks at concurrency 8", g, n)
	}

	// A new generation: only its checks run, observed under its number.
	src.SetChecks(2, checks[:10])
	waitFor(t, "generation 2", func() bool { ids, total := rec.count(2); return ids == 10 && total >= 20 })
	_, before := rec.count(1)
	time.Sleep(400 * time.Millisecond)
	if _, after := rec.count(1); after > before+8 { // at most the runs in flight at the switch
		t.Errorf("generation 1 kept running: %d -> %d", before, after)
	}

	// Many idle checks cost no goroutines.
	var idle []obs.Check
	for i := range 5000 {
		idle = append(idle, obs.Check{ID: i, Spec: obs.CheckSpec{Host: fmt.Sprint("i", i), Name: "tcp:9", Kind: obs.KindTCP,
			Target: "tcp://127.0.0.1:9", Interval: time.Hour}})
	}
	time.Sleep(100 * time.Millisecond)
	g0 := runtime.NumGoroutine()
	src.SetChecks(3, idle)
	time.Sleep(200 * time.Millisecond)
	if g := runtime.NumGoroutine(); g > g0+8*3 {
		t.Errorf("5000 idle checks: goroutines %d -> %d", g0, g)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var mb strings.Builder
	src.WriteTo(&mb)
	if !strings.Contains(mb.String(), "hb_checks_invalid_total 1\n") || !strings.Contains(mb.String(), "hb_checks_run_total ") {
		t.Errorf("counters:\n%s", mb.String())
	}
	if hits.Load() < 2*n {
		t.Errorf("server saw %d requests", hits.Load())
	}
}

// TestSourceSkipsOverlap: a check that takes longer than its interval is
// skipped (and counted) while it runs, never run twice at once.
func TestSourceSkipsOverlap(t *testing.T) {
	var inFlight, maxInFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(350 * time.Millisecond)
	}))
	defer srv.Close()
	cfg := config.DefaultChecks()
	cfg.Concurrency = 4
	src := New(cfg, nil)
	src.SetChecks(1, []obs.Check{{ID: 0, Spec: obs.CheckSpec{Host: "slow", Name: "http:/", Kind: obs.KindHTTP, Target: srv.URL + "/", Interval: 100 * time.Millisecond}}})
	ctx, cancel := context.WithCancel(context.Background())
	var rec recorder
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, &rec) }()
	waitFor(t, "three results", func() bool { _, n := rec.count(1); return n >= 3 })
	cancel()
	<-done
	if maxInFlight.Load() != 1 {
		t.Errorf("check ran %d times at once", maxInFlight.Load())
	}
	if src.Stats().Skipped.Load() == 0 {
		t.Error("no skips counted")
	}
}
