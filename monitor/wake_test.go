// SPDX-License-Identifier: MIT

package monitor

import (
	"os"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
)

// TestWakeSim (HB_WAKESIM=seconds) runs the writer as the daemon does at
// 100k checks every 10 s: a source that naps on a Go timer and hands over
// 64 results a turn every 6.4 ms (the engine's loop: a batch of 64 falls
// due every 6.4 ms at 10k probes a second; HB_WAKESIM_TURN=results per
// turn, the turn scales with it), one batch subscriber (the store's
// place). It reports the process's context
// switches and CPU per second: the cost of the hand-offs (run it under
// strace -c -f or perf stat for the futex and write calls).
func TestWakeSim(t *testing.T) {
	secs := envInt("HB_WAKESIM", 0)
	if secs == 0 || os.Getenv("HB_WAKESIM") == "" {
		t.Skip("HB_WAKESIM=seconds runs it")
	}
	const n = 10000
	perTurn := envInt("HB_WAKESIM_TURN", 64)
	turn := time.Duration(perTurn) * 100 * time.Microsecond // 10k results/s
	m := bareMonitor(t, n)
	sub := m.Bus().SubscribeBatch("reader", 1<<16, event.Result)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var evs []event.Event
		for range sub.Ready() {
			var ok bool
			if evs, ok = sub.Take(evs); !ok {
				return
			}
		}
	}()
	stop, wdone := make(chan struct{}), make(chan struct{})
	go func() { m.w.run(stop); close(wdone) }()
	gen := m.Table().View().Gen
	nap := time.NewTimer(time.Hour)
	o := ok(0)
	ru0, b0 := rusage(), m.WriterStats().Batches
	end := time.Now().Add(time.Duration(secs) * time.Second)
	i := 0
	for time.Now().Before(end) {
		nap.Reset(turn - time.Duration(i%7)*50*time.Microsecond)
		<-nap.C
		for range perTurn {
			o.At = at(i)
			m.w.Observe(gen, i*7919%n, o)
			i++
		}
	}
	ru1, b1 := rusage(), m.WriterStats().Batches
	close(stop)
	<-wdone
	sub.Close()
	<-done
	t.Logf("%d results; %.0f batches/s; %.0f context switches/s; CPU %.2f %%", i,
		float64(b1-b0)/float64(secs), float64(ru1.csw-ru0.csw)/float64(secs), 100*float64(ru1.cpu-ru0.cpu)/float64(time.Duration(secs)*time.Second))
}

// TestWriterLoneResultWithinGap: DrainGap's promise, as conditions rather
// than timings. A lone result queued right after a drain (within the gap:
// it rings nothing) arms the fallback to fire no later than DrainGap after
// it was queued, and that firing applies it (the writer keeps running, no
// later result comes); a result queued once the gap after a drain has
// ended rings the writer at once.
func TestWriterLoneResultWithinGap(t *testing.T) {
	m := bareMonitor(t, 2)
	w := m.w
	if w.gap != DrainGap {
		t.Fatalf("writer gap %v, want DrainGap %v", w.gap, DrainGap)
	}
	gen := m.Table().View().Gen
	w.Observe(gen, 0, ok(0))
	w.drain() // the gap starts: a result now waits for it to end
	if m.WriterStats().Applied != 1 {
		t.Fatalf("applied %d, want 1", m.WriterStats().Applied)
	}
	queued := w.mono()
	w.Observe(gen, 1, ok(1))
	w.mu.Lock()
	armed, rung, at := w.fbArmed, w.rung, w.fbAt
	w.mu.Unlock()
	if rung {
		t.Fatal("a result within the gap rang the writer (the gap after a drain did not hold)")
	}
	if !armed {
		t.Fatal("a lone result within the gap left the fallback unarmed: nothing would apply it")
	}
	if limit := w.mono() + int64(DrainGap); at > limit {
		t.Errorf("fallback armed for %v after the result was queued, want at most DrainGap %v",
			time.Duration(at-queued), DrainGap)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { w.run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	waitFor(t, "the lone result applied by the fallback", func() bool { return m.WriterStats().Applied == 2 })
	// The gap after that drain ends; the next result rings at once.
	waitFor(t, "the gap after the fallback's drain to end", func() bool { return w.mono() >= w.due.Load() })
	w.Observe(gen, 0, ok(2))
	w.mu.Lock()
	armed = w.fbArmed
	w.mu.Unlock()
	if armed {
		t.Error("a result after the gap armed the fallback instead of ringing the writer")
	}
	waitFor(t, "the result after the gap applied", func() bool { return m.WriterStats().Applied == 3 })
}
