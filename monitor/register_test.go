// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// TestRegisterConcurrent: 10k registrations from concurrent callers (a
// fleet's first heartbeats) all complete, every check exists in the table
// and in the source's list under the ids returned, the configured host
// keeps its check, and the rebuilds are shared (far fewer than 10k) while
// observations keep flowing through the writer. Run it under -race.
func TestRegisterConcurrent(t *testing.T) {
	const n = 10000
	src := newTestSource(obs.KindTCP, obs.KindHeartbeat)
	f := start(t, t.TempDir(), "tcp://198.18.0.1:22 name=a\n", src, false)

	stop := make(chan struct{})
	var obsWG sync.WaitGroup
	obsWG.Add(1)
	go func() { // results for the configured check while the table is rebuilt
		defer obsWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src.emit("a", "tcp:22", ok(i))
		}
	}()

	type res struct {
		c   obs.Check
		gen uint64
		err error
	}
	out := make([]res, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, gen, err := f.m.Register(context.Background(), obs.CheckSpec{
				Host: fmt.Sprintf("h%05d", i), Name: "heartbeat", Kind: obs.KindHeartbeat, Target: fmt.Sprintf("heartbeat://h%05d", i)})
			out[i] = res{c, gen, err}
		}()
	}
	wg.Wait()
	close(stop)
	obsWG.Wait()

	v := f.m.Table().View()
	if v.Len() != n+1 || v.NumChecks() != n+1 {
		t.Fatalf("table has %d hosts, %d checks; want %d", v.Len(), v.NumChecks(), n+1)
	}
	if v.LookupCheck("a", "tcp:22") == nil {
		t.Fatal("the configured check is gone")
	}
	gen, nsrc, _ := src.state()
	if gen != v.Gen || nsrc != n+1 {
		t.Fatalf("source has gen %d with %d checks; table gen %d", gen, nsrc, v.Gen)
	}
	for i, r := range out {
		name := fmt.Sprintf("h%05d", i)
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		if r.c.Spec.Host != name || r.c.Spec.Kind != obs.KindHeartbeat || r.gen == 0 || r.gen > v.Gen {
			t.Fatalf("%s: got %+v gen %d", name, r.c, r.gen)
		}
		if c := v.LookupCheck(name, "heartbeat"); c == nil {
			t.Fatalf("%s: not in the table", name)
		}
	}
	rebuilds := f.m.regBatches.Load()
	t.Logf("%d registrations, %d table rebuilds", n, rebuilds)
	if rebuilds == 0 || rebuilds >= n/2 {
		t.Errorf("%d registrations cost %d rebuilds: not coalesced", n, rebuilds)
	}
	if got := f.m.regApplied.Load(); got != n {
		t.Errorf("hb_register_checks_total %d, want %d", got, n)
	}
	var mb bytes.Buffer
	f.m.registerMetrics().WriteTo(&mb)
	if !strings.Contains(mb.String(), fmt.Sprintf("hb_register_checks_total %d\n", n)) {
		t.Errorf("metrics:\n%s", mb.String())
	}

	// A registered check takes observations under the ids its source has
	// now (the last SetChecks).
	if !src.emit("h00042", "heartbeat", ok(1)) {
		t.Fatal("the source lacks h00042")
	}
	waitFor(t, "h00042 up", func() bool {
		h := f.m.Table().View().Lookup("h00042")
		return h != nil && h.Status().State == state.Up
	})
}

// TestRegisterBatch: one RegisterBatch of 10k checks (some for hosts that
// exist, one twice, one existing) is one table rebuild, and the checks
// come back in order with the ids of the new generation.
func TestRegisterBatch(t *testing.T) {
	const n = 10000
	src := newTestSource(obs.KindTCP, obs.KindHeartbeat)
	f := start(t, t.TempDir(), "tcp://198.18.0.1:22 name=a\n", src, false)
	specs := []obs.CheckSpec{
		{Host: "a", Name: "tcp:22", Kind: obs.KindTCP},          // exists
		{Host: "a", Name: "heartbeat", Kind: obs.KindHeartbeat}, // new check of an existing host
	}
	for i := range n {
		specs = append(specs, obs.CheckSpec{Host: fmt.Sprintf("b%05d", i), Name: "heartbeat", Kind: obs.KindHeartbeat})
	}
	specs = append(specs, specs[5]) // twice in one batch
	cs, gen, err := f.m.RegisterBatch(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	v := f.m.Table().View()
	if gen != v.Gen || v.NumChecks() != n+2 || v.Len() != n+1 {
		t.Fatalf("gen %d (table %d), %d checks, %d hosts", gen, v.Gen, v.NumChecks(), v.Len())
	}
	if r := f.m.regBatches.Load(); r != 1 {
		t.Errorf("%d rebuilds, want 1", r)
	}
	for i, c := range cs {
		tc := v.Check(c.ID)
		if tc == nil || tc.Spec().Host != specs[i].Host || tc.Spec().Name != specs[i].Name {
			t.Fatalf("%d: %+v is not %s/%s in the table", i, c, specs[i].Host, specs[i].Name)
		}
	}
	// A reload keeps them.
	f.reload <- struct{}{}
	f.reload <- struct{}{}
	if v := f.m.Table().View(); v.NumChecks() != n+2 {
		t.Errorf("after a reload: %d checks", v.NumChecks())
	}
}
