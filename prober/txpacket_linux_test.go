// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
)

// The AF_PACKET transmit path end to end in a namespace pair: targets
// behind the fleet's router (frames to the gateway's MAC), the gateway
// itself (on-link, resolved), an on-link host whose neighbour entry does
// not exist yet (its first probe falls back to the raw socket, which makes
// the kernel resolve it; the next ones go as frames), an on-link address
// that never resolves, and 127.0.0.1 (lo, not Ethernet). Every answered
// probe must be measured kernel-tx-rx, with the TX stamps of both sockets
// matched to their probes.
func TestPacketTxEndToEnd(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	f.Prober.AddAddr(t, "hbp0", netip.MustParsePrefix("198.19.254.1/24"))
	f.Hosts.AddAddr(t, "hbf0", netip.MustParsePrefix("198.19.254.2/24"))
	behind := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 1000)
	late := netip.MustParseAddr("198.19.254.2")
	never := netip.MustParseAddr("198.19.254.9")
	lo := netip.MustParseAddr("127.0.0.1")
	ts := targetsOf(behind, []netip.Addr{f.Gateway4, late, lo, never})

	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv4: true, TX: TXPacket})
	if e.Mode().TX != TXPacket || !strings.Contains(e.Mode().Reason, "AF_PACKET") || !strings.Contains(e.Mode().Reason, "hbp0") {
		t.Fatalf("mode %v", e.Mode())
	}
	// This kernel has PACKET_TX_RING: the frames (and their stamps,
	// checked below) go through it.
	if _, ok := e.conns[0].sk.(*pktSock).pkt.(*txRing); !ok || !strings.Contains(e.Mode().Reason, "PACKET_TX_RING, one send") {
		t.Fatalf("no transmit ring: %v", e.Mode().Reason)
	}
	const count = 3
	start := time.Now()
	bad := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sums, err := e.Once(ctx, ts, OnceOptions{Count: count, Period: 150 * time.Millisecond, OnResult: func(r *Result) {
		if r.Outcome != OutcomeOK {
			return
		}
		// Causality on one clock: sent after the call began, received
		// (Sent+RTT) before the result is seen.
		if r.Method != TSKernelTxRx || r.RTT <= 0 || r.Sent.Before(start) || r.Sent.Add(r.RTT).After(time.Now()) {
			if bad < 5 {
				t.Errorf("%v seq %d: method %v RTT %v sent %v", r.Addr, r.Seq, r.Method, r.RTT, r.Sent.Sub(start))
			}
			bad++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	t.Logf("stats: %+v", st)
	for _, s := range sums {
		a := s.Target.Addr
		switch {
		case a == never:
			if s.Received != 0 || s.Sent != count {
				t.Errorf("%v: %d sent, %d received; want %d, 0", a, s.Sent, s.Received, count)
			}
		case s.Received != count || s.Method != TSKernelTxRx:
			t.Errorf("%v: %d of %d answered, method %v", a, s.Received, s.Sent, s.Method)
		}
	}
	// Fallbacks: lo and the unresolvable address every time, the late
	// neighbour at least once (its first probe) and not every time.
	if st.TxFallback < 2*count+1 || st.TxFallback > 3*count-1 {
		t.Errorf("%d probes fell back to the raw socket, want %d..%d", st.TxFallback, 2*count+1, 3*count-1)
	}
	if st.TxPacket+st.TxFallback != st.Sent || st.TxPacket < uint64(count*(len(behind)+1)) {
		t.Errorf("packet %d + fallback %d != sent %d, or too few frames", st.TxPacket, st.TxFallback, st.Sent)
	}
	// The unresolvable address's probes die in the ARP queue: no stamps.
	if st.TxStamps != st.Sent-count || st.TxMissing != 0 || st.BadCookie != 0 || st.Duplicates != 0 {
		t.Errorf("TX stamps %d of %d sent, %d missing; counters %+v", st.TxStamps, st.Sent, st.TxMissing, st)
	}
	// Every frame left by hbp0, the interface the packet socket bound
	// itself to: they went without a sockaddr_ll, and were answered and
	// stamped (above).
	ps := e.conns[0].sk.(*pktSock)
	if ps.bound <= 0 {
		t.Errorf("packet socket bound to %d, want hbp0's index", ps.bound)
	}
	for _, h := range ps.hops {
		if h.ok && h.ifindex != ps.bound {
			t.Errorf("a frame path by interface %d, the socket bound to %d", h.ifindex, ps.bound)
		}
	}
	if why := ps.fallbackReason(); why == "" {
		t.Error("no fallback reason recorded")
	} else {
		t.Logf("last fallback: %s", why)
	}
}

// tx = raw never opens the packet socket; tx = auto does when it can.
func TestPacketTxModes(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	ts := targetsOf(testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 100))
	for _, c := range []struct {
		tx   TX
		want TX
	}{{TXRaw, TXRaw}, {TXAuto, TXPacket}} {
		t.Run(c.tx.String(), func(t *testing.T) {
			e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv4: true, TX: c.tx})
			if e.Mode().TX != c.want {
				t.Fatalf("mode %v, want tx %v", e.Mode(), c.want)
			}
			sums, err := e.Once(context.Background(), ts, OnceOptions{Count: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sums {
				if s.Received != 1 || s.Method != TSKernelTxRx {
					t.Fatalf("%v: received %d, method %v", s.Target.Addr, s.Received, s.Method)
				}
			}
			st := e.Stats()
			if c.want == TXRaw && (st.TxPacket != 0 || st.TxFallback != 0) {
				t.Errorf("tx = raw sent frames: %+v", st)
			}
			if c.want == TXPacket && st.TxPacket != uint64(len(ts)) {
				t.Errorf("tx = auto: %d of %d probes as frames", st.TxPacket, len(ts))
			}
		})
	}
}

// A route added while the engine runs (here a blackhole for one target)
// takes effect on the packet path at once, not at the next periodic table
// refresh (tableRefresh, 30 s): frames bypass the kernel's IP output path,
// so the engine has to follow the route table itself. Removing the route
// brings the target back the same way.
func TestPacketTxFollowsRouteChanges(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	addrs := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 4)
	ts := targetsOf(addrs)
	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv4: true, TX: TXAuto})
	if e.Mode().TX != TXPacket {
		t.Skipf("no AF_PACKET transmit here: %v", e.Mode())
	}
	// received runs one round and returns what each target got back.
	received := func() []int {
		sums, err := e.Once(context.Background(), ts, OnceOptions{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int, len(sums))
		for i, s := range sums {
			got[i] = s.Received
		}
		return got
	}
	// until rounds until want holds, well inside tableRefresh.
	until := func(what string, want func([]int) bool) {
		t.Helper()
		var got []int
		for deadline := time.Now().Add(tableRefresh / 3); time.Now().Before(deadline); {
			if got = received(); want(got) {
				return
			}
		}
		t.Fatalf("%s: received %v after %v (the periodic refresh is %v)", what, got, tableRefresh/3, tableRefresh)
	}
	until("every target up", func(g []int) bool { return slices.Equal(g, []int{1, 1, 1, 1}) })
	cut := addrs[1].String() + "/32"
	f.Prober.MustIP(t, "route", "add", "blackhole", cut)
	until("the blackholed target silent, the others up", func(g []int) bool { return slices.Equal(g, []int{1, 0, 1, 1}) })
	f.Prober.MustIP(t, "route", "del", "blackhole", cut)
	until("the target back", func(g []int) bool { return slices.Equal(g, []int{1, 1, 1, 1}) })
}

// Loopback and the host's own addresses live in the kernel's local table,
// which it consults before the main one: with a default route in the main
// table, a probe to 127.0.0.1 must still go through the kernel (and be
// answered), not leave as a frame to the default gateway.
func TestPacketTxLocalTable(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	f.Prober.MustIP(t, "route", "add", "default", "via", f.Gateway4.String())
	fleet := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 2)
	ts := targetsOf([]netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}, fleet)
	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv4: true, TX: TXAuto})
	if e.Mode().TX != TXPacket {
		t.Skipf("no AF_PACKET transmit here: %v", e.Mode())
	}
	sums, err := e.Once(context.Background(), ts, OnceOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sums {
		if s.Received != 1 {
			t.Errorf("%v: received %d", s.Target.Addr, s.Received)
		}
	}
	if st := e.Stats(); st.TxPacket != uint64(len(fleet)) {
		t.Errorf("%d probes as frames, want the %d fleet ones: %+v", st.TxPacket, len(fleet), st)
	}
}

// Frames never use the kernel's neighbour entry, so a gateway whose MAC
// changes must be followed from the neighbour table's change events: after
// the hosts side takes a new MAC and the prober's entry is replaced, the
// next rounds reach the targets again, well inside the periodic refresh.
func TestPacketTxFollowsNeighbourChanges(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	ts := targetsOf(testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 4))
	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv4: true, TX: TXPacket})
	round := func() int {
		sums, err := e.Once(context.Background(), ts, OnceOptions{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range sums {
			n += s.Received
		}
		return n
	}
	if got := round(); got != len(ts) {
		t.Fatalf("before: %d of %d answered", got, len(ts))
	}
	const mac = "02:00:5e:10:20:30"
	f.Hosts.MustIP(t, "link", "set", "dev", "hbf0", "address", mac)
	f.Prober.MustIP(t, "neigh", "replace", f.Gateway4.String(), "lladdr", mac, "dev", "hbp0", "nud", "reachable")
	before := e.Stats().TxPacket
	deadline := time.Now().Add(tableRefresh / 3)
	for got := round(); got != len(ts); got = round() {
		if time.Now().After(deadline) {
			t.Fatalf("after the gateway's MAC changed: %d of %d answered after %v", got, len(ts), tableRefresh/3)
		}
	}
	if e.Stats().TxPacket == before {
		t.Fatal("no frames sent after the change")
	}
}
