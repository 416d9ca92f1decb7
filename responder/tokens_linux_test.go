// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// fakeClock is a Clock the test moves by hand: After channels fire when
// Set passes their deadline.
type fakeClock struct {
	mu      sync.Mutex // guards now and waiters
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

// TestTokensAcrossMinuteBoundary: with a 60 s sampling interval, a token
// is accepted on both sides of a minute boundary: just before it, the
// current minute's and the next one's (a prober clock slightly ahead);
// just after it, the previous minute's (a prober slightly behind) and the
// new one's. The agent turns the tokens over on a timer aligned to the
// minute, not when it samples: no sample happens in between.
func TestTokensAcrossMinuteBoundary(t *testing.T) {
	testutil.Privileged(t)
	objs, err := bpf.Load()
	testutil.SkipIfPermission(t, "load eBPF program", err)
	defer objs.Close()
	key, _ := wire.NewKey(5, bytes.Repeat([]byte{0x42}, wire.KeyLen))
	if err := objs.Configure(bpf.Config{KeyID: key.ID}); err != nil {
		t.Fatal(err)
	}
	// Test runs arrive on ifindex 1 (the harness's loopback device).
	net := Net{Addrs: []netip.Addr{hostIP}, Ifaces: []bpf.Iface{{Index: 1, MAC: testMAC}}}
	t0 := time.Date(2026, 1, 2, 12, 0, 30, 0, time.UTC)
	clk := &fakeClock{now: t0}
	ag, err := NewAgent(AgentConfig{Interval: time.Minute, AddrInterval: time.Hour, Key: key, Logger: quiet, Clock: clk,
		LocalNet: func() (Net, error) { return net, nil }}, objs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ag.Run(ctx) }()
	defer func() { cancel(); clk.Set(clk.Now().Add(time.Hour)); <-done }()
	waitFor(t, "first sample", func() bool { return ag.Blob() != nil })

	m := func(d time.Duration) wire.Token { return key.Token(t0.Add(d).UnixNano(), hostIP) }
	probe := func(tok wire.Token) bool {
		fr := testutil.Frame{DstMAC: testMAC, SrcMAC: peerMAC, Src: prober.Addr(), Dst: hostIP, ID: 1, Seq: 1,
			Payload: wire.AppendRequest(nil, wire.Request{Flags: wire.FlagHealth, KeyID: key.ID, Room: wire.BlobSize, Token: tok})}
		opts := &ebpf.RunOptions{Data: fr.Bytes(), DataOut: make([]byte, 1024)}
		v, err := objs.XDP().Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		return v == 3 // XDP_TX
	}
	// 12:00:59.9: this minute's token and the next one's.
	clk.Set(t0.Add(29900 * time.Millisecond))
	if !probe(m(0)) || !probe(m(time.Minute)) {
		t.Fatalf("before the boundary: current %v, next %v; want both accepted", probe(m(0)), probe(m(time.Minute)))
	}
	if probe(m(2 * time.Minute)) {
		t.Fatal("before the boundary: the token two minutes ahead accepted")
	}
	// 12:01:00.1: the key loop turns the tokens over (no sample needed).
	clk.Set(t0.Add(30100 * time.Millisecond))
	waitFor(t, "tokens turned over", func() bool { return probe(m(2 * time.Minute)) })
	if !probe(m(0)) || !probe(m(time.Minute)) {
		t.Fatalf("after the boundary: previous %v, current %v; want both accepted", probe(m(0)), probe(m(time.Minute)))
	}
	if probe(m(-time.Minute)) {
		t.Fatal("after the boundary: a token two minutes old accepted")
	}
	// A token made for another address is refused.
	if probe(key.Token(clk.Now().UnixNano(), prober.Addr())) {
		t.Fatal("a token for another hostIP accepted")
	}
	// No sample happened in between: the turnover did not wait for one.
	ag.mu.Lock()
	gen := ag.status.Generation
	ag.mu.Unlock()
	if gen != 1 {
		t.Fatalf("generation %d: a sample happened; the test must not depend on one", gen)
	}
}

var (
	hostIP  = localAP.Addr()
	testMAC = [6]byte{0x02, 0, 0, 0, 0, 0x1}
	peerMAC = [6]byte{0x02, 0, 0, 0, 0, 0x2}
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
