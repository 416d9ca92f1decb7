// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// DefaultQueue is how many observations may wait for the writer before
// Observe drops (and counts) new ones: about 25 s of results at 100k
// checks every 10 s (a long reload), about 180 B each while waiting.
const DefaultQueue = 1 << 18

// DrainGap is the least time between two batches of the table's writer
// for results observed one at a time (Observe): at 10k results a second,
// batches of ~100 and 100 wake-ups a second of the writer and of each
// batch subscriber (the store, the histograms) instead of one per
// result. The writer has no clock of its own while results keep coming:
// the first Observe after the gap wakes it, so its drains ride on the
// sources' own wake-ups instead of adding a timer's; a result that no
// later one follows is applied by a fallback timer DrainGap after it was
// queued. So state changes and problems wait at most about 2×DrainGap
// (the store commits every second). A source that hands over batches
// (ObserveBatch: the engine, a loop turn's results at a time) is not
// held to the gap: its turns are the batching.
const DrainGap = 10 * time.Millisecond

// evCopy is what an event points to: copies of its observation and of
// the check's snapshot after it.
type evCopy struct {
	o    obs.Observation
	snap state.Snapshot
}

// item is one queued observation.
type item struct {
	gen uint64
	id  int
	o   obs.Observation
}

// WriterStats are the writer's counters, totals since start.
type WriterStats struct {
	Observed uint64 // observations queued by sources
	Applied  uint64 // applied to the table
	Stale    uint64 // dropped: for a generation the table left (a reload raced them)
	Rejected uint64 // dropped: the table refused them (no outcome, bad id)
	Dropped  uint64 // dropped: the queue was full
	Batches  uint64 // wake-ups of the writer
	Queued   int    // waiting now
}

// writer is the table's single writer and the obs.Sink every source
// observes into. Observe appends to a queue under a short lock; one
// goroutine (run) swaps the queue out, applies the whole batch to the
// table and publishes the events. Reloads, restores and registrations run
// on the same goroutine (do), so nothing else ever writes the table.
type writer struct {
	table *state.Table
	bus   *event.Bus
	log   *slog.Logger
	max   int

	mu   sync.Mutex // guards q, rung, fbArmed
	q    []item
	wake chan struct{} // 1-buffered: "drain now"
	// rung: wake was signalled since the last drain. fbArmed: fb runs.
	rung, fbArmed bool
	// due is when (mono) the gap after the last drain ends: the first
	// Observe from then on rings wake.
	due  atomic.Int64
	base time.Time // mono's origin
	// fb is the fallback: armed by the first Observe queued before due,
	// it rings wake DrainGap later if no later Observe did; stopped by
	// every drain. fbAt (mono, under mu) is when it is armed to fire.
	fb    *time.Timer
	fbAt  int64
	ops   chan func()
	spare []item
	ids   []int // prefetch's
	roomy int   // drains in a row that used little of a big queue (minSpare)
	// gap is the least time between two drains (DrainGap): results wait
	// up to that long and are applied, and their events published, in
	// batches. 0: drain at every wake-up (tests, benchmarks).
	gap time.Duration
	// evs gathers a drain's events, published at its end in one
	// PublishBatch; reused.
	evs []event.Event
	// mem holds the copies of a drain's observations (and snapshots) the
	// events point to, in chunks, from the pool: a drain's memory comes
	// back to it when every batch subscriber is done with the events
	// (event.Hold), so in steady state the copies allocate nothing.
	mem      *evMem
	poolMu   sync.Mutex
	pool     []*evMem
	memsMade int // evMems made (tests)
	// resultSnaps: Result events carry the check's snapshot (a result
	// subscriber reads it: the alert engine's rules). Without it a result
	// that neither failed nor changed the check's state copies only its
	// observation (304 bytes, not 800).
	resultSnaps atomic.Bool

	observed, applied, stale, rejected, dropped, batches atomic.Uint64
}

func newWriter(t *state.Table, bus *event.Bus, log *slog.Logger, max int) *writer {
	if max <= 0 {
		max = DefaultQueue
	}
	w := &writer{table: t, bus: bus, log: log, max: max, wake: make(chan struct{}, 1), ops: make(chan func()), gap: DrainGap, base: time.Now()}
	w.fb = time.AfterFunc(time.Hour, w.fallback)
	w.fb.Stop()
	return w
}

// fallback is fb's function: it rings wake for results still waiting
// after the gap. A firing that raced a drain (which disarmed fb, or
// whose gap has not ended yet) rings nothing, so that it adds no batch.
func (w *writer) fallback() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fbArmed || w.rung {
		return
	}
	if left := w.due.Load() - w.mono(); left > 0 {
		w.arm(left) // re-armed since a drain: its own gap
		return
	}
	w.fbArmed, w.rung = false, true
	w.ring()
}

// arm sets fb to fire d from now (w.mu held).
func (w *writer) arm(d int64) {
	w.fbArmed, w.fbAt = true, w.mono()+d
	w.fb.Reset(time.Duration(d))
}

// mono is the time since the writer's start (monotonic).
func (w *writer) mono() int64 { return int64(time.Since(w.base)) }

// ring wakes the writer (non-blocking).
func (w *writer) ring() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Observe queues o for check id of table generation gen. It never blocks
// on the writer: a full queue drops o and counts it. Safe for concurrent
// use by any number of sources.
func (w *writer) Observe(gen uint64, id int, o obs.Observation) {
	w.mu.Lock()
	if len(w.q) >= w.max {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.q = append(w.q, item{gen, id, o})
	ring := w.queued()
	w.mu.Unlock()
	w.observed.Add(1)
	if ring {
		w.ring()
	}
}

// queued is what Observe does once it queued (w.mu held): it reports
// whether to ring the writer (the gap after the last drain has ended and
// nothing rang yet), else arms the fallback if it is not armed.
func (w *writer) queued() bool {
	if w.rung {
		return false
	}
	if w.gap <= 0 || w.mono() >= w.due.Load() {
		w.rung = true
		return true
	}
	if !w.fbArmed {
		w.arm(int64(w.gap))
	}
	return false
}

// ObserveBatch is Observe for each item of b, in order, under one lock
// and with one wake-up of the writer (obs.BatchSink), rung at once: the
// engine hands over each loop turn's results so at the turn's end, and
// its turns are the batching (about one per batchLinger at high rates,
// few at low ones), so the gap does not apply. Rather than ringing the
// writer with a turn's first result, its drain then finding the rest of
// the turn within the gap and the fallback timer (a goroutine a firing)
// applying them, the writer wakes once a turn as the engine goes to
// sleep. What the queue has no room for is dropped and counted.
func (w *writer) ObserveBatch(b []obs.Item) {
	if len(b) == 0 {
		return
	}
	w.mu.Lock()
	n := min(len(b), max(w.max-len(w.q), 0))
	for i := range b[:n] {
		w.q = append(w.q, item{b[i].Gen, b[i].ID, b[i].Obs})
	}
	ring := n > 0 && !w.rung
	if ring {
		w.rung = true
	}
	w.mu.Unlock()
	w.observed.Add(uint64(n))
	if d := len(b) - n; d > 0 {
		w.dropped.Add(uint64(d))
	}
	if ring {
		w.ring()
	}
}

// do runs f on the writer goroutine and waits for it. It returns false
// when ctx ended first (f may then not have run).
func (w *writer) do(ctx context.Context, f func()) bool {
	done := make(chan struct{})
	select {
	case w.ops <- func() { f(); close(done) }:
	case <-ctx.Done():
		return false
	}
	<-done
	return true
}

// run applies observations until stop is closed, then applies what is
// still queued and returns. It drains when Observe (or the fallback
// timer) rings: at most about once per gap, see DrainGap. An op drains
// first (op).
func (w *writer) run(stop <-chan struct{}) {
	for {
		select {
		case <-w.wake:
			w.drain()
		case f := <-w.ops:
			w.op(f)
		case <-stop:
			w.drain()
			return
		}
	}
}

// op runs f (a reload, a registration, a restore) after applying what is
// queued: the results observed before f are for the generation current
// then, and f may make a new one (they would be dropped as stale).
func (w *writer) op(f func()) {
	w.drain()
	f()
}

// drain applies every queued observation and publishes their events in
// one batch.
func (w *writer) drain() {
	w.mu.Lock()
	batch := w.q
	w.q = w.spare[:0]
	w.rung = false
	w.due.Store(w.mono() + int64(w.gap))
	if w.fbArmed {
		w.fbArmed = false
		w.fb.Stop()
	}
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	w.batches.Add(1)
	w.mem = w.getMem()
	for i := range batch {
		if i%prefetchChunk == 0 {
			// In pieces of prefetchChunk: the table's memory of a piece's
			// results first (state.View.Prefetch), then their applies.
			w.prefetch(batch[i:min(i+prefetchChunk, len(batch))])
		}
		w.apply(batch[i].gen, batch[i].id, &batch[i].o)
		batch[i] = item{} // drop references (health blobs) held by the spare
		if len(w.evs) >= publishChunk {
			w.publish()
		}
	}
	w.publish()
	w.mem.hold.Release() // the writer's reference: the subscribers' remain
	w.mem = nil
	switch {
	case cap(batch) > maxSpare:
		w.spare = nil // a backlog's big queue goes back to the GC
	case cap(batch) > minSpare && len(batch) <= cap(batch)/4:
		// A burst's queue (startup, a reload) that the drains since
		// have used little of goes back to the GC after a while.
		if w.roomy++; w.roomy >= roomyDrains {
			w.spare, w.roomy = nil, 0
		} else {
			w.spare = batch[:0]
		}
	default:
		if cap(batch) > minSpare {
			w.roomy = 0
		}
		w.spare = batch[:0]
	}
}

// maxSpare is the largest queue buffer the writer keeps for reuse; one
// of more than minSpare items is let go after roomyDrains drains in a row
// that used at most a quarter of it (the queue and the spare alternate:
// both shrink back to the steady batches, ~100 results, after a burst).
const (
	maxSpare    = 1 << 14
	minSpare    = 256
	roomyDrains = 100
)

// publishChunk is the most events a drain gathers before it publishes
// them: a backlog's drain (the results queued during a long reload) is
// published in pieces that subscribers take while it goes on, not at its
// end all at once into queues (16,384 events) it would overflow.
const publishChunk = 1024

// prefetchChunk is how many results a drain prefetches at a time: a few
// hundred cache lines, which the applies right after still find cached.
const prefetchChunk = 64

// prefetch reads the table's memory of the results in b (those of the
// current generation) before they are applied: their loads overlap,
// where the applies, one after the other, would wait for each miss in
// turn (state.View.Prefetch).
func (w *writer) prefetch(b []item) {
	v := w.table.View()
	ids := w.ids[:0]
	for i := range b {
		if b[i].gen == v.Gen {
			ids = append(ids, b[i].id)
		}
	}
	v.Prefetch(ids)
	w.ids = ids
}

// publish hands the events gathered to the bus in one batch.
func (w *writer) publish() {
	if len(w.evs) == 0 {
		return
	}
	w.bus.PublishHeld(w.evs, &w.mem.hold)
	clear(w.evs) // the queues have their copies: drop the references
	if cap(w.evs) <= maxSpare {
		w.evs = w.evs[:0]
	} else {
		w.evs = nil
	}
}

// apply is one observation through the core: table, then events.
func (w *writer) apply(gen uint64, id int, o *obs.Observation) {
	if gen != w.table.View().Gen {
		w.stale.Add(1)
		return
	}
	ch, err := w.table.Apply(id, *o)
	if err != nil {
		w.rejected.Add(1)
		return
	}
	w.applied.Add(1)
	// Events: a Result only when someone reads them (one per probe), a
	// Problem for a failure, a StateChange when the check's state moved.
	// They share one copy of the observation and the new snapshot.
	wantResult := w.bus.Wants(event.Result)
	failed := o.Outcome.Failed()
	if !wantResult && !failed && !ch.Changed {
		return
	}
	c := ch.Check
	// The events' copies of the observation and of the check's snapshot
	// (the table updates its own in place), from the drain's slabs.
	x, snap := w.copies(o, c, failed || ch.Changed || w.resultSnaps.Load())
	e := event.Event{At: o.At.UTC(), Host: c.Host().Name(), Check: c.Name(), Kind: c.Kind(), Obs: x, Snap: snap,
		Old: ch.Old, New: ch.New, HostOld: ch.HostOld, HostNew: ch.HostNew, Gen: gen, ID: id}
	if wantResult {
		e.Type = event.Result
		w.evs = append(w.evs, e)
	}
	if failed {
		e.Type, e.Text = event.Problem, snap.Problem
		w.evs = append(w.evs, e)
		e.Text = ""
	}
	if ch.Changed {
		e.Type = event.StateChange
		w.evs = append(w.evs, e)
		w.logChange(&ch, snap, o)
	}
}

// copies returns the copy of o an event points to and, if withSnap, of
// c's snapshot (else nil): from the drain's memory.
func (w *writer) copies(o *obs.Observation, c *state.Check, withSnap bool) (*obs.Observation, *state.Snapshot) {
	if !withSnap {
		x := w.mem.obs()
		*x = *o
		return x, nil
	}
	cp := w.mem.copy()
	cp.o = *o
	c.Load(&cp.snap)
	return &cp.o, &cp.snap
}

// The chunks of an evMem: observations (304 B) and copies with a snapshot
// (800 B), about 32-39 KiB each. A drain at 10k results a second (~100
// results) takes one of each; a pooled evMem keeps at most memKeep of each.
const (
	obsChunk = 128
	cpChunk  = 40
	memKeep  = 8
	poolKeep = 8 // evMems the pool keeps (a handful are in use at a time)
)

// evMem is the memory of one drain's events: chunks of copies, which never
// move (events point into them), and the Hold that says when the
// subscribers are done with them.
type evMem struct {
	hold    event.Hold
	release func() // w.putMem(m), made once
	os      [][]obs.Observation
	cs      [][]evCopy
	no, nc  int // used
}

// obs returns the next free observation.
func (m *evMem) obs() *obs.Observation {
	i, j := m.no/obsChunk, m.no%obsChunk
	if i == len(m.os) {
		m.os = append(m.os, make([]obs.Observation, obsChunk))
	}
	m.no++
	return &m.os[i][j]
}

// copy returns the next free copy.
func (m *evMem) copy() *evCopy {
	i, j := m.nc/cpChunk, m.nc%cpChunk
	if i == len(m.cs) {
		m.cs = append(m.cs, make([]evCopy, cpChunk))
	}
	m.nc++
	return &m.cs[i][j]
}

// getMem returns an evMem for a drain, the writer holding its one
// reference.
func (w *writer) getMem() *evMem {
	var m *evMem
	w.poolMu.Lock()
	if n := len(w.pool); n > 0 {
		// Oldest first: every pooled one is used (and trimmed to its use,
		// putMem) in turn, none keeps a startup's size at the bottom.
		m = w.pool[0]
		copy(w.pool, w.pool[1:])
		w.pool[n-1] = nil
		w.pool = w.pool[:n-1]
	}
	w.poolMu.Unlock()
	if m == nil {
		w.memsMade++
		m = new(evMem)
		m.release = func() { w.putMem(m) }
	}
	m.hold.Reset(m.release)
	return m
}

// trimChunks returns cs with at most n chunks.
func trimChunks[T any](cs [][]T, n int) [][]T {
	if len(cs) > n {
		clear(cs[n:])
		cs = cs[:n]
	}
	return cs
}

// putMem takes m back when the last subscriber is done with its events
// (on that subscriber's goroutine): cleared (the copies hold health blobs
// and problem texts), and kept unless it grew big (a backlog's drain).
func (w *writer) putMem(m *evMem) {
	for i := 0; i < m.no; i += obsChunk {
		clear(m.os[i/obsChunk][:min(obsChunk, m.no-i)])
	}
	for i := 0; i < m.nc; i += cpChunk {
		clear(m.cs[i/cpChunk][:min(cpChunk, m.nc-i)])
	}
	if len(m.os) > memKeep || len(m.cs) > memKeep {
		return
	}
	// Keep one chunk more than this drain used (startup's drains of state
	// changes grew them; the steady ones need one or two).
	m.os = trimChunks(m.os, m.no/obsChunk+2)
	m.cs = trimChunks(m.cs, m.nc/cpChunk+2)
	m.no, m.nc = 0, 0
	w.poolMu.Lock()
	if len(w.pool) < poolKeep {
		w.pool = append(w.pool, m)
	}
	w.poolMu.Unlock()
}

// hostChanges publishes a StateChange for each host whose derived state a
// reload (or registration) changed without any observation: a check
// removed, added or reset. The event is the host's: it names the host's
// first check, whose own state did not change (Old == New), so sinks that
// key by check (the store's history, the dashboard) file it under the host
// and its history shows the host's transition; Text says why. On the
// writer (the bus has one publisher).
func (w *writer) hostChanges(hcs []state.HostChange, at time.Time, why string) {
	for _, hc := range hcs {
		c := hc.Host.Check(0)
		if c == nil {
			continue
		}
		snap := new(state.Snapshot)
		c.Load(snap)
		e := event.Event{Type: event.StateChange, At: at, Host: c.Spec().Host, Check: c.Spec().Name, Kind: c.Spec().Kind,
			Old: snap.State, New: snap.State, HostOld: hc.Old, HostNew: hc.New, Snap: snap, Source: "hb",
			Text: fmt.Sprintf("host %s: %s -> %s (targets applied, %s: its checks changed)", c.Spec().Host, hc.Old, hc.New, why)}
		w.bus.Publish(e)
		lvl := slog.LevelInfo
		if hc.New == state.Down || hc.New == state.Degraded {
			lvl = slog.LevelWarn
		}
		w.log.Log(context.Background(), lvl, "host state change", "host", c.Spec().Host, "from", hc.Old.String(),
			"to", hc.New.String(), "why", why)
	}
}

// changeLevel is the log level of a check's change from old to cur: a
// check's first result that finds it up is debug (a start-up or a
// reload adding checks would otherwise log a line per check; the
// store, the event log and the bus still record it, and the start-up's
// counts are logged once, by releaseNow), a change to down or degraded
// a warning, any other change info.
func changeLevel(old, cur state.State) slog.Level {
	switch {
	case cur == state.Down || cur == state.Degraded:
		return slog.LevelWarn
	case old == state.Unknown && cur == state.Up:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// logChange logs a check's state change: at 100k checks a flapping
// fleet changes hundreds a second, so without a []any of boxed values
// and with the address's text the targets line gave when it is the
// address (no formatting per line).
func (w *writer) logChange(ch *state.Change, snap *state.Snapshot, o *obs.Observation) {
	lvl := changeLevel(ch.Old, ch.New)
	ctx := context.Background()
	if !w.log.Enabled(ctx, lvl) {
		return
	}
	sp := ch.Check.Spec()
	var buf [7]slog.Attr
	attrs := append(buf[:0], slog.String("host", sp.Host), slog.String("check", sp.Name),
		slog.String("from", ch.Old.String()), slog.String("to", ch.New.String()))
	if sp.Addr.IsValid() {
		attrs = append(attrs, slog.String("addr", addrText(&sp)))
	}
	if o.Outcome.Failed() {
		attrs = append(attrs, slog.String("problem", snap.Problem))
	} else if o.RTT > 0 {
		attrs = append(attrs, slog.Duration("rtt", o.RTT))
	}
	if ch.HostChanged {
		attrs = append(attrs, slog.String("host_state", ch.HostNew.String()))
	}
	w.log.LogAttrs(ctx, lvl, "state change", attrs...)
}

// addrText is the text of sp's address: its Target when that is the
// IPv4 address (its text has one form), else formatted.
func addrText(sp *obs.CheckSpec) string {
	if a, err := netip.ParseAddr(sp.Target); err == nil && a.Is4() && a == sp.Addr {
		return sp.Target
	}
	return sp.Addr.String()
}

// Stats returns the writer's counters.
func (w *writer) Stats() WriterStats {
	w.mu.Lock()
	q := len(w.q)
	w.mu.Unlock()
	return WriterStats{
		Observed: w.observed.Load(), Applied: w.applied.Load(), Stale: w.stale.Load(),
		Rejected: w.rejected.Load(), Dropped: w.dropped.Load(), Batches: w.batches.Load(), Queued: q,
	}
}

// now is the writer's clock for events that are not observations
// (reloads); observations carry their own time.
var now = time.Now
