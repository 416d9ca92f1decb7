// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
)

// TestIPv6OpensWithFirstTarget: a dual-stack engine (tx and rx auto) keeps
// its IPv6 raw socket dormant, with no AF_PACKET path or receive ring
// (whose retire timer fired 250 times a second in a daemon with no IPv6
// target), until a list with an IPv6 target comes: a sweep of IPv4
// targets leaves it so, and a reload of Run's list that adds IPv6 targets
// opens both, in New's network namespace, and probes them through them.
func TestIPv6OpensWithFirstTarget(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	c := testutil.DefaultFleet
	e := newEngineIn(t, f, Config{Timeout: 300 * time.Millisecond, Interval: 200 * time.Millisecond, Socket: SocketRaw})
	if e.Mode().RX != RXRing {
		t.Skipf("no receive ring here: %v", e.Mode())
	}
	c6 := e.conns[1]
	if c6 == nil || !c6.dormant || c6.ring != nil {
		t.Fatalf("IPv6 socket %+v: want dormant, no ring", c6)
	}
	if _, ok := c6.sk.(fdSock); !ok {
		t.Fatalf("IPv6 socket is a %T before any IPv6 target, want the raw socket alone", c6.sk)
	}
	v4 := targetsOf(testutil.FleetAddrs(t, c.Local[0], 20))
	v6 := targetsOf(testutil.FleetAddrs(t, c.Local[1], 20))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sums, err := e.Once(ctx, v4, OnceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sums {
		if s.Received != 1 {
			t.Fatalf("%v: %d replies", s.Target.Addr, s.Received)
		}
	}
	if !c6.dormant || c6.ring != nil {
		t.Fatal("an IPv4 sweep opened the IPv6 ring")
	}

	// Run: IPv4 only, then a reload that adds IPv6 targets.
	var ok4, ok6 atomic.Int64
	e.SetTargets(v4)
	done := make(chan error, 1)
	rctx, stop := context.WithCancel(ctx)
	go func() {
		done <- e.Run(rctx, func(r *Result) {
			if r.Outcome != OutcomeOK {
				return
			}
			if r.Addr.Is4() {
				ok4.Add(1)
			} else {
				ok6.Add(1)
			}
		})
	}()
	waitFor(t, func() bool { return ok4.Load() >= 40 })
	e.SetTargets(append(append([]Target(nil), v4...), v6...))
	waitFor(t, func() bool { return ok6.Load() >= 40 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c6.dormant || c6.ring == nil {
		t.Fatal("IPv6 targets did not open the IPv6 ring")
	}
	if _, ok := c6.sk.(*pktSock); !ok && e.Mode().TX == TXPacket {
		t.Errorf("IPv6 socket is a %T, want the AF_PACKET path as IPv4 has", c6.sk)
	}
	if m := e.Mode().Reason; !strings.Contains(m, "IPv6 opened: ") {
		t.Errorf("mode reason %q does not say what opened", m)
	}
	// The loop's list is freed as it returns: no packet socket may
	// still hold it (it held the last list until the next loop).
	for f, c := range e.conns {
		if ps, ok := c.sk.(*pktSock); ok && (ps.tt != nil || ps.hint != nil) {
			t.Errorf("family %d: the packet socket holds a freed target list (%d entries)", f, len(ps.tt))
		}
	}
	st := e.Stats()
	if st.RxRing != st.Received || st.RxRingDrops != 0 {
		t.Errorf("ring read %d of %d replies (IPv6 ones not through the ring?), %d dropped", st.RxRing, st.Received, st.RxRingDrops)
	}
	t.Logf("mode: %v; %d IPv4 and %d IPv6 replies", e.Mode(), ok4.Load(), ok6.Load())
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
