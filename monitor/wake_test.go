// SPDX-License-Identifier: MIT

package monitor

import (
	"os"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
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
	stopReader := batchReader(m)
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
	stopReader()
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

// TestWriterObserveBatch: ObserveBatch is Observe for each item, in
// order, with one wake-up rung at once, also within the gap after a drain
// (the source's turns are the batching): no fallback timer; a batch while
// a wake-up is pending rings nothing more; what the queue has no room for
// is dropped and counted, the rest queued.
func TestWriterObserveBatch(t *testing.T) {
	m := bareMonitor(t, 3)
	w := m.w
	gen := m.Table().View().Gen
	fail := func(i int, why string) obs.Observation {
		return obs.Observation{At: at(i), Outcome: obs.Error, Problem: why}
	}
	b := []obs.Item{{Gen: gen, ID: 0, Obs: ok(0)}, {Gen: gen, ID: 1, Obs: ok(0)},
		{Gen: gen, ID: 2, Obs: fail(1, "first")}, {Gen: gen, ID: 2, Obs: fail(2, "second")}}
	w.ObserveBatch(b)
	if got := len(w.wake); got != 1 {
		t.Fatalf("%d wake-ups pending after a batch past the gap, want 1", got)
	}
	if st := m.WriterStats(); st.Observed != 4 || st.Queued != 4 {
		t.Fatalf("observed %d, queued %d, want 4 and 4", st.Observed, st.Queued)
	}
	b[0].Obs.Problem = "the caller's buffer, reused" // ObserveBatch copied the items
	<-w.wake
	w.drain()
	if st := m.WriterStats(); st.Applied != 4 || st.Batches != 1 {
		t.Fatalf("applied %d in %d batches, want 4 in 1", st.Applied, st.Batches)
	}
	var snap state.Snapshot
	m.Table().View().Check(2).Load(&snap)
	if snap.Problem != "second" || snap.Probes != 2 {
		t.Errorf("check 2: problem %q after %d results, want \"second\" after 2 (applied in order)", snap.Problem, snap.Probes)
	}
	m.Table().View().Check(0).Load(&snap)
	if snap.Problem != "" {
		t.Errorf("check 0: problem %q, want none (the item as handed over, not the buffer as reused)", snap.Problem)
	}
	// Within the gap after that drain: rung at once, no fallback timer.
	w.ObserveBatch(b[:2])
	w.mu.Lock()
	armed, rung := w.fbArmed, w.rung
	w.mu.Unlock()
	if !rung || len(w.wake) != 1 {
		t.Errorf("a batch within the gap: rung %v, %d wake-ups pending; want it rung once", rung, len(w.wake))
	}
	if armed {
		t.Error("a batch within the gap armed the fallback timer")
	}
	w.ObserveBatch(b[:2]) // a wake-up is pending: no second one
	if len(w.wake) != 1 {
		t.Errorf("%d wake-ups pending after a second batch, want 1", len(w.wake))
	}
	// A full queue: what fits is queued, the rest dropped and counted.
	w.mu.Lock()
	w.max = len(w.q) + 1
	w.mu.Unlock()
	st0 := m.WriterStats()
	w.ObserveBatch(b)
	st := m.WriterStats()
	if st.Observed-st0.Observed != 1 || st.Dropped-st0.Dropped != 3 || st.Queued != 5 {
		t.Errorf("a batch of 4 with room for 1: observed %d, dropped %d, queued %d; want 1, 3, 5",
			st.Observed-st0.Observed, st.Dropped-st0.Dropped, st.Queued)
	}
	w.ObserveBatch(b) // no room at all: nothing queued, nothing rung
	if st2 := m.WriterStats(); st2.Dropped-st.Dropped != 4 || st2.Queued != 5 {
		t.Errorf("a batch with no room: dropped %d, queued %d; want 4, 5", st2.Dropped-st.Dropped, st2.Queued)
	}
}
