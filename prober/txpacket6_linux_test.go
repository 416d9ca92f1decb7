// SPDX-License-Identifier: MIT

package prober

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
)

// fleet6 is the default fleet plus two IPv6 prefixes the hosts answer:
// one the prober reaches through a link-local gateway, one through a
// multipath route.
var fleet6 = testutil.FleetConfig{
	Local: append(slices.Clone(testutil.DefaultFleet.Local),
		netip.MustParsePrefix("2001:2:0:3::/64"), netip.MustParsePrefix("2001:2:0:4::/64")),
	Unreachable: testutil.DefaultFleet.Unreachable,
	Blackhole:   testutil.DefaultFleet.Blackhole,
}

// kernelSrc6 is the source address and hop limit the kernel picks for dst
// inside ns: a connected UDP socket's local address and IPV6_UNICAST_HOPS
// (ip6_dst_hoplimit of its route; connect sends nothing).
func kernelSrc6(t *testing.T, ns *testutil.Netns, dst netip.Addr) (netip.Addr, uint8) {
	t.Helper()
	var src netip.Addr
	var hlim int
	if err := ns.Do(func() error {
		c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		src = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			hlim, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS)
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		t.Fatalf("kernel source for %v: %v", dst, err)
	}
	return src, uint8(hlim)
}

// The AF_PACKET transmit path for IPv6 end to end in a namespace pair, as
// TestPacketTxEndToEnd for IPv4: targets behind the fleet's router
// (frames to the gateway's MAC from the NDP table), targets behind a
// link-local (fe80::) gateway, the gateway itself (on-link), an on-link
// host whose neighbour entry does not exist yet (its first probe falls
// back to the raw ICMPv6 socket, whose send makes the kernel run neighbour
// discovery; the next ones go as frames), an on-link address that never
// resolves, targets behind a multipath route, and ::1 and the prober's own
// address (the local table, ahead of a default route in the main one):
// every answered probe must be measured kernel-tx-rx, and each frame's
// source address must be the one the kernel picks.
func TestPacketTx6EndToEnd(t *testing.T) {
	f := testutil.NewFleet(t, fleet6)
	f.Prober.AddAddr(t, "hbp0", netip.MustParsePrefix("2001:2:fffe::1/64"))
	f.Hosts.AddAddr(t, "hbf0", netip.MustParsePrefix("2001:2:fffe::2/64"))
	f.Hosts.AddAddr(t, "hbf0", netip.MustParsePrefix("fe80::2/64"))
	f.Prober.MustIP(t, "-6", "route", "add", "2001:2:0:3::/64", "via", "fe80::2", "dev", "hbp0", "hoplimit", "9")
	f.Prober.MustIP(t, "-6", "route", "add", "2001:2:0:4::/64", "nexthop", "via", f.Gateway6.String(), "dev", "hbp0", "nexthop", "via", "fe80::2", "dev", "hbp0")
	f.Prober.MustIP(t, "-6", "route", "add", "default", "via", f.Gateway6.String())
	if out, err := f.Prober.Command("ping", "-6", "-c1", "-W2", "fe80::2%hbp0").CombinedOutput(); err != nil {
		t.Fatalf("ping the link-local gateway: %v: %s", err, out)
	}
	// Hop limits: the link's, the namespace's (for links without one)
	// and the route's metric above, each different.
	f.Prober.Sysctl(t, "net.ipv6.conf.hbp0.hop_limit", "77")
	f.Prober.Sysctl(t, "net.ipv6.conf.all.hop_limit", "99")
	behind := testutil.FleetAddrs(t, netip.MustParsePrefix("2001:2::/64"), 500)
	viaLL := testutil.FleetAddrs(t, netip.MustParsePrefix("2001:2:0:3::/64"), 100)
	multi := testutil.FleetAddrs(t, netip.MustParsePrefix("2001:2:0:4::/64"), 2)
	late := netip.MustParseAddr("2001:2:fffe::2")
	never := netip.MustParseAddr("2001:2:fffe::9")
	lo := netip.MustParseAddr("::1")
	own := netip.MustParseAddr("2001:2:ffff::1")
	ts := targetsOf(behind, viaLL, multi, []netip.Addr{f.Gateway6, late, lo, own, never})

	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv6: true, TX: TXPacket})
	if e.Mode().TX != TXPacket || !strings.Contains(e.Mode().Reason, "IPv6 probes sent as Ethernet frames") || !strings.Contains(e.Mode().Reason, "hbp0") {
		t.Fatalf("mode %v", e.Mode())
	}
	ps := e.conns[1].sk.(*pktSock)
	// This kernel has PACKET_TX_RING: the frames (and their stamps,
	// checked below) go through it.
	if _, ok := ps.pkt.(*txRing); !ok || !strings.Contains(e.Mode().Reason, "PACKET_TX_RING, one send") {
		t.Fatalf("no transmit ring: %v", e.Mode().Reason)
	}
	if ps.tab6.hlim != 99 || ps.tab6.hlimIf[ps.hop6(f.Gateway6.As16()).ifindex] != 77 {
		t.Errorf("hop limits: namespace %d, links %v; want 99 and hbp0's 77", ps.tab6.hlim, ps.tab6.hlimIf)
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
	// Fallbacks: ::1, the own address, the unresolvable address and the
	// multipath targets every time, the late neighbour at least once and
	// not every time.
	minFB, maxFB := uint64((3+len(multi))*count+1), uint64((4+len(multi))*count-1)
	if st.TxFallback < minFB || st.TxFallback > maxFB {
		t.Errorf("%d probes fell back to the raw socket, want %d..%d", st.TxFallback, minFB, maxFB)
	}
	if st.TxPacket+st.TxFallback != st.Sent || st.TxPacket < uint64(count*(len(behind)+len(viaLL)+1)) {
		t.Errorf("packet %d + fallback %d != sent %d, or too few frames", st.TxPacket, st.TxFallback, st.Sent)
	}
	// The unresolvable address's probes wait in the neighbour queue: no stamps.
	if st.TxStamps != st.Sent-count || st.TxMissing != 0 || st.BadCookie != 0 || st.Duplicates != 0 {
		t.Errorf("TX stamps %d of %d sent, %d missing; counters %+v", st.TxStamps, st.Sent, st.TxMissing, st)
	}
	if why := ps.fallbackReason(); why == "" {
		t.Error("no fallback reason recorded")
	} else {
		t.Logf("last fallback: %s", why)
	}
	// Each framed hop's source, hop limit and next hop, against the kernel's.
	for _, c := range []struct {
		dst, nh netip.Addr
		hlim    uint8
	}{
		{behind[0], f.Gateway6, 77}, {viaLL[0], netip.MustParseAddr("fe80::2"), 9}, {f.Gateway6, f.Gateway6, 77}, {late, late, 77},
	} {
		h := ps.hop6(c.dst.As16())
		if !h.ok || netip.AddrFrom16(h.nh) != c.nh {
			t.Errorf("%v: hop %+v, want a resolved next hop %v", c.dst, h, c.nh)
		}
		src, hlim := kernelSrc6(t, f.Prober, c.dst)
		if got := netip.AddrFrom16(h.src); got != src || h.hlim != hlim || h.hlim != c.hlim {
			t.Errorf("%v: frames from %v with hop limit %d, the kernel sends from %v with %d (want %d)", c.dst, got, h.hlim, src, hlim, c.hlim)
		}
	}
	for _, a := range []netip.Addr{multi[0], lo, own, never} {
		if h := ps.hop6(a.As16()); h.ok {
			t.Errorf("%v: framed (%+v), want the raw socket", a, h)
		}
	}
}

// Source selection against the kernel's on a host with several addresses
// per link, a deprecated one, a preferred source on a route, prefixes of
// different lengths and two links: for every destination, the source a
// frame would carry is the one a connected socket gets.
func TestPacketTx6SourceMatchesKernel(t *testing.T) {
	a, b, c := testutil.NewNetns(t), testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hbs0", netip.MustParsePrefix("2001:2:1::1/64"), b, "hbs1", netip.MustParsePrefix("2001:2:1::ff/64"))
	testutil.NewVeth(t, a, "hbt0", netip.MustParsePrefix("2001:2:9::1/64"), c, "hbt1", netip.MustParsePrefix("2001:2:9::ff/64"))
	for _, p := range []string{"2001:2:2::1/64", "2001:2:4:8000::1/64", "2001:2:4:0:1::1/48", "2001:2:a::1/56"} {
		a.AddAddr(t, "hbs0", netip.MustParsePrefix(p))
	}
	a.MustIP(t, "addr", "add", "2001:2:3::1/64", "dev", "hbs0", "nodad", "preferred_lft", "0")
	a.MustIP(t, "-6", "route", "add", "default", "via", "2001:2:1::ff")
	a.MustIP(t, "-6", "route", "add", "2001:2:6::/64", "via", "2001:2:1::ff", "src", "2001:2:2::1")
	a.MustIP(t, "-6", "route", "add", "2001:2:5::/64", "via", "2001:2:9::ff")
	var e *Engine
	if err := a.Do(func() error {
		var err error
		e, err = New(Config{Socket: SocketRaw, IPv6: true, TX: TXPacket})
		return err
	}); err != nil {
		testutil.SkipIfPermission(t, "open the prober sockets", err)
		t.Fatal(err)
	}
	defer e.Close()
	ps := e.conns[1].sk.(*pktSock)
	for _, d := range []string{
		"2001:2:1::77", "2001:2:2::77", "2001:2:3::77", "2001:2:3:1::7", "2001:2:4:0:1::9", "2001:2:4:8000::9",
		"2001:2:5::7", "2001:2:6::7", "2001:2:7::7", "2001:2:8000::1", "2001:2:9::77", "2001:2:a:ff::1", "2001:2:1::ff",
	} {
		dst := netip.MustParseAddr(d)
		h := ps.hop6(dst.As16())
		if !h.framed {
			t.Errorf("%v: no frame path: %s", dst, h.fallback)
			continue
		}
		src, hlim := kernelSrc6(t, a, dst)
		if got := netip.AddrFrom16(h.src); got != src || h.hlim != hlim {
			t.Errorf("%v: source %v hop limit %d, the kernel's %v %d", dst, got, h.hlim, src, hlim)
		}
	}
}

// A blackhole route added while the engine runs silences its IPv6 target
// at once (the IPv6 route subscription), and removing it brings the target
// back, well inside the periodic refresh.
func TestPacketTx6FollowsRouteChanges(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	addrs := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[1], 4)
	ts := targetsOf(addrs)
	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv6: true, TX: TXPacket})
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
	until := func(what string, want []int) {
		t.Helper()
		var got []int
		for deadline := time.Now().Add(tableRefresh / 3); time.Now().Before(deadline); {
			if got = received(); slices.Equal(got, want) {
				return
			}
		}
		t.Fatalf("%s: received %v after %v (the periodic refresh is %v)", what, got, tableRefresh/3, tableRefresh)
	}
	until("every target up", []int{1, 1, 1, 1})
	before := e.Stats()
	cut := addrs[1].String() + "/128"
	f.Prober.MustIP(t, "-6", "route", "add", "blackhole", cut)
	until("the blackholed target silent, the others up", []int{1, 0, 1, 1})
	f.Prober.MustIP(t, "-6", "route", "del", "blackhole", cut)
	until("the target back", []int{1, 1, 1, 1})
	if st := e.Stats(); st.TxPacket == before.TxPacket || st.TxFallback == before.TxFallback {
		t.Errorf("frames %d→%d, fallbacks %d→%d: want both to grow", before.TxPacket, st.TxPacket, before.TxFallback, st.TxFallback)
	}
}

// BenchmarkSweep6 probes 32,768 simulated IPv6 hosts once with hb-probe
// --once, with --tx packet and --tx raw in turn on the same fleet, and
// reports each one's probes/s, CPU seconds (user+sys) and loss. Run it
// once: go test -run '^$' -bench Sweep6 -benchtime 1x ./prober (root).
func BenchmarkSweep6(b *testing.B) {
	const hosts = 32768
	fleet := testutil.FleetConfig{Local: []netip.Prefix{netip.MustParsePrefix("2001:2::/64")}}
	f := testutil.NewFleet(b, fleet)
	dir := b.TempDir()
	list := filepath.Join(dir, "targets")
	var buf bytes.Buffer
	for _, a := range testutil.FleetAddrs(b, fleet.Local[0], hosts) {
		fmt.Fprintln(&buf, a)
	}
	if err := os.WriteFile(list, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := testutil.BuildBinary(b, dir, "github.com/hbmon/hb/cmd/hb-probe")
	for range b.N {
		for _, tx := range []string{"packet", "raw"} {
			cmd := f.Prober.Command(bin, "--once", "--json", "--rate", "0", "--timeout", "500ms", "--tx", tx, "--targets", list)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			start := time.Now()
			_ = cmd.Run() // exit 1 when any target is lost
			wall := time.Since(start)
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			got := 0
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var j struct{ Received int }
				if json.Unmarshal(sc.Bytes(), &j) == nil && j.Received > 0 {
					got++
				}
			}
			report(b, "hb-tx-"+tx, hosts, got, wall, cpu)
			b.Logf("hb-probe --tx %s says: %s", tx, strings.TrimSpace(errOut.String()))
		}
	}
}

// A gateway whose MAC changes is followed from the NDP neighbour events,
// as TestPacketTxFollowsNeighbourChanges for IPv4: after the hosts side
// takes a new MAC and the prober's entry is replaced, the next rounds
// reach the targets again, well inside the periodic refresh.
func TestPacketTx6FollowsNeighbourChanges(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	ts := targetsOf(testutil.FleetAddrs(t, testutil.DefaultFleet.Local[1], 4))
	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 300 * time.Millisecond, Socket: SocketRaw, IPv6: true, TX: TXPacket})
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
	const mac = "02:00:5e:10:20:36"
	f.Hosts.MustIP(t, "link", "set", "dev", "hbf0", "address", mac)
	f.Prober.MustIP(t, "-6", "neigh", "replace", f.Gateway6.String(), "lladdr", mac, "dev", "hbp0", "nud", "reachable")
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
	if h := e.conns[1].sk.(*pktSock).hop6(ts[0].Addr.As16()); h.dmac != [6]byte{2, 0, 0x5e, 0x10, 0x20, 0x36} {
		t.Errorf("hop still to %x", h.dmac)
	}
}
