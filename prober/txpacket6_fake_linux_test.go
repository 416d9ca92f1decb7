// SPDX-License-Identifier: MIT

package prober

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/wire"
)

// The IPv6 pktSock over two fake sockets, as TestPktSockOrderAndKeys: 300
// probes in random runs behind a link-local gateway (frames, each with
// valid ICMPv6 checksums, the gateway's MAC and sll_protocol ETH_P_IPV6)
// or on-link and unresolved (the raw ICMPv6 socket) leave in order on the
// right socket across short sends, and every TX stamp's rewritten key
// names its own probe.
func TestPktSock6OrderAndKeys(t *testing.T) {
	gwMAC := [6]byte{2, 0, 0, 0, 0, 0x66}
	fp := &fakeTxSock{frames: true, level: solPacket, typ: packetTxTimestamp, max: 5, t: t, wantMAC: gwMAC}
	fr := &fakeTxSock{level: solIPv6, typ: ipv6RecvErr, max: 4, t: t}
	p := &pktSock{raw: fr, pkt: fp, plen: icmpProbeLen, stats: &counters{}, v6: true,
		hopIdx6: map[hop6Key]int32{}, byDst6: map[[16]byte]int32{}}
	p.initBuffers()
	p.tab6 = l6tables{
		routes: []route6{
			{dst: a16("2001:2::"), bits: 48, gw: a16("fe80::1"), oif: 2, prio: 1024},
			{dst: a16("2001:2:ffff::"), bits: 64, oif: 2, prio: 256},
		},
		links: map[int32]l2link{2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}}},
		addrs: []addr6{{ifindex: 2, ip: a16("2001:2:ffff::5"), bits: 64}, {ifindex: 2, ip: a16("fe80::5"), bits: 64}},
		neigh: map[neigh6Key][6]byte{{2, a16("fe80::1")}: gwMAC}, // the gateway; no on-link host resolved
	}
	p.tab6.sortRoutes()

	rng := rand.New(rand.NewPCG(7, 8))
	const n = 300
	var dsts []netip.Addr
	for len(dsts) < n {
		run := 1 + rng.IntN(9)
		onlink := rng.IntN(2) == 0
		for range run {
			if onlink {
				dsts = append(dsts, netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 0xff, 0xff, 15: byte(10 + rng.IntN(200))}))
			} else {
				dsts = append(dsts, netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 0, 0, 6: byte(rng.IntN(256)), 13: byte(rng.IntN(2)), 14: byte(rng.IntN(256)), 15: byte(rng.IntN(256))}))
			}
		}
	}
	dsts = dsts[:n]
	msgs := probeMsgs(kindICMP6, dsts)
	for off := 0; off < n; {
		k, err := p.sendmmsg(msgs[off:])
		if err != nil || k <= 0 {
			t.Fatalf("sendmmsg at %d: %d, %v", off, k, err)
		}
		off += k
	}
	var wantPkt, wantRaw []netip.Addr
	for _, d := range dsts {
		if d.As16()[4] == 0xff {
			wantRaw = append(wantRaw, d)
		} else {
			wantPkt = append(wantPkt, d)
		}
	}
	if !slicesEqual(fp.sent, wantPkt) || !slicesEqual(fr.sent, wantRaw) {
		t.Fatalf("frames %d (want %d), raw %d (want %d), or out of order", len(fp.sent), len(wantPkt), len(fr.sent), len(wantRaw))
	}
	if st := p.stats.snapshot(); st.TxPacket != uint64(len(wantPkt)) || st.TxFallback != uint64(len(wantRaw)) {
		t.Errorf("counters: %d frames, %d fallbacks", st.TxPacket, st.TxFallback)
	}
	if w := p.fallbackReason(); !slices.ContainsFunc(wantRaw, func(a netip.Addr) bool { return w == "neighbour "+a.String()+" on eth0 not resolved" }) {
		t.Errorf("fallback reason %q", w)
	}
	seen := make([]bool, n)
	b := newRxBatch(16)
	for {
		b.reset()
		k, err := p.recvmmsg(b.msg, unix.MSG_ERRQUEUE)
		if err != nil || k == 0 {
			break
		}
		for i := range k {
			_, ctl, _ := b.data(i)
			c := parseCmsgs(ctl)
			key := c.err.data
			if !c.hasErr || key >= n || seen[key] {
				t.Fatalf("stamp %+v: bad or repeated key", c)
			}
			seen[key] = true
			if c.ts != stampOf(dsts[key]) {
				t.Fatalf("key %d names the stamp %d, want %v's", key, c.ts, dsts[key])
			}
		}
	}
	for k, ok := range seen {
		if !ok {
			t.Fatalf("no stamp for message %d", k)
		}
	}
	// The hops: one per (link, next hop, source) for the frames.
	framed := 0
	for _, h := range p.hops6 {
		if h.framed {
			framed++
			if h.src != a16("2001:2:ffff::5") || h.hlim != defHopLimit6 {
				t.Errorf("hop %+v: source or hop limit", h)
			}
		}
	}
	if framed < 2 {
		t.Errorf("%d framed hops, want the gateway's and the on-link ones", framed)
	}
}

// TestPktSockTargetHopCache for IPv6: the target cache gives the frame its
// hop, an index that names another address does not reuse it, and
// setTargets forgets it.
func TestPktSock6TargetHopCache(t *testing.T) {
	gwMAC := [6]byte{2, 0, 0, 0, 0, 0x66}
	fp := &fakeTxSock{frames: true, level: solPacket, typ: packetTxTimestamp, t: t, wantMAC: gwMAC}
	fr := &fakeTxSock{level: solIPv6, typ: ipv6RecvErr, t: t}
	p := &pktSock{raw: fr, pkt: fp, plen: icmpProbeLen, stats: &counters{}, v6: true,
		hopIdx6: map[hop6Key]int32{}, byDst6: map[[16]byte]int32{}}
	p.initBuffers()
	p.tab6 = l6tables{
		routes: []route6{
			{dst: a16("2001:2::"), bits: 48, gw: a16("fe80::1"), oif: 2, prio: 1024},
			{dst: a16("2001:2:ffff::"), bits: 64, oif: 2, prio: 256},
		},
		links: map[int32]l2link{2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}}},
		addrs: []addr6{{ifindex: 2, ip: a16("2001:2:ffff::5"), bits: 64}, {ifindex: 2, ip: a16("fe80::5"), bits: 64}},
		neigh: map[neigh6Key][6]byte{{2, a16("fe80::1")}: gwMAC},
	}
	p.tab6.sortRoutes()
	p.setTargets(tgtsOf("2001:2::5", "2001:2::5"))
	send := func(addr string, target int32) {
		t.Helper()
		sa, salen := sockaddr(netip.MustParseAddr(addr), 0)
		buf := template(kindICMP6, 0x4242, 0)
		var tok wire.Token
		patchProbe(buf, kindICMP6, 1, 1, 1, &tok)
		var iov unix.Iovec
		iov.Base = &buf[0]
		iov.SetLen(len(buf))
		msgs := make([]unix.Mmsghdr, 1)
		msgs[0].Hdr.Iov = &iov
		msgs[0].Hdr.SetIovlen(1)
		msgs[0].Hdr.Name = &sa[0]
		msgs[0].Hdr.Namelen = salen
		p.hint = []int32{target}
		if n, err := p.sendmmsg(msgs); n != 1 || err != nil {
			t.Fatalf("sendmmsg %s: %d, %v", addr, n, err)
		}
		p.hint = nil
	}
	send("2001:2::5", 0)
	if len(fp.sent) != 1 || fp.sent[0] != netip.MustParseAddr("2001:2::5") || p.tt[0].hop == 0 || len(p.byDst6) != 0 {
		t.Fatalf("frames %v, cache %+v, byDst6 %v", fp.sent, p.tt[0], p.byDst6)
	}
	send("2001:2:ffff::7", 0) // on-link, unresolved: the raw socket
	if len(fr.sent) != 1 || len(fp.sent) != 1 {
		t.Fatalf("2001:2:ffff::7 at a cached index: raw %v, frames %v", fr.sent, fp.sent)
	}
	for i := range p.tab6.routes {
		if p.tab6.routes[i].bits == 48 {
			p.tab6.routes[i].other = true
		}
	}
	p.setTargets(tgtsOf("2001:2::5", "2001:2::5"))
	send("2001:2::5", 0)
	if len(fr.sent) != 2 || len(fp.sent) != 1 {
		t.Fatalf("after setTargets and a route change: raw %v, frames %v", fr.sent, fp.sent)
	}
}
