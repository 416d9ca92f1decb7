// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// batchRegistrar stands in for the core's obs.BatchRegistrar (monitor/ is
// another package's; TestRegisterConcurrent there runs the real one): it
// appends the checks to its table as the core does, hands the receiver its
// checks, and holds every call until release is closed, as a core busy
// rebuilding a large table would.
type batchRegistrar struct {
	r       *Receiver
	release chan struct{}
	mu      sync.Mutex
	specs   []obs.CheckSpec
	gen     uint64
	calls   int
}

func (g *batchRegistrar) Register(ctx context.Context, spec obs.CheckSpec) (obs.Check, uint64, error) {
	cs, gen, err := g.RegisterBatch(ctx, []obs.CheckSpec{spec})
	if err != nil {
		return obs.Check{}, 0, err
	}
	return cs[0], gen, nil
}

func (g *batchRegistrar) RegisterBatch(ctx context.Context, specs []obs.CheckSpec) ([]obs.Check, uint64, error) {
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	first := len(g.specs)
	g.specs = append(g.specs, specs...)
	g.gen++
	all := make([]obs.Check, len(g.specs))
	for i, s := range g.specs {
		all[i] = obs.Check{ID: i, Spec: s}
	}
	g.r.SetChecks(g.gen, all)
	return all[first:], g.gen, nil
}

// TestReceiverRegistersWithoutBlocking: 2,000 unknown hosts push their
// first heartbeats from 4 goroutines while the core is busy: every one is
// accepted and ACKed without waiting for it (registrations queued and
// counted), then they are registered in far fewer calls than hosts, and
// each host's heartbeat is observed under its new check. Run under -race.
func TestReceiverRegistersWithoutBlocking(t *testing.T) {
	const n = 2000
	key := testKey(t)
	c := config.DefaultPush()
	c.AcceptUnknown = true
	c.MaxHosts = n
	reg := &batchRegistrar{release: make(chan struct{})}
	r, err := NewReceiver(ReceiverConfig{Push: c, Key: key, Registrar: reg})
	if err != nil {
		t.Fatal(err)
	}
	reg.r = r
	s := newSink()
	r.sink.Store(func() *obs.Sink { var x obs.Sink = s; return &x }())
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); r.registerLoop(ctx) }()
	defer func() { cancel(); <-loopDone }()

	now := time.Now()
	var wg sync.WaitGroup
	acked := make([]bool, n)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack := make([]byte, wire.AckLen)
			for i := w; i < n; i += 4 {
				acked[i] = r.Handle(ctx, hbp(t, key, fmt.Sprintf("n%04d", i), 1, 1, now), src, now, true, ack) == wire.AckLen
			}
		}()
	}
	wg.Wait() // the registrar has not answered once: Handle did not wait for it
	for i, a := range acked {
		if !a {
			t.Fatalf("n%04d: not ACKed", i)
		}
	}
	if st := r.Stats(); st.Accepted != n || st.RegisterPending == 0 || len(s.all()) != 0 {
		t.Fatalf("before the core answered: %+v, %d observed", st, len(s.all()))
	}
	close(reg.release)
	deadline := time.Now().Add(30 * time.Second)
	for len(s.all()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := s.all()
	if len(got) != n {
		t.Fatalf("%d of %d heartbeats observed", len(got), n)
	}
	reg.mu.Lock()
	calls, specs := reg.calls, reg.specs
	reg.mu.Unlock()
	if len(specs) != n || calls >= n/2 {
		t.Fatalf("%d hosts registered in %d calls", len(specs), calls)
	}
	t.Logf("%d hosts registered in %d calls", n, calls)
	ids := map[int]bool{}
	for _, o := range got {
		if o.o.Outcome != obs.OK || o.id < 0 || o.id >= n || ids[o.id] {
			t.Fatalf("observation %+v", o)
		}
		ids[o.id] = true
	}
	st := r.Stats()
	if st.Registered != n || st.RegisterPending != 0 || st.RegisterBatches != uint64(calls) || st.Hosts != n {
		t.Fatalf("stats %+v", st)
	}
	// Known now: the next heartbeat is observed at once.
	ack := make([]byte, wire.AckLen)
	r.Handle(ctx, hbp(t, key, "n0007", 1, 2, now), src, now, true, ack)
	id := -1
	for i, sp := range specs {
		if sp.Host == "n0007" {
			id = i
		}
	}
	if all := s.all(); len(all) != n+1 || all[n].id != id {
		t.Fatalf("known host: %d observed, last %+v, want id %d", len(all), all[len(all)-1], id)
	}
}
