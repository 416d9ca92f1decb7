// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
)

// testSource is a source written in the test: it serves the kinds it is
// given and observes what the test tells it to. It knows nothing of the
// table; the core knows nothing of it but obs.Source.
type testSource struct {
	kinds []obs.Kind

	mu     sync.Mutex
	gen    uint64
	checks []obs.Check
	sets   int
	sink   obs.Sink
	ready  chan struct{}
}

func newTestSource(kinds ...obs.Kind) *testSource {
	return &testSource{kinds: kinds, ready: make(chan struct{})}
}

func (s *testSource) Name() string      { return "test" }
func (s *testSource) Kinds() []obs.Kind { return s.kinds }

func (s *testSource) SetChecks(gen uint64, checks []obs.Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen, s.checks = gen, checks
	s.sets++
}

func (s *testSource) Run(ctx context.Context, sink obs.Sink) error {
	s.mu.Lock()
	s.sink = sink
	s.mu.Unlock()
	close(s.ready)
	<-ctx.Done()
	return nil
}

// emit observes o for host's check; false when the source has no such
// check in its current generation.
func (s *testSource) emit(host, check string, o obs.Observation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.checks {
		if c.Spec.Host == host && c.Spec.Name == check {
			s.sink.Observe(s.gen, c.ID, o)
			return true
		}
	}
	return false
}

func (s *testSource) state() (uint64, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, len(s.checks), s.sets
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func ok(i int) obs.Observation {
	return obs.Observation{At: at(i), Outcome: obs.OK, RTT: time.Millisecond, Method: obs.MethodUser, Detail: "connect ok"}
}

func timeout(i int) obs.Observation { return obs.Observation{At: at(i), Outcome: obs.Timeout} }

type fixture struct {
	t       *testing.T
	dir     string
	targets string
	cfg     config.Probe
	src     *testSource
	m       *Monitor
	reload  chan struct{}
	cancel  context.CancelFunc
	done    chan error
}

// start runs a monitor on the targets text with src as its only source,
// no API, and the store in dir when withStore.
func start(t *testing.T, dir, targetsText string, src *testSource, withStore bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: dir, targets: filepath.Join(dir, "targets"), src: src, reload: make(chan struct{})}
	if err := os.WriteFile(f.targets, []byte(targetsText), 0o644); err != nil {
		t.Fatal(err)
	}
	f.cfg = config.DefaultProbe()
	f.cfg.Targets = f.targets
	f.cfg.API.Listen = "off"
	f.cfg.Store.DB = filepath.Join(dir, "hb.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	m, err := New(context.Background(), f.cfg, "", Options{Sources: []obs.Source{src}, NoStore: !withStore, Log: log, Reload: f.reload})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- m.Run(ctx) }()
	select {
	case <-src.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the source never ran")
	}
	t.Cleanup(func() { f.stop() })
	return f
}

func (f *fixture) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.cancel = nil
	if err := <-f.done; err != nil {
		f.t.Errorf("Run: %v", err)
	}
}

// waitFor polls cond (a deadline for waiting, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// next returns the next event from sub.
func next(t *testing.T, sub *event.Sub) event.Event {
	t.Helper()
	select {
	case e := <-sub.C():
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return event.Event{}
}

// TestPluggedSourceAndSink: a source and a sink written here plug into the
// core through obs.Source and event.Bus; the tcp and heartbeat checks of
// a host merged from three lines go through the table (whose code knows no
// kind) and come out as events with the host's derived state.
func TestPluggedSourceAndSink(t *testing.T) {
	src := newTestSource(obs.KindTCP, obs.KindHeartbeat)
	f := start(t, t.TempDir(), "198.18.0.1 name=db role=db\ntcp://198.18.0.1:5432 name=db\nheartbeat://db\n", src, false)
	sink := f.m.Bus().Subscribe("test-sink", 64, event.StateChange, event.Problem)
	defer sink.Close()

	if gen, n, _ := src.state(); gen != 1 || n != 2 {
		t.Fatalf("source got gen %d with %d checks, want gen 1 with tcp and heartbeat", gen, n)
	}
	if !src.emit("db", "tcp:5432", ok(1)) {
		t.Fatal("no tcp check")
	}
	e := next(t, sink)
	if e.Type != event.StateChange || e.Host != "db" || e.Check != "tcp:5432" || e.Kind != obs.KindTCP ||
		e.Old != state.Unknown || e.New != state.Up || e.HostOld != state.Unknown || e.HostNew != state.Up ||
		e.Obs == nil || e.Obs.Detail != "connect ok" || e.Snap == nil || e.Snap.Probes != 1 {
		t.Fatalf("event %+v", e)
	}
	src.emit("db", "heartbeat", timeout(2))
	if e := next(t, sink); e.Type != event.Problem || e.Check != "heartbeat" || e.Text != "timeout" {
		t.Fatalf("problem event %+v", e)
	}
	e = next(t, sink)
	if e.Type != event.StateChange || e.New != state.Down || e.HostOld != state.Up || e.HostNew != state.Degraded {
		t.Fatalf("heartbeat down: %+v", e)
	}
	h := f.m.Table().View().Lookup("db")
	if h.Status().State != state.Degraded || h.NumChecks() != 3 || h.Spec().Labels.Map()["role"] != "db" {
		t.Errorf("host %+v status %+v", h.Spec(), h.Status())
	}
	// The icmp check has no source here: it stays unknown and does not
	// count in the host's state.
	if s := h.CheckNamed("icmp").Snapshot(); s.State != state.Unknown {
		t.Errorf("unserved icmp check is %v", s.State)
	}
}

// TestReload: SIGHUP-style reload keeps the state of unchanged checks,
// hands sources the new generation, and drops (counts) observations made
// for the old one.
func TestReload(t *testing.T) {
	src := newTestSource(obs.KindTCP)
	f := start(t, t.TempDir(), "tcp://198.18.0.1:22 name=a\ntcp://198.18.0.2:22 name=b\n", src, false)
	gen1, _, _ := src.state()
	src.emit("a", "tcp:22", ok(1))
	src.emit("b", "tcp:22", ok(1))
	waitFor(t, "both up", func() bool {
		v := f.m.Table().View()
		return v.Lookup("a").Status().State == state.Up && v.Lookup("b").Status().State == state.Up
	})
	os.WriteFile(f.targets, []byte("tcp://198.18.0.1:22 name=a team=x\ntcp://198.18.0.9:22 name=b\ntcp://198.18.0.3:443 name=c\n"), 0o644)
	f.reload <- struct{}{}
	waitFor(t, "the reload", func() bool { g, n, _ := src.state(); return g == gen1+1 && n == 3 })
	v := f.m.Table().View()
	a, b := v.Lookup("a"), v.Lookup("b")
	if a.Status().State != state.Up || a.Spec().Labels.Map()["team"] != "x" || a.Snapshot().Probes != 1 {
		t.Errorf("a lost its state: %+v", a.Snapshot())
	}
	if b.Status().State != state.Unknown {
		t.Errorf("b moved address but kept %v", b.Status().State)
	}
	// An observation for the old generation is counted as stale.
	f.m.Sink().Observe(gen1, 0, ok(2))
	waitFor(t, "the stale count", func() bool { return f.m.WriterStats().Stale == 1 })
	if s := a.Snapshot(); s.Probes != 1 {
		t.Errorf("a stale observation was applied: %d probes", s.Probes)
	}
	// A bad targets file keeps the running list.
	os.WriteFile(f.targets, []byte("tcp://198.18.0.1 name=a\n"), 0o644)
	f.reload <- struct{}{}
	f.reload <- struct{}{} // the second send returns once the first reload is done
	if g, _, _ := src.state(); g != gen1+1 || f.m.Table().View().Len() != 3 {
		t.Errorf("a rejected reload changed the table: gen %d", g)
	}
}

// TestRestore: a restart on the same database puts each check back in its
// stored state (store.go's restore, per check).
func TestRestore(t *testing.T) {
	dir := t.TempDir()
	text := "tcp://198.18.0.1:22 name=a\nhttps://198.18.0.1/health name=a\n"
	src := newTestSource(obs.KindTCP, obs.KindHTTP)
	f := start(t, dir, text, src, true)
	src.emit("a", "tcp:22", timeout(1))
	src.emit("a", "tcp:22", timeout(2))
	src.emit("a", "http:/health", ok(3))
	waitFor(t, "tcp down", func() bool {
		return f.m.Table().View().LookupCheck("a", "tcp:22").Snapshot().State == state.Down
	})
	f.stop()

	src2 := newTestSource(obs.KindTCP, obs.KindHTTP)
	f2 := start(t, dir, text, src2, true)
	h := f2.m.Table().View().Lookup("a")
	tcp, web := h.CheckNamed("tcp:22").Snapshot(), h.CheckNamed("http:/health").Snapshot()
	if tcp.State != state.Down || !tcp.Since.Time().Equal(at(1)) || web.State != state.Up || h.Status().State != state.Degraded {
		t.Errorf("restored tcp %v since %v, http %v, host %v", tcp.State, tcp.Since.Time(), web.State, h.Status().State)
	}
	// The restored streak: one success brings tcp up.
	src2.emit("a", "tcp:22", ok(4))
	waitFor(t, "tcp up", func() bool { return h.CheckNamed("tcp:22").Snapshot().State == state.Up })
}

// TestSlowSink: a subscriber that never reads loses events (counted by
// the bus) while every observation is still applied to the table.
func TestSlowSink(t *testing.T) {
	src := newTestSource(obs.KindTCP)
	f := start(t, t.TempDir(), "tcp://198.18.0.1:22 name=a\n", src, false)
	slow := f.m.Bus().Subscribe("slow", 4, event.Result)
	defer slow.Close()
	const n = 500
	for i := range n {
		o := ok(i)
		if i%2 == 1 {
			o = timeout(i)
		}
		src.emit("a", "tcp:22", o)
	}
	waitFor(t, "every observation applied", func() bool { return f.m.WriterStats().Applied == n })
	if p := f.m.Table().View().Lookup("a").Snapshot().Probes; p != n {
		t.Errorf("%d probes applied, want %d", p, n)
	}
	// The writer counts a batch applied before it publishes the batch's
	// events: wait until the bus has handled all n (delivered or dropped).
	var st event.SubStats
	waitFor(t, "every event published", func() bool {
		for _, s := range f.m.Bus().Stats().Subscribers {
			if s.Name == "slow" {
				st = s
			}
		}
		return st.Delivered+st.Dropped >= n
	})
	if st.Delivered != 4 || st.Dropped != n-4 || slow.Dropped() != n-4 {
		t.Errorf("slow sink: %+v", st)
	}
	var mb strings.Builder
	f.m.w.Metrics().WriteTo(&mb)
	if !strings.Contains(mb.String(), `hb_observations_total{fate="applied"} 500`+"\n") {
		t.Errorf("writer metrics:\n%s", mb.String())
	}
}

// TestRegister: a source registers a check for a host nobody configured
// (a heartbeat from an unknown host); it survives a reload.
func TestRegister(t *testing.T) {
	src := newTestSource(obs.KindTCP, obs.KindHeartbeat)
	f := start(t, t.TempDir(), "tcp://198.18.0.1:22 name=a\n", src, false)
	var r obs.Registrar = f.m
	c, gen, err := r.Register(context.Background(), obs.CheckSpec{Host: "newbox", Name: "heartbeat", Kind: obs.KindHeartbeat})
	if err != nil {
		t.Fatal(err)
	}
	if g, n, _ := src.state(); gen != 2 || g != 2 || n != 2 || c.Spec.Host != "newbox" {
		t.Fatalf("after register: check %+v gen %d; source gen %d with %d checks", c, gen, g, n)
	}
	f.m.Sink().Observe(gen, c.ID, ok(1))
	waitFor(t, "newbox up", func() bool {
		h := f.m.Table().View().Lookup("newbox")
		return h != nil && h.Status().State == state.Up
	})
	again, _, err := r.Register(context.Background(), obs.CheckSpec{Host: "newbox", Name: "heartbeat", Kind: obs.KindHeartbeat})
	if err != nil || again.ID != c.ID {
		t.Errorf("registering twice: %+v %v", again, err)
	}
	f.reload <- struct{}{}
	f.reload <- struct{}{}
	if h := f.m.Table().View().Lookup("newbox"); h == nil || h.Status().State != state.Up {
		t.Error("a reload lost the registered check")
	}
	if _, _, err := r.Register(context.Background(), obs.CheckSpec{Host: "x"}); err == nil {
		t.Error("a check without name and kind was registered")
	}
}

// bareMonitor is a monitor without sources, store or API over n
// addresses 198.18.x.y (closed when the test ends), for the writer's
// tests and benchmarks, which drive m.w themselves.
func bareMonitor(tb testing.TB, n int) *Monitor {
	tb.Helper()
	return bareMonitorLog(tb, n, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// bareMonitorLog is bareMonitor logging to log.
func bareMonitorLog(tb testing.TB, n int, log *slog.Logger) *Monitor {
	tb.Helper()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "198.%d.%d.%d\n", 18+i>>16, i>>8&255, i&255) // 198.18.0.0/15
	}
	dir := tb.TempDir()
	os.WriteFile(filepath.Join(dir, "targets"), []byte(sb.String()), 0o644)
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.API.Listen = filepath.Join(dir, "targets"), "off"
	cfg.MaxTargets = max(cfg.MaxTargets, n)
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{}, NoStore: true, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.close)
	return m
}

// TestWriterBatchAllocs: a batch of results through the writer to a
// batch subscriber (the store's and the histograms' way) allocates
// nothing in steady state: the observations' copies the events point to
// are reused once the reader is done with them, and no event queue grows
// per batch.
func TestWriterBatchAllocs(t *testing.T) {
	const n, batch = 1000, 100
	m := bareMonitor(t, n)
	sub := m.Bus().SubscribeBatch("reader", 1<<12, event.Result)
	defer sub.Close()
	gen := m.Table().View().Gen
	var evs []event.Event
	i := 0
	round := func() {
		for range batch {
			o := ok(i)
			m.w.Observe(gen, i%n, o)
			i++
		}
		m.w.drain()
		evs, _ = sub.Take(evs)
		if len(evs) != batch {
			t.Fatalf("%d events for %d results", len(evs), batch)
		}
	}
	for range 5 * n / batch { // every check up (state changes log and allocate)
		round()
	}
	if a := testing.AllocsPerRun(20, round); a > 0 {
		t.Errorf("%v allocations for %d results through the writer, want none", a, batch)
	}
	// By size: none either (the copies' memory comes back to the writer
	// once the reader is done with a batch).
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	const rounds = 50
	for range rounds {
		round()
	}
	runtime.ReadMemStats(&m1)
	if per := (m1.TotalAlloc - m0.TotalAlloc) / (rounds * batch); per > 0 {
		t.Errorf("%d bytes allocated per result through the writer, want none", per)
	}
	// A result subscriber that reads the snapshots (the alert engine's
	// rules) gets them on every Result.
	m.w.resultSnaps.Store(true)
	round()
	for i := range evs {
		if evs[i].Snap == nil || evs[i].Snap.Probes == 0 {
			t.Fatalf("result %d without the check's snapshot: %+v", i, evs[i])
		}
	}
}

// TestWriterDrainGap: results observed one at a time wake the writer at
// most once per DrainGap (it applies them in batches), and every one is
// applied, the last ones when it stops.
func TestWriterDrainGap(t *testing.T) {
	m := bareMonitor(t, 2)
	gen := m.Table().View().Gen
	stop, done := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() { m.w.run(stop); close(done) }()
	const n = 400
	for i := range n {
		m.w.Observe(gen, i%2, ok(i))
		time.Sleep(200 * time.Microsecond)
	}
	close(stop)
	<-done
	elapsed := time.Since(start)
	st := m.WriterStats()
	if st.Applied != n {
		t.Fatalf("applied %d of %d", st.Applied, n)
	}
	if max := uint64(elapsed/DrainGap) + 2; st.Batches > max {
		t.Errorf("%d batches in %v, want at most %d (one per %v)", st.Batches, elapsed, max, DrainGap)
	}
	t.Logf("%d results in %d batches over %v", n, st.Batches, elapsed)
}

// TestWriterOpAfterQueued: an op on the writer (a reload, a
// registration: both make a new table generation) that comes while
// results wait out the drain gap applies them first, so none is dropped
// as stale for a generation that was current when it was observed.
func TestWriterOpAfterQueued(t *testing.T) {
	m := bareMonitor(t, 2)
	m.w.gap = time.Hour // after its first drain the writer waits: the results below queue
	gen := m.Table().View().Gen
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { m.w.run(stop); close(done) }()
	m.w.Observe(gen, 0, ok(0))
	waitFor(t, "the first result applied", func() bool { return m.WriterStats().Applied == 1 })
	const n = 50
	for i := range n {
		m.w.Observe(gen, i%2, ok(1+i))
	}
	var specs []state.HostSpec
	for _, h := range m.Table().View().Hosts() {
		sp := state.HostSpec{Name: h.Spec().Name, Addr: h.Spec().Addr}
		for i := range h.NumChecks() {
			sp.Checks = append(sp.Checks, h.Check(i).Spec())
		}
		specs = append(specs, sp)
	}
	var rerr error
	if !m.w.do(context.Background(), func() { _, rerr = m.table.Reload(specs) }) || rerr != nil {
		t.Fatalf("reload on the writer: %v", rerr)
	}
	close(stop)
	<-done
	if st := m.WriterStats(); st.Applied != n+1 || st.Stale != 0 {
		t.Errorf("applied %d, stale %d; want %d applied, none stale", st.Applied, st.Stale, n+1)
	}
	if p := m.Table().View().Check(0).Snapshot().Probes; p != 1+n/2 {
		t.Errorf("check 0 has %d probes after the reload, want %d", p, 1+n/2)
	}
}

// logHook is a slog handler that calls fn at every record (on the
// logging goroutine: the writer's, for state changes).
type logHook struct{ fn func() }

func (h logHook) Enabled(context.Context, slog.Level) bool  { return true }
func (h logHook) Handle(context.Context, slog.Record) error { h.fn(); return nil }
func (h logHook) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h logHook) WithGroup(string) slog.Handler             { return h }

// TestWriterPublishesBacklogInChunks: a drain of more results than a
// subscriber's queue holds (the backlog after a long reload) publishes
// its events while it goes on, in pieces, so a subscriber that keeps up
// loses none; published at the drain's end, all at once, they would
// overflow its queue whatever its speed. The subscriber here takes what
// is queued at every state change the writer logs (on the writer's
// goroutine: deterministic).
func TestWriterPublishesBacklogInChunks(t *testing.T) {
	var sub *event.Sub
	var evs []event.Event
	taken := 0
	m := bareMonitorLog(t, 1, slog.New(logHook{func() {
		if sub != nil {
			evs, _ = sub.Take(evs)
			taken += len(evs)
		}
	}}))
	sub = m.Bus().SubscribeBatch("reader", publishChunk, event.StateChange)
	defer sub.Close()
	gen := m.Table().View().Gen
	const n = 4 * publishChunk
	for i := range n { // every result changes the check's state: up, degraded, up, ...
		o := ok(i)
		if i%2 == 1 {
			o = timeout(i)
		}
		m.w.Observe(gen, 0, o)
	}
	m.w.drain()
	evs, _ = sub.Take(evs)
	taken += len(evs)
	if st := m.WriterStats(); st.Applied != n {
		t.Fatalf("applied %d of %d", st.Applied, n)
	}
	if taken != n || sub.Dropped() != 0 {
		t.Errorf("the subscriber took %d state changes of %d, %d dropped", taken, n, sub.Dropped())
	}
}

// TestWriterFallback: a result queued within the gap after a drain, with
// no later result to wake the writer, is still applied (by the fallback
// timer), while the writer keeps running, and the drain disarms it.
func TestWriterFallback(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "targets"), []byte("198.18.0.1\n198.18.0.2\n"), 0o644)
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.API.Listen = filepath.Join(dir, "targets"), "off"
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{}, NoStore: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	gen := m.Table().View().Gen
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { m.w.run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	waitApplied := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); m.WriterStats().Applied < n; {
			if time.Now().After(deadline) {
				t.Fatalf("applied %d of %d: the writer did not wake", m.WriterStats().Applied, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	m.w.Observe(gen, 0, ok(0)) // rings: no drain yet
	waitApplied(1)
	m.w.Observe(gen, 1, ok(1)) // right after a drain: within the gap, arms the fallback
	waitApplied(2)
	if b := m.WriterStats().Batches; b != 2 {
		t.Errorf("%d batches for two lone results, want 2", b)
	}
	m.w.mu.Lock()
	armed := m.w.fbArmed
	m.w.mu.Unlock()
	if armed {
		t.Error("fallback still armed after its drain")
	}
}

// BenchmarkCore is one probe result through the whole core: Sink.Observe
// (queue), the writer's Apply on a 10,000-check table, and Publish of the
// Result event to one batch subscriber that reads it (the store's place),
// in batches of 64 (the writer's drains).
func BenchmarkCore(b *testing.B) {
	for _, subscribed := range []bool{false, true} {
		b.Run(fmt.Sprintf("result-subscriber=%v", subscribed), func(b *testing.B) {
			const n = 10000
			m := bareMonitor(b, n)
			if subscribed {
				// A batch reader, as the store and the histograms are.
				stop := batchReader(m)
				defer stop()
			}
			gen := m.Table().View().Gen
			o := ok(0)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				o.At = at(i)
				m.w.Observe(gen, i%n, o)
				if i%64 == 63 {
					m.w.drain()
				}
				i++
			}
			m.w.drain()
			if st := m.WriterStats(); st.Applied != uint64(i) {
				b.Fatalf("applied %d of %d", st.Applied, i)
			}
		})
	}
}

// BenchmarkCore100k is BenchmarkCore at the daemon's size: 100,000
// checks whose results come in a scattered order (the wheel's jitter and
// the replies' order), so each result meets its check's memory (record,
// Check, Host) cold, as in the daemon; in drains of 100 (10k results a
// second, DrainGap), read by one batch subscriber. ns/op is per result.
func BenchmarkCore100k(b *testing.B) {
	const n, batch = 100_000, 100
	m := bareMonitor(b, n)
	// A batch reader, as the store and the histograms are, that takes each
	// drain's events before the next (in step: no goroutine that lags the
	// drains and keeps their event memory from being reused).
	sub := m.Bus().SubscribeBatch("reader", 1<<16, event.Result)
	defer sub.Close()
	var evs []event.Event
	gen := m.Table().View().Gen
	o := ok(0)
	for i := range n { // every check up: the first results are state changes
		m.w.Observe(gen, i, o)
		if i%batch == batch-1 {
			m.w.drain()
			evs, _ = sub.Take(evs)
		}
	}
	m.w.drain()
	evs, _ = sub.Take(evs)
	b.ReportAllocs()
	i := n
	ru0 := rusage() // the process's CPU time: less noisy than ns/op on a shared machine
	for b.Loop() {
		o.At = at(i / n * 10)
		m.w.Observe(gen, i*7919%n, o)
		if i%batch == batch-1 {
			m.w.drain()
			evs, _ = sub.Take(evs)
		}
		i++
	}
	m.w.drain()
	b.ReportMetric(float64(rusage().cpu-ru0.cpu)/float64(i-n), "cpu-ns/op")
	if st := m.WriterStats(); st.Applied != uint64(i) {
		b.Fatalf("applied %d of %d", st.Applied, i)
	}
}

// TestReloadHostStateChange: a reload that changes a host's derived state
// without any observation (its failing check removed) publishes a host
// state change on the bus, which the store files as the host's history
// (and which leaves the remaining check's own state alone).
func TestReloadHostStateChange(t *testing.T) {
	src := newTestSource(obs.KindTCP)
	f := start(t, t.TempDir(), "tcp://198.18.0.1:22 name=db\ntcp://198.18.0.1:5432 name=db\ntcp://198.18.0.2:22 name=web\n", src, true)
	sub := f.m.Bus().Subscribe("test-sink", 64, event.StateChange)
	defer sub.Close()
	src.emit("db", "tcp:22", ok(1))
	src.emit("db", "tcp:5432", timeout(2))
	src.emit("db", "tcp:5432", timeout(3))
	src.emit("web", "tcp:22", ok(1))
	waitFor(t, "db degraded", func() bool {
		v := f.m.Table().View()
		return v.Lookup("db").Status().State == state.Degraded && v.Lookup("web").Status().State == state.Up
	})
	for drained := false; !drained; { // the checks' own state changes
		select {
		case <-sub.C():
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}

	os.WriteFile(f.targets, []byte("tcp://198.18.0.1:22 name=db\ntcp://198.18.0.2:22 name=web\n"), 0o644)
	f.reload <- struct{}{}
	e := next(t, sub)
	if e.Type != event.StateChange || e.Host != "db" || e.HostOld != state.Degraded || e.HostNew != state.Up ||
		e.Check != "tcp:22" || e.Old != state.Up || e.New != state.Up || e.Snap == nil || !strings.Contains(e.Text, "SIGHUP") {
		t.Fatalf("host event after the reload: %+v", e)
	}
	select {
	case e := <-sub.C():
		t.Fatalf("a second state change (web did not change): %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
	if s := f.m.Table().View().Lookup("db").Status(); s.State != state.Up {
		t.Fatalf("db after the reload: %+v", s)
	}

	st := f.m.store.st
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	hist, err := st.StateChanges(context.Background(), store.Query{Host: "db", HostChanges: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) == 0 || hist[0].HostFrom != "degraded" || hist[0].HostTo != "up" || hist[0].From != "up" || hist[0].To != "up" {
		t.Fatalf("db's host history, newest first: %+v", hist)
	}
	recs, err := st.Checks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Host == "db" && r.Name == "tcp:22" && (r.State != state.Up || !r.StateSince.Equal(at(1))) {
			t.Errorf("tcp:22's stored state moved with the host event: %+v", r)
		}
	}
}

// TestWriterRecyclesEventMemory: the copies a drain's events point to stay
// as published while a batch subscriber has them (queued, or taken and its
// next Take not yet called), and are reused by a later drain once it is
// done with them: a steady stream of results allocates no new copies.
func TestWriterRecyclesEventMemory(t *testing.T) {
	const n = 50
	m := bareMonitor(t, n)
	sub := m.Bus().SubscribeBatch("reader", 1<<12, event.Result, event.Problem)
	defer sub.Close()
	gen := m.Table().View().Gen
	round := func(r int) {
		for i := range n {
			o := ok(r*n + i)
			if i%10 == 0 {
				o = timeout(r*n + i) // a Problem too, with a snapshot copy
			}
			m.w.Observe(gen, i, o)
		}
		m.w.drain()
	}
	const perRound = n + n/10
	check := func(evs []event.Event, r int) {
		t.Helper()
		if len(evs) != perRound {
			t.Fatalf("round %d: %d events, want %d", r, len(evs), perRound)
		}
		for _, e := range evs {
			if want := at(r*n + e.ID); !e.Obs.At.Equal(want) {
				t.Fatalf("round %d check %d: event's observation at %v, want %v (reused too early?)", r, e.ID, e.Obs.At, want)
			}
		}
	}
	addrs := func(evs []event.Event) map[*obs.Observation]bool {
		s := map[*obs.Observation]bool{}
		for _, e := range evs {
			s[e.Obs] = true
		}
		return s
	}
	round(0)
	round(1) // round 0's memory is still queued: round 1 has other memory
	evs, _ := sub.Take(nil)
	check(evs[:perRound], 0)
	check(evs[perRound:], 1)
	held := addrs(evs)
	if len(held) != 2*n {
		t.Fatalf("rounds 0 and 1 share memory: %d distinct observations of %d", len(held), 2*n)
	}
	round(2) // the reader still has rounds 0 and 1 (no Take since)
	check(evs[:perRound], 0)
	check(evs[perRound:], 1)
	evs, _ = sub.Take(evs) // done with rounds 0 and 1
	check(evs, 2)
	for p := range addrs(evs) {
		if held[p] {
			t.Fatal("round 2 reused memory the reader still had")
		}
	}
	made := m.w.memsMade // rounds 0, 1 and 2: three
	round(3)
	evs, _ = sub.Take(evs) // done with round 2
	check(evs, 3)
	reused := 0
	for p := range addrs(evs) {
		if held[p] {
			reused++
		}
	}
	if m.w.memsMade != made || made != 3 || reused == 0 {
		t.Errorf("round 3 made a new drain memory (%d made, then %d) or reused none of rounds 0 and 1's copies (%d)", made, m.w.memsMade, reused)
	}
}

// TestWriterEventMemoryNotHeldByRareReaders: a subscriber of the rare
// events (state changes, problems) that keeps them queued for a long time
// (the event log, writing to disk) does not hold the drains' memory
// meanwhile: while results flow to a prompt reader, the writer reuses a
// handful of drain memories, and the slow reader's events still read as
// published.
func TestWriterEventMemoryNotHeldByRareReaders(t *testing.T) {
	const n, rounds = 50, 200
	m := bareMonitor(t, n)
	fast := m.Bus().SubscribeBatch("fast", 1<<12, event.Result)
	defer fast.Close()
	slow := m.Bus().SubscribeBatch("slow", 1<<12, event.StateChange, event.Problem)
	defer slow.Close()
	gen := m.Table().View().Gen
	var evs []event.Event
	for r := range rounds {
		for i := range n {
			o := ok(r*n + i)
			if i == 0 {
				o = timeout(r*n + i) // a Problem every drain
			}
			m.w.Observe(gen, i, o)
		}
		m.w.drain()
		evs, _ = fast.Take(evs)
	}
	if made := m.w.memsMade; made > 4 {
		t.Errorf("%d drain memories made for %d drains: a reader of problems that has not taken them holds them", made, rounds)
	}
	got, _ := slow.Take(nil)
	problems := 0
	for _, e := range got {
		if e.Type != event.Problem {
			continue
		}
		if want := at(problems * n); e.ID != 0 || e.Obs == nil || !e.Obs.At.Equal(want) || e.Obs.Outcome != obs.Timeout || e.Snap == nil {
			t.Fatalf("problem %d: check %d, observation %+v, want a timeout at %v (memory reused under it?)", problems, e.ID, e.Obs, want)
		}
		problems++
	}
	if problems != rounds {
		t.Errorf("%d problems, want %d", problems, rounds)
	}
}

// TestLogChangeAllocs: logging a state change (hundreds a second from a
// flapping fleet) allocates little: the record's attributes past its
// inline ones and the RTT's text, not a []any of boxed values or the
// address's text; the line reads as before.
func TestLogChangeAllocs(t *testing.T) {
	var out bytes.Buffer
	m := bareMonitorLog(t, 1, slog.New(slog.NewTextHandler(&out, nil)))
	c := m.Table().View().Check(0)
	ch := state.Change{Check: c, Changed: true, Old: state.Up, New: state.Down, HostChanged: true, HostOld: state.Up, HostNew: state.Down}
	snap := &state.Snapshot{Problem: "timeout"}
	o := timeout(0)
	m.w.logChange(&ch, snap, &o)
	want := `level=WARN msg="state change" host=198.18.0.0 check=icmp from=up to=down addr=198.18.0.0 problem=timeout host_state=down`
	if got := out.String(); !strings.Contains(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	out.Reset()
	if raceEnabled {
		return
	}
	if a := testing.AllocsPerRun(100, func() { m.w.logChange(&ch, snap, &o); out.Reset() }); a > 1 {
		t.Errorf("%v allocations per state change logged, want at most 1", a)
	}
}

// TestFirstRoundLogsCounts: a start-up's first results log no line per
// check that came up (100k lines at 100k targets), only the ones that
// found a check down; the counts come in one line when the start-up's
// memory is released. A later change from up logs as before.
func TestFirstRoundLogsCounts(t *testing.T) {
	var out testutil.SyncBuffer
	const n = 200
	m := bareMonitorLog(t, n, slog.New(slog.NewTextHandler(&out, nil)))
	gen := m.Table().View().Gen
	for i := range n {
		o := ok(i)
		if i == 7 {
			o = timeout(i)
		}
		m.w.Observe(gen, i, o)
	}
	m.w.drain()
	got := out.String()
	if c := strings.Count(got, `msg="state change"`); c != 1 {
		t.Fatalf("%d state change lines for %d first results (one down), want 1:\n%s", c, n, got)
	}
	if !strings.Contains(got, `level=WARN msg="state change" host=198.18.0.7 check=icmp from=unknown to=down`) {
		t.Fatalf("the check found down is not logged as a warning:\n%s", got)
	}
	m.releaseNow()
	if want := "msg=\"hosts by state\" unknown=0 up=199 degraded=0 down=1"; !strings.Contains(out.String(), want) {
		t.Fatalf("no %q in:\n%s", want, out.String())
	}
	mark := len(out.String())
	m.w.Observe(gen, 3, timeout(n+3))
	m.w.drain()
	m.w.Observe(gen, 3, ok(n+4))
	m.w.drain()
	if got := out.String()[mark:]; !strings.Contains(got, `level=INFO msg="state change" host=198.18.0.3 check=icmp from=degraded to=up`) {
		t.Fatalf("a recovery is not logged at info:\n%s", got)
	}
}

// TestWriterQueueShrinks: the queue a burst grew (startup, a reload's
// backlog) is let go once the drains since use little of it, so the
// writer's two queue buffers go back to the size of the steady batches.
func TestWriterQueueShrinks(t *testing.T) {
	m := bareMonitor(t, 10)
	gen := m.Table().View().Gen
	for i := range 4000 {
		m.w.Observe(gen, i%10, ok(i))
	}
	m.w.drain()
	for i := range 4000 { // both buffers big
		m.w.Observe(gen, i%10, ok(i))
	}
	m.w.drain()
	caps := func() (int, int) {
		m.w.mu.Lock()
		defer m.w.mu.Unlock()
		return cap(m.w.q), cap(m.w.spare)
	}
	if q, sp := caps(); q < 4000 || sp < 4000 {
		t.Fatalf("queue buffers of %d and %d after bursts of 4000", q, sp)
	}
	for r := range 4 * roomyDrains {
		for i := range 10 {
			m.w.Observe(gen, i, ok(r))
		}
		m.w.drain()
	}
	if q, sp := caps(); q > minSpare || sp > minSpare {
		t.Errorf("queue buffers of %d and %d after %d drains of 10, want at most %d", q, sp, 4*roomyDrains, minSpare)
	}
	if st := m.WriterStats(); st.Applied != 8000+40*roomyDrains {
		t.Errorf("applied %d", st.Applied)
	}
}

// TestWriterEventMemoryShrinks: a pooled drain memory that a burst of
// state changes grew (startup: every check's first result) keeps only
// about what its latest drain needed once it comes back.
func TestWriterEventMemoryShrinks(t *testing.T) {
	const n = 200
	m := bareMonitor(t, n)
	sub := m.Bus().SubscribeBatch("reader", 1<<12, event.Result, event.StateChange)
	defer sub.Close()
	gen := m.Table().View().Gen
	var evs []event.Event
	round := func(k int) {
		for i := range k {
			m.w.Observe(gen, i, ok(i))
		}
		m.w.drain()
		evs, _ = sub.Take(evs)
		evs, _ = sub.Take(evs) // done with them
	}
	pooled := func() (os, cs int) {
		m.w.poolMu.Lock()
		defer m.w.poolMu.Unlock()
		for _, x := range m.w.pool {
			os, cs = max(os, len(x.os)), max(cs, len(x.cs))
		}
		return os, cs
	}
	round(n) // every check comes up: n copies with snapshots
	if _, cs := pooled(); cs < n/cpChunk {
		t.Fatalf("pooled memory has %d snapshot chunks after %d state changes", cs, n)
	}
	round(10) // no state change
	if os, cs := pooled(); os > 2 || cs > 2 {
		t.Errorf("pooled memory keeps %d observation and %d snapshot chunks after a drain of 10 results, want at most 2 each", os, cs)
	}
}

// batchReader subscribes a batch reader of result events to m's bus, as
// the store and the histograms are, that takes whatever is ready until
// the returned stop closes it (stop waits for it to end).
func batchReader(m *Monitor) (stop func()) {
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
	return func() { sub.Close(); <-done }
}
