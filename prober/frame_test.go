// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// The frame putFrame builds equals the one testutil.Frame (an independent
// encoder, checksums computed in full) builds from the same fields, for
// many destinations and ids: the incremental IPv4 checksum is right.
func TestPutFrameMatchesEncoder(t *testing.T) {
	src := netip.MustParseAddr("198.19.255.1")
	hop := l2hop{src: src.As4(), smac: [6]byte{2, 0, 0, 0, 0, 1}, dmac: [6]byte{2, 0, 0, 0, 0, 2}, ok: true}
	hop.sum = ip4PartialSum(hop.src, icmpProbeLen)
	probe := template(kindICMP4, 0xbeef, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, frameHdrLn+icmpProbeLen)
	var tok wire.Token
	for i := range 2000 {
		dst := u4ip(rng.Uint32())
		if i == 0 {
			dst = [4]byte{255, 255, 255, 255} // carries in the sum
		}
		id, seq := uint16(rng.Uint32()), uint16(i)
		patchProbe(probe, kindICMP4, seq, rng.Uint64(), int64(rng.Uint64()>>1), &tok)
		n := putFrame(buf, &hop, dst, id, probe)
		got := buf[:n]
		want := testutil.Frame{DstMAC: hop.dmac, SrcMAC: hop.smac, Src: src, Dst: netip.AddrFrom4(dst),
			FragField: 0x4000, Type: icmp4Echo, ID: 0xbeef, Seq: seq, Payload: probe[icmpHdrLen:]}.Bytes()
		binary.BigEndian.PutUint16(want[ethHdrLen+4:], id) // testutil's id is fixed
		binary.BigEndian.PutUint16(want[ethHdrLen+10:], 0)
		binary.BigEndian.PutUint16(want[ethHdrLen+10:], wire.Checksum(want[ethHdrLen:frameHdrLn], 0))
		if !bytes.Equal(got, want) {
			t.Fatalf("dst %v id %#x:\n got %x\nwant %x", netip.AddrFrom4(dst), id, got, want)
		}
		if err := testutil.VerifyChecksums(got); err != nil {
			t.Fatal(err)
		}
	}
}

// Golden bytes of one frame, so a change to the layout shows in review.
func TestPutFrameGolden(t *testing.T) {
	hop := l2hop{src: [4]byte{198, 19, 255, 1}, smac: [6]byte{2, 0, 0, 0, 0, 1}, dmac: [6]byte{2, 0, 0, 0, 0, 2}}
	hop.sum = ip4PartialSum(hop.src, 8)
	b := make([]byte, frameHdrLn+8)
	n := putFrame(b, &hop, [4]byte{198, 18, 0, 1}, 0x0102, []byte{8, 0, 0xf7, 0xfd, 0, 1, 0, 1})
	want := strings.Join(strings.Fields(`
020000000002 020000000001 0800
4500 001c 0102 4000 4001 aeb6 c613ff01 c6120001
0800 f7fd 0001 0001`), "")
	if got := hex.EncodeToString(b[:n]); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHopFor(t *testing.T) {
	ip := func(s string) uint32 { return ip4u(netip.MustParseAddr(s).As4()) }
	macGW, macOn := [6]byte{2, 0, 0, 0, 0, 0xa}, [6]byte{2, 0, 0, 0, 0, 0xb}
	tab := l2tables{
		routes: []route4{
			{dst: 0, bits: 0, gw: ip("10.0.0.1"), oif: 2, prio: 100},
			{dst: 0, bits: 0, gw: ip("10.0.0.9"), oif: 2, prio: 50}, // lower metric wins
			{dst: ip("10.0.0.0"), bits: 24, oif: 2},
			{dst: ip("198.18.0.0"), bits: 15, gw: ip("10.0.0.2"), oif: 2, src: ip("10.0.0.77")},
			{dst: ip("198.18.5.0"), bits: 24, oif: 2, other: true}, // blackhole inside
			{dst: ip("127.0.0.0"), bits: 8, oif: 1},
			{dst: ip("192.0.2.0"), bits: 24, oif: 3},
			// The local table (own addresses, loopback) wins over any
			// main-table route, whatever its prefix length.
			{dst: ip("127.0.0.0"), bits: 8, oif: 1, other: true, local: true},
			{dst: ip("10.0.0.5"), bits: 32, oif: 2, other: true, local: true},
			{dst: ip("198.19.1.7"), bits: 31, oif: 2, gw: ip("10.0.0.2")},
		},
		links: map[int32]l2link{
			1: {name: "lo"},
			2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}, addr: ip("10.0.0.5")},
			3: {name: "eth1", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 3}},
		},
		neigh: map[neighKey][6]byte{
			{2, ip("10.0.0.9")}:  macGW,
			{2, ip("10.0.0.2")}:  macGW,
			{2, ip("10.0.0.33")}: macOn,
		},
	}
	tab.sortRoutes()
	for _, c := range []struct {
		dst, nh, src string
		ok           bool
		mac          [6]byte
		why          string
	}{
		{dst: "8.8.8.8", nh: "10.0.0.9", src: "10.0.0.5", ok: true, mac: macGW},    // default, lowest metric
		{dst: "10.0.0.33", nh: "10.0.0.33", src: "10.0.0.5", ok: true, mac: macOn}, // on-link
		{dst: "10.0.0.34", nh: "10.0.0.34", why: "neighbour 10.0.0.34 on eth0 not resolved"},
		{dst: "198.19.1.1", nh: "10.0.0.2", src: "10.0.0.77", ok: true, mac: macGW}, // via router, prefsrc
		{dst: "198.18.5.9", nh: "198.18.5.9", why: "not a unicast route"},           // longest prefix
		{dst: "127.0.0.1", nh: "127.0.0.1", why: "a local or broadcast address"},
		{dst: "10.0.0.5", nh: "10.0.0.5", why: "a local or broadcast address"}, // own address, on-link in main
		{dst: "198.19.1.7", nh: "10.0.0.2", src: "10.0.0.5", ok: true, mac: macGW},
		{dst: "192.0.2.1", nh: "192.0.2.1", why: "no IPv4 address on eth1"},
	} {
		h := tab.hopFor(netip.MustParseAddr(c.dst).As4(), icmpProbeLen)
		if h.ok != c.ok || h.fallback != c.why || netip.AddrFrom4(h.nh).String() != c.nh {
			t.Errorf("%s: ok %v nh %v fallback %q; want ok %v nh %s %q", c.dst, h.ok, netip.AddrFrom4(h.nh), h.fallback, c.ok, c.nh, c.why)
			continue
		}
		if c.ok && (h.dmac != c.mac || netip.AddrFrom4(h.src).String() != c.src || h.ifindex != 2 || h.smac != [6]byte{2, 0, 0, 0, 0, 1}) {
			t.Errorf("%s: %+v", c.dst, h)
		}
	}
	empty := l2tables{}
	if h := empty.hopFor([4]byte{1, 2, 3, 4}, 8); h.ok || h.fallback != "no route" {
		t.Errorf("no routes: %+v", h)
	}
}

func TestClassifyNetlink(t *testing.T) {
	msg := func(typ uint16, payload int) []byte {
		b := make([]byte, 16+payload)
		binary.NativeEndian.PutUint32(b, uint32(len(b)))
		binary.NativeEndian.PutUint16(b[4:], typ)
		return b
	}
	cat := func(ms ...[]byte) []byte {
		var out []byte
		for _, m := range ms {
			out = append(out, m...)
			for len(out)%4 != 0 {
				out = append(out, 0)
			}
		}
		return out
	}
	for _, c := range []struct {
		name        string
		b           []byte
		route, neig bool
	}{
		{"new route", cat(msg(24, 12)), true, false},
		{"link down", cat(msg(16, 16)), true, false},
		{"new address", cat(msg(20, 8)), true, false},
		{"new neighbour", cat(msg(28, 13)), false, true},
		{"del neighbour after a route", cat(msg(25, 12), msg(29, 13)), true, true},
		{"done/other", cat(msg(3, 4)), false, false},
		{"truncated", msg(28, 13)[:10], false, false},
		{"bad length", func() []byte { b := msg(24, 4); binary.NativeEndian.PutUint32(b, 999); return b }(), false, false},
	} {
		r, n := classifyNetlink(c.b)
		if r != c.route || n != c.neig {
			t.Errorf("%s: route %v neigh %v, want %v %v", c.name, r, n, c.route, c.neig)
		}
	}
}
