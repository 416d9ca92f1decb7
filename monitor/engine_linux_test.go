// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
)

// batchRec is an obs.BatchSink that records how results were handed over.
type batchRec struct {
	mu       sync.Mutex
	observes int   // Observe calls
	batches  []int // ObserveBatch sizes
	byID     map[int]int
	bad      int // items of another generation or id
	gen      uint64
	n        int
}

func (r *batchRec) Observe(gen uint64, id int, o obs.Observation) {
	r.mu.Lock()
	r.observes++
	r.mu.Unlock()
}

func (r *batchRec) ObserveBatch(b []obs.Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, len(b))
	for _, it := range b {
		if it.Gen != r.gen || it.ID < 0 || it.ID >= r.n {
			r.bad++
			continue
		}
		r.byID[it.ID]++
	}
	clear(b) // the source must not read its buffer after handing it over
}

// TestEngineSourceBatches runs the engine source on real sockets against a
// simulated fleet (answering and silent targets) into a sink that takes
// batches: every result comes through ObserveBatch (a loop turn's at a
// time, so several a call), none through Observe, each for its check of
// the current generation, and when Run returns every result the engine
// counted has been handed over.
func TestEngineSourceBatches(t *testing.T) {
	local, hole := netip.MustParsePrefix("198.18.0.0/22"), netip.MustParsePrefix("198.18.8.0/24")
	f := testutil.NewFleet(t, testutil.FleetConfig{Local: []netip.Prefix{local}, Blackhole: []netip.Prefix{hole}})
	addrs := append(testutil.FleetAddrs(t, local, 1000), testutil.FleetAddrs(t, hole, 50)...)
	checks := make([]obs.Check, len(addrs))
	for i, a := range addrs {
		checks[i] = obs.Check{ID: i, Spec: obs.CheckSpec{Kind: obs.KindICMP, Addr: a, Host: a.String(), Target: a.String()}}
	}
	var eng *prober.Engine
	if err := f.Prober.Do(func() (err error) {
		eng, err = prober.New(prober.Config{Interval: time.Second, Timeout: 200 * time.Millisecond, Rate: 10000, Batch: 64})
		return err
	}); err != nil {
		testutil.SkipIfPermission(t, "open the prober sockets", err)
		t.Fatal(err)
	}
	defer eng.Close()
	src := newEngineSource(eng)
	src.SetChecks(3, checks)
	sink := &batchRec{byID: map[int]int{}, gen: 3, n: len(checks)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	time.Sleep(2500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := eng.Stats()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	items := 0
	for _, n := range sink.batches {
		items += n
	}
	t.Logf("%d results in %d batches; engine: %d matched, %d timeouts", items, len(sink.batches), st.Matched, st.Timeouts)
	if sink.observes != 0 {
		t.Errorf("%d results through Observe, want all through ObserveBatch", sink.observes)
	}
	if sink.bad != 0 {
		t.Errorf("%d results for another generation or no check", sink.bad)
	}
	if st.Matched == 0 || st.Timeouts == 0 {
		t.Fatalf("engine matched %d, timed out %d: want both", st.Matched, st.Timeouts)
	}
	if want := st.Matched + st.Timeouts + st.ICMPErrors + st.SendErrors; uint64(items) != want {
		t.Errorf("%d results handed over, the engine counted %d", items, want)
	}
	if len(sink.batches) == 0 || items < 2*len(sink.batches) {
		t.Errorf("%d results in %d batches: want a turn's results a batch", items, len(sink.batches))
	}
	for i := range 50 {
		if sink.byID[1000+i] == 0 {
			t.Errorf("silent target %d: no result (its timeouts)", i)
			break
		}
	}
}
