// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/offheap"
)

// fakeTargets returns n4 IPv4 and n6 IPv6 targets in the simulated block.
func fakeTargets(n4, n6 int) []Target {
	var ts []Target
	a := netip.MustParseAddr("198.18.0.1")
	for range n4 {
		ts = append(ts, Target{Addr: a, Name: a.String()})
		a = a.Next()
	}
	a = netip.MustParseAddr("2001:db8::1")
	for range n6 {
		ts = append(ts, Target{Addr: a, Name: a.String()})
		a = a.Next()
	}
	return ts
}

func onceFake(t *testing.T, n *fakeNet, ts []Target, cfg Config) ([]Summary, *Engine, []int) {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 200 * time.Millisecond
	}
	if cfg.Rate == 0 {
		cfg.Rate = -1
	}
	e := n.engine(cfg)
	seen := make([]int, len(ts))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sums, err := e.Once(ctx, ts, OnceOptions{OnResult: func(r *Result) { seen[r.Target]++ }})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Once did not finish")
	}
	return sums, e, seen
}

// checkKernelRTT asserts every OK summary measured exactly the fake's RTT
// with kernel TX+RX stamps: a TX stamp matched to another probe would be
// off by at least 1µs.
func checkKernelRTT(t *testing.T, n *fakeNet, sums []Summary) {
	t.Helper()
	for i := range sums {
		s := &sums[i]
		if s.Received != 1 {
			continue
		}
		if s.Method != TSKernelTxRx || s.Min != n.rtt {
			t.Fatalf("%v: RTT %v by %v, want %v by kernel TX+RX", s.Target.Addr, s.Min, s.Method, n.rtt)
		}
	}
}

func TestLoopOutcomes(t *testing.T) {
	n := newFakeNet()
	ts := fakeTargets(3000, 500)
	drop := []int{5, 2999, 3100}
	unreach := []int{7, 8}
	for _, i := range drop {
		n.drop[ts[i].Addr] = true
	}
	for _, i := range unreach {
		n.unreach[ts[i].Addr] = true
	}
	sums, e, seen := onceFake(t, n, ts, Config{})
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("target %d: %d results, want 1", i, c)
		}
	}
	checkKernelRTT(t, n, sums)
	for _, i := range drop {
		if s := sums[i]; s.Received != 0 || s.Last().Outcome != OutcomeTimeout {
			t.Fatalf("dropped %v: %+v", ts[i].Addr, s.Last())
		}
	}
	for _, i := range unreach {
		p := sums[i].LastProblem
		if p == nil || p.Outcome != OutcomeICMPError || p.ICMPType != icmp4Unreach || p.ICMPCode != 1 || p.From != n.router4 {
			t.Fatalf("unreachable %v: %+v", ts[i].Addr, p)
		}
	}
	ok := len(ts) - len(drop) - len(unreach)
	st := e.Stats()
	want := Stats{Sent: uint64(len(ts)), Received: uint64(len(ts) - len(drop)), Matched: uint64(ok),
		ICMPErrors: uint64(len(unreach)), Timeouts: uint64(len(drop)), TxStamps: uint64(len(ts))}
	if st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}
}

func TestLoopENOBUFSRequeue(t *testing.T) {
	n := newFakeNet()
	n.enobufs = 3 // three push-backs
	n.accept = 7  // and short sends throughout
	ts := fakeTargets(1000, 200)
	sums, e, seen := onceFake(t, n, ts, Config{Batch: 32})
	for i, c := range seen {
		if c != 1 || sums[i].Received != 1 {
			t.Fatalf("target %d: %d results, %d answered", i, c, sums[i].Received)
		}
	}
	// Every probe left exactly once: the refused ones were requeued, not
	// lost or repeated.
	if len(n.sent) != len(ts) {
		t.Fatalf("%d probes on the wire for %d targets", len(n.sent), len(ts))
	}
	uniq := map[netip.Addr]bool{}
	for _, a := range n.sent {
		uniq[a] = true
	}
	if len(uniq) != len(ts) {
		t.Fatalf("%d distinct destinations for %d targets", len(uniq), len(ts))
	}
	if st := e.Stats(); st.ENOBUFS != 3 || st.Sent != uint64(len(ts)) || st.TxStamps != uint64(len(ts)) {
		t.Fatalf("stats %+v", st)
	}
	// Short sends keep the OPT_ID key ring aligned with the slots.
	checkKernelRTT(t, n, sums)
}

func TestLoopLateTxStamp(t *testing.T) {
	n := newFakeNet()
	n.lateStamp = true // each stamp shows up only after its reply was read
	ts := fakeTargets(500, 50)
	sums, e, _ := onceFake(t, n, ts, Config{})
	checkKernelRTT(t, n, sums)
	if st := e.Stats(); st.Matched != uint64(len(ts)) || st.TxStamps != uint64(len(ts)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestLoopErrQueueReads: a raw socket's error queue (its TX stamps only)
// is read when stamps are owed: about once per batch sent, not on every
// loop turn and for every socket; every stamp is still matched.
func TestLoopErrQueueReads(t *testing.T) {
	n := newFakeNet()
	ts := fakeTargets(2000, 0)
	sums, e, _ := onceFake(t, n, ts, Config{Batch: 64})
	checkKernelRTT(t, n, sums)
	if st := e.Stats(); st.Matched != uint64(len(ts)) || st.TxStamps != uint64(len(ts)) {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d sendmmsg calls, %d error queue reads", n.calls, n.errReads)
	if n.errReads > n.calls+2 {
		t.Errorf("%d error queue reads for %d sendmmsg calls: want at most one a batch", n.errReads, n.calls)
	}
}

func TestLoopNoTxStamp(t *testing.T) {
	n := newFakeNet()
	n.noStamp = true
	ts := fakeTargets(100, 10)
	sums, e, _ := onceFake(t, n, ts, Config{})
	for _, s := range sums {
		if s.Received != 1 || s.Method != TSKernelRx || s.Min <= 0 {
			t.Fatalf("%v: received %d, RTT %v by %v; want kernel RX with the send clock", s.Target.Addr, s.Received, s.Min, s.Method)
		}
	}
	if st := e.Stats(); st.TxStamps != 0 || st.TxMissing != uint64(len(ts)) {
		t.Fatalf("stats %+v; want every reply counted as a missing TX stamp", st)
	}
	// A reply without its stamp reads the error queue once a receive
	// pass, not once a reply (a stamp the kernel dropped is not late).
	t.Logf("%d sendmmsg calls, %d error queue reads for %d replies", n.calls, n.errReads, len(ts))
	if n.errReads > 2*n.calls+2 {
		t.Errorf("%d error queue reads for %d replies (%d sendmmsg calls): want about one a receive pass", n.errReads, len(ts), n.calls)
	}
}

func TestLoopHardSendError(t *testing.T) {
	n := newFakeNet()
	ts := fakeTargets(300, 0)
	bad := ts[100].Addr
	n.hardErr[bad] = unix.EHOSTUNREACH
	sums, e, seen := onceFake(t, n, ts, Config{})
	for i, s := range sums {
		if seen[i] != 1 {
			t.Fatalf("target %d: %d results", i, seen[i])
		}
		if s.Target.Addr == bad {
			if s.LastProblem == nil || s.LastProblem.Outcome != OutcomeSendError || !errors.Is(s.LastProblem.Err, unix.EHOSTUNREACH) {
				t.Fatalf("bad target: %+v", s.LastProblem)
			}
			continue
		}
		if s.Received != 1 {
			t.Fatalf("%v not answered after a neighbour's send error", s.Target.Addr)
		}
	}
	if st := e.Stats(); st.SendErrors != 1 || st.Sent != uint64(len(ts)-1) {
		t.Fatalf("stats %+v", st)
	}
}

func TestLoopRateLimited(t *testing.T) {
	n := newFakeNet()
	ts := fakeTargets(200, 0)
	_, e, _ := onceFake(t, n, ts, Config{Rate: 2000, Batch: 16})
	// 200 probes at 2000/s in batches of 16: the bucket starts with one
	// batch, so at least 11 more had to wait for tokens; each wait is a
	// separate sendmmsg call.
	if n.calls < 200/16 {
		t.Fatalf("%d sendmmsg calls for 200 probes in batches of 16", n.calls)
	}
	if st := e.Stats(); st.Sent != 200 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunSetTargetsAndClose(t *testing.T) {
	n := newFakeNet()
	e := n.engine(Config{Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, Rate: -1})
	first, second := fakeTargets(10, 0), fakeTargets(0, 10)
	e.SetTargets(first)
	got := make(chan netip.Addr, 1000)
	done := make(chan error, 1)
	go func() {
		done <- e.Run(context.Background(), func(r *Result) {
			if r.Outcome == OutcomeOK {
				select {
				case got <- r.Addr:
				default:
				}
			}
		})
	}()
	waitFor := func(is6 bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case a := <-got:
				if a.Is6() == is6 {
					return
				}
			case <-deadline:
				t.Fatalf("no result for the %v set", map[bool]string{false: "IPv4", true: "IPv6"}[is6])
			}
		}
	}
	waitFor(false)
	e.SetTargets(second)
	waitFor(true)
	// Close stops Run (it waits for the loop) and closes the sockets.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if !n.socks[0].closed || !n.socks[1].closed {
		t.Fatal("sockets left open")
	}
	if err := e.Run(context.Background(), func(*Result) {}); !errors.Is(err, errClosed) {
		t.Fatalf("Run on a closed engine: %v", err)
	}
}

func TestRunCancel(t *testing.T) {
	n := newFakeNet()
	// An hour's interval: the loop sleeps long, and cancellation must wake it.
	e := n.engine(Config{Interval: time.Hour, Jitter: -1, Rate: -1})
	e.SetTargets(fakeTargets(1, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, func(*Result) {}) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestOnceShards(t *testing.T) {
	// Three loops, each on its own fake sockets: every target is probed
	// once, by one shard, and its result carries its global index.
	nets := []*fakeNet{newFakeNet(), newFakeNet(), newFakeNet()}
	cfg := Config{Rate: -1, Timeout: 200 * time.Millisecond}
	e := nets[0].engine(cfg)
	for _, n := range nets[1:] {
		e.shards = append(e.shards, n.engine(cfg))
	}
	ts := fakeTargets(3*minShardTargets+5, 100)
	n := nets[2]
	n.drop[ts[len(ts)-1].Addr] = true
	seen := make([]int, len(ts))
	sums, err := e.Once(context.Background(), ts, OnceOptions{OnResult: func(r *Result) {
		if ts[r.Target].Addr != r.Addr {
			t.Errorf("result for %v has index %d (%v)", r.Addr, r.Target, ts[r.Target].Addr)
		}
		seen[r.Target]++
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("target %d: %d results", i, c)
		}
	}
	for i, s := range sums[:len(sums)-1] {
		if s.Received != 1 {
			t.Fatalf("target %d not answered", i)
		}
	}
	for i, n := range nets {
		if len(n.sent) == 0 || len(n.sent) > len(ts)/3+1 {
			t.Fatalf("shard %d sent %d of %d", i, len(n.sent), len(ts))
		}
	}
	if st := e.Stats(); st.Sent != uint64(len(ts)) || st.Matched != uint64(len(ts)-1) || st.Timeouts != 1 {
		t.Fatalf("stats over the shards: %+v", st)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for i, n := range nets {
		if !n.socks[0].closed {
			t.Fatalf("shard %d left open", i)
		}
	}
}

func TestStatsAdd(t *testing.T) {
	var one Stats
	v := reflect.ValueOf(&one).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.Uint64:
			f.SetUint(1)
		case reflect.Array:
			for k := range f.Len() {
				f.Index(k).SetUint(1)
			}
		default:
			t.Fatalf("Stats.%s is a %v: Stats.add sums only uint64 counters", v.Type().Field(i).Name, f.Kind())
		}
	}
	sum := one
	sum.add(one)
	s := reflect.ValueOf(sum)
	for i := range s.NumField() {
		f := s.Field(i)
		if f.Kind() == reflect.Array {
			f = f.Index(f.Len() - 1)
		}
		if f.Uint() != 2 {
			t.Fatalf("Stats.%s not summed", s.Type().Field(i).Name)
		}
	}
}

// TestRunTargetIDs: results carry the ID of their target and the
// generation of its list (SetTargetFunc), also for probes in flight
// across a reload that moved their target to another index; the lists,
// the wheel and the in-flight table live outside the Go heap and are all
// freed by Close.
func TestRunTargetIDs(t *testing.T) {
	off0 := offheap.Bytes()
	n := newFakeNet()
	e := n.engine(Config{Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, Rate: -1})
	first := fakeTargets(10, 0)
	second := slices.Clone(first)
	slices.Reverse(second)
	second = append(second, fakeTargets(0, 3)...)
	e.SetTargetFunc(7, len(first), func(i int) Target { t := first[i]; t.ID = 100 + i; return t })
	type res struct {
		gen            uint64
		id, target, ok int
		addr           netip.Addr
	}
	got := make(chan res, 10000)
	done := make(chan error, 1)
	go func() {
		done <- e.Run(context.Background(), func(r *Result) {
			select {
			case got <- res{r.Gen, r.ID, r.Target, int(r.Outcome), r.Addr}:
			default:
			}
		})
	}()
	check := func(gen uint64, ts []Target, base int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for seen := 0; seen < 50; {
			select {
			case r := <-got:
				if r.gen < gen {
					continue // the former list's
				}
				if r.gen != gen || r.target < 0 || r.target >= len(ts) || r.id != base+r.target || r.addr != ts[r.target].Addr {
					t.Fatalf("result %+v: want gen %d, id %d + target, the target's address", r, gen, base)
				}
				seen++
			case <-deadline:
				t.Fatalf("no results of generation %d", gen)
			}
		}
	}
	check(7, first, 100)
	if !raceBuild && offheap.Bytes() <= off0 {
		t.Errorf("offheap bytes %d, before the engine %d: the tables should be outside the heap", offheap.Bytes(), off0)
	}
	e.SetTargetFunc(8, len(second), func(i int) Target { t := second[i]; t.ID = 200 + i; return t })
	check(8, second, 200)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	e.SetTargets(first) // after Close: dropped, not kept
	if b := offheap.Bytes(); b != off0 {
		t.Errorf("offheap bytes %d after Close, %d before the engine", b, off0)
	}
}

// TestLoopBadAddrNotProbed: a target whose address is the zero Addr (a
// Target built without one was probed as 0.0.0.0), unspecified or
// multicast is never sent to: each firing is a send error naming it
// (errBadAddr, the target's index and ID, its address as given), counted,
// and the targets around it are probed as usual.
func TestLoopBadAddrNotProbed(t *testing.T) {
	n := newFakeNet()
	ts := fakeTargets(100, 10)
	bad := map[int]netip.Addr{
		3:   {},
		50:  netip.IPv4Unspecified(),
		60:  netip.MustParseAddr("224.0.0.1"),
		105: netip.IPv6Unspecified(),
		106: netip.MustParseAddr("ff02::1"),
	}
	for i, a := range bad {
		ts[i].Addr, ts[i].ID = a, 1000+i
	}
	sums, e, seen := onceFake(t, n, ts, Config{})
	for i, s := range sums {
		if seen[i] != 1 {
			t.Fatalf("target %d: %d results", i, seen[i])
		}
		a, isBad := bad[i]
		if !isBad {
			if s.Received != 1 {
				t.Errorf("%v not answered", s.Target.Addr)
			}
			continue
		}
		p := s.LastProblem
		if p == nil || p.Outcome != OutcomeSendError || !errors.Is(p.Err, errBadAddr) || p.Addr != a || p.ID != 1000+i || p.Target != i {
			t.Errorf("target %d (%v): %+v, want a send error naming it", i, a, p)
		}
	}
	if st := e.Stats(); st.SendErrors != uint64(len(bad)) || st.Sent != uint64(len(ts)-len(bad)) {
		t.Fatalf("stats %+v: want %d send errors, %d sent", st, len(bad), len(ts)-len(bad))
	}
}

// TestSetTargetsInFlightIDs: a probe in flight across a reload reports the
// ID its target has in the new list (the slot keeps the ID, so a result
// reads no target list): at the same index, at a new one, and none when
// the target went away (dropped).
func TestSetTargetsInFlightIDs(t *testing.T) {
	n := newFakeNet()
	e := n.engine(Config{Timeout: time.Second})
	defer e.Close()
	ts := fakeTargets(3, 0)
	mk := func(gen uint64, ts []Target, ids ...int) *targetList {
		return newTargetList(gen, len(ts), func(i int) Target { t := ts[i]; t.ID = ids[i]; return t })
	}
	e.setTargets(mk(1, ts, 10, 11, 12))
	c := e.conns[0]
	for i := range ts {
		seq, ok := c.inf.alloc()
		if !ok {
			t.Fatal("alloc")
		}
		tt := &e.tt[i]
		*c.inf.at(seq) = slot{addr: tt.addr, target: int32(i), id: tt.id, state: slotPending, deadline: 1 << 40}
	}
	if r := e.newResult(c.inf.at(1), 1); r.ID != 11 || r.Target != 1 {
		t.Fatalf("before the reload: target %d ID %d, want 1, 11", r.Target, r.ID)
	}
	// The new list: target 0 stays at 0 with a new ID, 1 moves to index
	// 2, 2 is gone.
	e.setTargets(mk(2, []Target{ts[0], fakeTargets(0, 1)[0], ts[1]}, 20, 21, 22))
	for seq, want := range []struct {
		target, id int
		state      slotState
	}{{0, 20, slotPending}, {2, 22, slotPending}, {2, 12, slotDropped}} {
		s := c.inf.at(uint16(seq))
		if s.state != want.state {
			t.Fatalf("seq %d: state %d, want %d", seq, s.state, want.state)
		}
		if want.state != slotPending {
			continue
		}
		r := e.newResult(s, uint16(seq))
		if r.Target != want.target || r.ID != want.id || r.Gen != 2 || r.Addr != ts[seq].Addr {
			t.Fatalf("seq %d: %+v, want target %d ID %d gen 2 address %v", seq, r, want.target, want.id, ts[seq].Addr)
		}
	}
}
