// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// The IPv6 frame putFrame6 builds equals, for 2,000 random sources,
// destinations and probes, the frame testutil.Frame builds (checksum in
// full over the pseudo-header), and its ICMPv6 message equals the one
// golang.org/x/net/icmp marshals with its own IPv6 pseudo-header: two
// encoders that share no code with the incremental one.
func TestPutFrame6MatchesEncoders(t *testing.T) {
	probe := template(kindICMP6, 0xbeef, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, frame6HdrLn+icmpProbeLen)
	var tok wire.Token
	rand16 := func() (a [16]byte) {
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		return a
	}
	for i := range 2000 {
		src, dst := rand16(), rand16()
		if i == 0 {
			src, dst = [16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff}, src // carries
		}
		hop := l6hop{src: src, smac: [6]byte{2, 0, 0, 0, 0, 1}, dmac: [6]byte{2, 0, 0, 0, 0, 2}, hlim: uint8(1 + rng.IntN(255)), ok: true}
		hop.sum = ip6PseudoSum(hop.src, icmpProbeLen)
		seq := uint16(rng.Uint32())
		patchProbe(probe, kindICMP6, seq, rng.Uint64(), int64(rng.Uint64()>>1), &tok)
		probe[2], probe[3] = byte(i), byte(i>>8) // whatever the loop left there is ignored
		n := putFrame6(buf, &hop, dst, probe)
		got := buf[:n]
		want := testutil.Frame{DstMAC: hop.dmac, SrcMAC: hop.smac, Src: netip.AddrFrom16(src), Dst: netip.AddrFrom16(dst),
			TTL: hop.hlim, ID: 0xbeef, Seq: seq, Payload: probe[icmpHdrLen:]}.Bytes()
		if !bytes.Equal(got, want) {
			t.Fatalf("src %v dst %v:\n got %x\nwant %x", netip.AddrFrom16(src), netip.AddrFrom16(dst), got, want)
		}
		if err := testutil.VerifyChecksums(got); err != nil {
			t.Fatal(err)
		}
		m := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: 0xbeef, Seq: int(seq), Data: probe[icmpHdrLen:]}}
		xb, err := m.Marshal(icmp.IPv6PseudoHeader(net.IP(src[:]), net.IP(dst[:])))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[frame6HdrLn:], xb) {
			t.Fatalf("dst %v: ICMPv6 %x, x/net/icmp %x", netip.AddrFrom16(dst), got[frame6HdrLn:], xb)
		}
	}
}

// Golden bytes of one IPv6 frame, so a change to the layout shows in review.
func TestPutFrame6Golden(t *testing.T) {
	src := netip.MustParseAddr("2001:2:ffff::1").As16()
	hop := l6hop{src: src, smac: [6]byte{2, 0, 0, 0, 0, 1}, dmac: [6]byte{2, 0, 0, 0, 0, 2}, hlim: 64}
	hop.sum = ip6PseudoSum(hop.src, 8)
	b := make([]byte, frame6HdrLn+8)
	n := putFrame6(b, &hop, netip.MustParseAddr("2001:2::1").As16(), []byte{128, 0, 0, 0, 0, 1, 0, 1})
	want := strings.Join(strings.Fields(`
020000000002 020000000001 86dd
6000 0000 0008 3a40 20010002ffff00000000000000000001 20010002000000000000000000000001
8000 3fb3 0001 0001`), "")
	if got := hex.EncodeToString(b[:n]); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func a16(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// Source selection as the kernel ranks it (ipv6_dev_get_saddr), case by
// case; TestPacketTx6SourceMatchesKernel checks it against the kernel.
func TestSelectSrc6(t *testing.T) {
	tab := l6tables{addrs: []addr6{
		{ifindex: 1, ip: a16("::1"), bits: 128},
		{ifindex: 2, ip: a16("2001:2:1::1"), bits: 64},
		{ifindex: 2, ip: a16("2001:2:2::1"), bits: 64},
		{ifindex: 2, ip: a16("2001:2:4::1"), bits: 64, deprecated: true},
		{ifindex: 2, ip: a16("2001:2:5::1"), bits: 64, tentative: true},
		{ifindex: 2, ip: a16("2001:2:6::1"), bits: 64, temporary: true},
		{ifindex: 2, ip: a16("2001:2:6::2"), bits: 64},
		{ifindex: 2, ip: a16("fc00::1"), bits: 64},
		{ifindex: 2, ip: a16("fe80::1"), bits: 64},
		{ifindex: 3, ip: a16("2001:2:9::1"), bits: 64},
		{ifindex: 3, ip: a16("fe80::3"), bits: 64},
		{ifindex: 4, ip: a16("2001:2:7:8000::1"), bits: 64},
		{ifindex: 4, ip: a16("2001:2:7:0:1::1"), bits: 48},
	}}
	for _, c := range []struct {
		dst  string
		oif  int32
		want string
	}{
		{"2001:2:1::77", 2, "2001:2:1::1"}, // longest prefix
		{"2001:2:2::77", 2, "2001:2:2::1"},
		{"2001:2:4::77", 2, "2001:2:6::2"},   // deprecated loses: then public, then prefix
		{"2001:2:5::77", 2, "2001:2:6::2"},   // tentative never (2001:2:5::1)
		{"2001:2:8000::1", 2, "2001:2:1::1"}, // ties go to the first
		{"2001:2:6::77", 2, "2001:2:6::2"},   // public before temporary
		{"2001:2:9::77", 2, "2001:2:1::1"},   // the egress link's address before a longer prefix elsewhere
		{"2001:2:9::77", 3, "2001:2:9::1"},
		{"2001:2:7:0:1::9", 4, "2001:2:7:8000::1"}, // prefix capped at the address's /48: a tie
		{"fc00::9", 2, "fc00::1"},                  // same label (unique-local)
		{"fe80::9", 3, "fe80::3"},                  // link-local: only the egress link's
		{"fe80::9", 9, ""},
	} {
		got, ok := tab.selectSrc6(a16(c.dst), c.oif)
		if s := netip.AddrFrom16(got).String(); c.want == "" && ok || c.want != "" && s != c.want {
			t.Errorf("%s via %d: %v (%v), want %q", c.dst, c.oif, netip.AddrFrom16(got), ok, c.want)
		}
	}
	// No global address at all: a link-local one, the scope rule's last resort.
	ll := l6tables{addrs: []addr6{{ifindex: 2, ip: a16("fe80::1"), bits: 64}}}
	if got, ok := ll.selectSrc6(a16("2001:2::1"), 2); !ok || got != a16("fe80::1") {
		t.Errorf("only link-local: %v %v", netip.AddrFrom16(got), ok)
	}
}

func TestHopFor6(t *testing.T) {
	macGW, macLL, macOn := [6]byte{2, 0, 0, 0, 0, 0xa}, [6]byte{2, 0, 0, 0, 0, 0xc}, [6]byte{2, 0, 0, 0, 0, 0xb}
	tab := l6tables{
		routes: []route6{
			{gw: a16("2001:2:ffff::9"), oif: 2, prio: 1024},
			{gw: a16("2001:2:ffff::2"), oif: 2, prio: 100}, // lower metric wins
			{dst: a16("2001:2:ffff::"), bits: 64, oif: 2, prio: 256},
			{dst: a16("2001:2::"), bits: 48, gw: a16("fe80::2"), oif: 2, prio: 1024},
			{dst: a16("2001:2:0:6::"), bits: 64, gw: a16("2001:2:ffff::2"), oif: 2, src: a16("2001:2:ffff::77")},
			{dst: a16("2001:2:0:5::"), bits: 64, oif: 2, other: true}, // blackhole inside
			// ECMP siblings, as older kernels dump them.
			{dst: a16("2001:2:0:7::"), bits: 64, gw: a16("2001:2:ffff::2"), oif: 2, prio: 1024},
			{dst: a16("2001:2:0:7::"), bits: 64, gw: a16("2001:2:ffff::9"), oif: 2, prio: 1024},
			{dst: a16("::1"), bits: 128, oif: 1, prio: 256},
			{dst: a16("2001:2:eeee::"), bits: 64, oif: 3},
			{dst: a16("2001:2:dddd::"), bits: 64, oif: 4},
			// The local table wins whatever the prefix length.
			{dst: a16("::1"), bits: 128, oif: 1, other: true, local: true},
			{dst: a16("2001:2:ffff::1"), bits: 128, oif: 2, other: true, local: true},
			{dst: a16("2001:2:ffff::"), bits: 128, oif: 2, other: true, local: true}, // subnet-router anycast
		},
		links: map[int32]l2link{
			1: {name: "lo"},
			2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}},
			3: {name: "eth1", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 3}},
			4: {name: "wg0"},
		},
		addrs: []addr6{
			{ifindex: 2, ip: a16("2001:2:ffff::1"), bits: 64},
			{ifindex: 2, ip: a16("fe80::1"), bits: 64},
		},
		neigh: map[neigh6Key][6]byte{
			{2, a16("2001:2:ffff::2")}:  macGW,
			{2, a16("fe80::2")}:         macLL,
			{2, a16("2001:2:ffff::33")}: macOn,
			{3, a16("fe80::2")}:         macOn, // same address, other link: not ours
		},
		hlim: 33,
	}
	tab.sortRoutes()
	for _, c := range []struct {
		dst, nh, src string
		ok           bool
		mac          [6]byte
		why          string
	}{
		{dst: "2001:db8::1", nh: "2001:2:ffff::2", src: "2001:2:ffff::1", ok: true, mac: macGW}, // default, lowest metric
		{dst: "2001:2:ffff::33", nh: "2001:2:ffff::33", src: "2001:2:ffff::1", ok: true, mac: macOn},
		{dst: "2001:2:ffff::34", nh: "2001:2:ffff::34", why: "neighbour 2001:2:ffff::34 on eth0 not resolved"},
		{dst: "2001:2::5", nh: "fe80::2", src: "2001:2:ffff::1", ok: true, mac: macLL},             // link-local gateway
		{dst: "2001:2:0:6::1", nh: "2001:2:ffff::2", src: "2001:2:ffff::77", ok: true, mac: macGW}, // prefsrc
		{dst: "2001:2:0:5::1", nh: "2001:2:0:5::1", why: "not a unicast route"},
		{dst: "2001:2:0:7::1", nh: "2001:2:0:7::1", why: "not a unicast route"},
		{dst: "::1", nh: "::1", why: "a local, anycast or multicast address"},
		{dst: "2001:2:ffff::1", nh: "2001:2:ffff::1", why: "a local, anycast or multicast address"},
		{dst: "2001:2:ffff::", nh: "2001:2:ffff::", why: "a local, anycast or multicast address"},
		{dst: "fe80::2", nh: "fe80::2", why: "a link-local or multicast destination"},
		{dst: "ff02::1", nh: "ff02::1", why: "a link-local or multicast destination"},
		{dst: "2001:2:eeee::1", nh: "2001:2:eeee::1", why: "neighbour 2001:2:eeee::1 on eth1 not resolved"}, // source from eth0's address
		{dst: "2001:2:dddd::1", nh: "2001:2:dddd::1", why: "interface wg0 is not Ethernet"},
	} {
		h := tab.hopFor(a16(c.dst), icmpProbeLen)
		if h.ok != c.ok || h.fallback != c.why || netip.AddrFrom16(h.nh).String() != c.nh {
			t.Errorf("%s: ok %v nh %v fallback %q; want ok %v nh %s %q", c.dst, h.ok, netip.AddrFrom16(h.nh), h.fallback, c.ok, c.nh, c.why)
			continue
		}
		if c.ok && (h.dmac != c.mac || netip.AddrFrom16(h.src).String() != c.src || h.ifindex != 2 || h.smac != [6]byte{2, 0, 0, 0, 0, 1} ||
			h.hlim != 33 || h.sum != ip6PseudoSum(h.src, icmpProbeLen) || !h.framed) {
			t.Errorf("%s: %+v", c.dst, h)
		}
	}
	noAddr := l6tables{routes: []route6{{oif: 2}}, links: tab.links}
	if h := noAddr.hopFor(a16("2001:2::1"), 8); h.ok || h.framed || h.fallback != "no usable IPv6 source address for eth0" {
		t.Errorf("no address: %+v", h)
	}
	if h := (&l6tables{}).hopFor(a16("2001:2::1"), 8); h.ok || h.fallback != "no route" {
		t.Errorf("no routes: %+v", h)
	}
	// The hop limit as ip6_dst_hoplimit picks it: the route's metric, the
	// egress link's, the namespace's.
	prec := l6tables{routes: []route6{{dst: a16("2001:2:1::"), bits: 64, oif: 2, hlim: 9}, {dst: a16("2001:2:2::"), bits: 64, oif: 2}, {oif: 3}},
		links: tab.links, addrs: tab.addrs, hlimIf: map[int32]uint8{2: 77}, hlim: 99}
	prec.sortRoutes()
	for d, want := range map[string]uint8{"2001:2:1::1": 9, "2001:2:2::1": 77, "2001:2:3::1": 99} {
		if h := prec.hopFor(a16(d), 8); h.hlim != want || !h.framed {
			t.Errorf("%s: hop limit %d, want %d (%+v)", d, h.hlim, want, h)
		}
	}
	// Without a hop limit read from the socket, the kernel's default.
	dflt := l6tables{routes: []route6{{oif: 2}}, links: tab.links, addrs: tab.addrs}
	if h := dflt.hopFor(a16("2001:2::1"), 8); h.hlim != defHopLimit6 || !h.framed {
		t.Errorf("default hop limit: %+v", h)
	}
}

func TestPrefixHelpers(t *testing.T) {
	for _, c := range []struct {
		a, p string
		n    uint8
		want bool
	}{
		{"2001:2::1", "::", 0, true},
		{"2001:2::1", "2001:2::", 48, true},
		{"2001:3::1", "2001:2::", 48, false},
		{"2001:2:8000::", "2001:2::", 33, false},
		{"2001:2:7fff::", "2001:2::", 33, true},
		{"2001:2::1", "2001:2::1", 128, true},
		{"2001:2::1", "2001:2::2", 128, false},
	} {
		if got := prefixMatch(a16(c.a), a16(c.p), c.n); got != c.want {
			t.Errorf("prefixMatch(%s, %s/%d) = %v", c.a, c.p, c.n, got)
		}
	}
	if n := commonBits(a16("2001:2::1"), a16("2001:2::1")); n != 128 {
		t.Errorf("commonBits equal = %d", n)
	}
	if n := commonBits(a16("2001:2:1::"), a16("2001:2:3::")); n != 46 {
		t.Errorf("commonBits = %d, want 46", n)
	}
	if n := commonBits(a16("2001:2::1"), a16("2001:2::3")); n != 126 {
		t.Errorf("commonBits = %d, want 126", n)
	}
	for s, want := range map[string]int{"::1": 1, "fe80::1": 2, "fec0::1": 5, "2001:2::1": 14, "fc00::1": 14, "ff02::1": 2, "ff0e::1": 14} {
		if got := scope6(a16(s)); got != want {
			t.Errorf("scope6(%s) = %d, want %d", s, got, want)
		}
	}
	for s, want := range map[string]int{"::1": 0, "2001:2::1": 1, "2002::1": 2, "::5": 3, "::ffff:198.18.0.1": 4, "fc00::1": 5, "fd00::1": 5, "2001::1": 6, "2001:10::1": 7, "fec0::1": 11, "3ffe::1": 12} {
		if got := label6(a16(s)); got != want {
			t.Errorf("label6(%s) = %d, want %d", s, got, want)
		}
	}
}

// rtmsg6 builds an RTM_NEWROUTE body with netlink.AttributeEncoder (an
// encoder independent of the decoder under test).
func rtmsg6(t *testing.T, dstLen, srcLen, table, typ uint8, attrs func(*netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{afInet6, dstLen, srcLen, 0, table, 3, 0, typ, 0, 0, 0, 0}, b...)
}

func TestParseRoute6(t *testing.T) {
	gw, dst, src := a16("fe80::2"), a16("2001:2:0:3::"), a16("2001:2:ffff::1")
	full := rtmsg6(t, 64, 0, 254, 1, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(rtaDst, dst[:])
		ae.Bytes(rtaGateway, gw[:])
		ae.Bytes(rtaPrefSrc, src[:])
		ae.Uint32(rtaOIF, 7)
		ae.Uint32(rtaPriority, 1024)
		ae.Uint32(rtaTable, 254)
		ae.Nested(rtaMetrics, func(m *netlink.AttributeEncoder) error {
			m.Uint32(2, 1400) // RTAX_MTU
			m.Uint32(rtaxHopLimit, 9)
			return nil
		})
	})
	r, table, ok := parseRoute6(full)
	want := route6{dst: dst, bits: 64, gw: gw, oif: 7, src: src, prio: 1024, hlim: 9}
	if !ok || table != 254 || r != want {
		t.Errorf("full: %+v table %d ok %v; want %+v", r, table, ok, want)
	}
	// RTA_TABLE (32 bits) overrides rtm_table.
	if _, table, ok := parseRoute6(rtmsg6(t, 0, 0, 252, 1, func(ae *netlink.AttributeEncoder) { ae.Uint32(rtaTable, 1000) })); !ok || table != 1000 {
		t.Errorf("table %d ok %v, want 1000", table, ok)
	}
	for name, b := range map[string][]byte{
		"blackhole":  rtmsg6(t, 64, 0, 254, 6, func(*netlink.AttributeEncoder) {}),
		"from route": rtmsg6(t, 64, 56, 254, 1, func(*netlink.AttributeEncoder) {}),
		"multipath": rtmsg6(t, 64, 0, 254, 1, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(rtaMultipath, make([]byte, 8))
		}),
	} {
		if r, _, ok := parseRoute6(b); !ok || !r.other {
			t.Errorf("%s: %+v ok %v, want other", name, r, ok)
		}
	}
	v4 := append([]byte(nil), full...)
	v4[0] = 2
	for name, b := range map[string][]byte{
		"IPv4":          v4,
		"short":         full[:8],
		"bad attribute": append(rtmsg6(t, 0, 0, 254, 1, func(*netlink.AttributeEncoder) {}), 0xff, 0, 1),
		"short gateway": rtmsg6(t, 0, 0, 254, 1, func(ae *netlink.AttributeEncoder) { ae.Bytes(rtaGateway, []byte{1, 2, 3, 4}) }),
	} {
		if _, _, ok := parseRoute6(b); ok {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestParseLinkHopLimit(t *testing.T) {
	link := func(ifindex uint32, conf []int32, withConf bool) []byte {
		ae := netlink.NewAttributeEncoder()
		ae.String(3, "eth0") // IFLA_IFNAME
		ae.Nested(iflaProtInfo, func(n *netlink.AttributeEncoder) error {
			n.Uint32(1, 0x80000000) // IFLA_INET6_FLAGS
			if withConf {
				b := make([]byte, 4*len(conf))
				for i, v := range conf {
					binary.NativeEndian.PutUint32(b[4*i:], uint32(v))
				}
				n.Bytes(iflaInet6Conf, b)
			}
			return nil
		})
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		h := make([]byte, ifinfomsgLen)
		h[0] = afInet6
		binary.NativeEndian.PutUint32(h[4:], ifindex)
		return append(h, b...)
	}
	if i, h, ok := parseLinkHopLimit(link(7, []int32{0, 77, 1500}, true)); !ok || i != 7 || h != 77 {
		t.Errorf("got %d %d %v, want 7 77 true", i, h, ok)
	}
	for name, b := range map[string][]byte{
		"no conf":   link(7, nil, false),
		"short":     link(7, []int32{0}, true),
		"zero":      link(7, []int32{0, 0}, true),
		"too large": link(7, []int32{0, 300}, true),
		"header":    make([]byte, 8),
	} {
		if _, _, ok := parseLinkHopLimit(b); ok {
			t.Errorf("%s: parsed", name)
		}
	}
}
