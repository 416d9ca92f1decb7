// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// fakeTxSock stands in for one of pktSock's kernel sockets (the packet
// socket or the raw one) so the send order and the OPT_ID key rewrite are
// checked without privileges, with short sends; the namespace test runs
// the real sockets. Each message sent queues a TX stamp keyed by this
// socket's own counter, as the kernel's OPT_ID does, whose timestamp is
// the destination address (so the test can tell which probe a rewritten
// key names).
type fakeTxSock struct {
	frames       bool // messages are Ethernet frames (else sockaddr + ICMP)
	level, typ   int32
	max          int // messages per call; 0 all
	key          uint32
	sent         []netip.Addr
	eq           [][]byte
	t            *testing.T
	wantMAC      [6]byte
	closed, errs int
	// bound is the interface a frame without a sockaddr_ll leaves by (0:
	// such a frame is an error); unnamed counts them. macOf, when set,
	// is the next hop's MAC of each interface (else wantMAC, interface 2).
	bound   int32
	unnamed int
	macOf   map[int32][6]byte
}

func (f *fakeTxSock) sendmmsg(msgs []unix.Mmsghdr) (int, error) {
	n := len(msgs)
	if f.max > 0 {
		n = min(n, f.max)
	}
	for i := range n {
		h := &msgs[i].Hdr
		b := unsafe.Slice(h.Iov.Base, h.Iov.Len)
		var dst netip.Addr
		if f.frames {
			if err := testutil.VerifyChecksums(b); err != nil {
				f.t.Errorf("frame %d: %v", len(f.sent), err)
			}
			et := binary.BigEndian.Uint16(b[12:])
			sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(h.Name))
			if h.Name == nil {
				if f.bound == 0 {
					f.t.Errorf("frame %d without a sockaddr_ll on an unbound socket", len(f.sent))
				}
				f.unnamed++
				sll = &unix.RawSockaddrLinklayer{Ifindex: f.bound, Protocol: htons(et), Addr: [8]byte(append(b[0:6:6], 0, 0))}
			}
			want, wantIf := f.wantMAC, int32(2)
			if m, ok := f.macOf[sll.Ifindex]; ok {
				want, wantIf = m, sll.Ifindex
			}
			if [6]byte(b[0:6]) != want || [6]byte(sll.Addr[:6]) != want || sll.Ifindex != wantIf {
				f.t.Errorf("frame %d to %x (sll %x, ifindex %d)", len(f.sent), b[0:6], sll.Addr[:6], sll.Ifindex)
			}
			if sll.Protocol != htons(et) {
				f.t.Errorf("frame %d: ethertype %#x, sll_protocol %#x", len(f.sent), et, htons(sll.Protocol))
			}
			dst = netip.AddrFrom4([4]byte(b[30:34]))
			if et == etherIPv6 {
				dst = netip.AddrFrom16([16]byte(b[38:54]))
			}
		} else {
			dst = sockaddrAddr(unsafe.Slice(h.Name, h.Namelen))
		}
		f.sent = append(f.sent, dst)
		f.eq = append(f.eq, fakeStamp(f.level, f.typ, f.key, stampOf(dst)))
		f.key++
	}
	return n, nil
}

// stampOf is the fake TX timestamp of a probe to a: the IPv4 address, or
// an IPv6 address's last 32 bits.
func stampOf(a netip.Addr) int64 {
	if a.Is4() {
		return int64(ip4u(a.As4()))
	}
	b := a.As16()
	return int64(binary.BigEndian.Uint32(b[12:]))
}

// fakeStamp is an error-queue message's control bytes: SO_TIMESTAMPING
// with ts, then a sock_extended_err (origin TIMESTAMPING) keyed key.
func fakeStamp(level, typ int32, key uint32, ts int64) []byte {
	ne := binary.NativeEndian
	hdr := cmsgAlign(longSize + 8)
	put := func(b []byte, l int, lv, ty int32) {
		if longSize == 8 {
			ne.PutUint64(b, uint64(l))
		} else {
			ne.PutUint32(b, uint32(l))
		}
		ne.PutUint32(b[longSize:], uint32(lv))
		ne.PutUint32(b[longSize+4:], uint32(ty))
	}
	tsLen := hdr + 3*2*longSize
	errLen := hdr + 16 + 16
	b := make([]byte, cmsgAlign(tsLen)+cmsgAlign(errLen))
	put(b, tsLen, solSocket, scmTimestampOld)
	if longSize == 8 {
		ne.PutUint64(b[hdr:], uint64(ts/1e9))
		ne.PutUint64(b[hdr+8:], uint64(ts%1e9))
	} else {
		ne.PutUint32(b[hdr:], uint32(ts/1e9))
		ne.PutUint32(b[hdr+4:], uint32(ts%1e9))
	}
	e := b[cmsgAlign(tsLen):]
	put(e, errLen, level, typ)
	ne.PutUint32(e[hdr:], uint32(unix.ENOMSG))
	e[hdr+4] = eeOriginTimestamping
	ne.PutUint32(e[hdr+12:], key)
	return b
}

func (f *fakeTxSock) recvmmsg(msgs []unix.Mmsghdr, flags int) (int, error) {
	if flags&unix.MSG_ERRQUEUE == 0 {
		return 0, unix.EAGAIN
	}
	n := min(len(msgs), len(f.eq))
	if n == 0 {
		return 0, unix.EAGAIN
	}
	for i := range n {
		h := &msgs[i].Hdr
		c := unsafe.Slice(h.Control, h.Controllen)
		h.SetControllen(copy(c, f.eq[i]))
		msgs[i].Len = 0
	}
	f.eq = f.eq[n:]
	return n, nil
}

func (f *fakeTxSock) close() error { f.closed++; return nil }

// pktSock sends the engine's messages in order, frames for targets with a
// resolved next hop and the raw socket for the rest, across short sends
// of both sockets; every TX stamp's key, rewritten, names the message the
// stamp belongs to in the order the loop handed them over.
func TestPktSockOrderAndKeys(t *testing.T) {
	gwMAC := [6]byte{2, 0, 0, 0, 0, 0x22}
	fp := &fakeTxSock{frames: true, level: solPacket, typ: packetTxTimestamp, max: 7, t: t, wantMAC: gwMAC}
	fr := &fakeTxSock{level: solIP, typ: ipRecvErr, max: 3, t: t}
	ip := func(s string) uint32 { return ip4u(netip.MustParseAddr(s).As4()) }
	p := &pktSock{raw: fr, pkt: fp, plen: icmpProbeLen, stats: &counters{},
		hopIdx: map[neighKey]int32{}, byDst: map[uint32]int32{}}
	p.initBuffers()
	p.tab = l2tables{
		routes: []route4{
			{dst: ip("198.18.0.0"), bits: 15, gw: ip("10.9.0.1"), oif: 2},
			{dst: ip("10.9.0.0"), bits: 24, oif: 2},
		},
		links: map[int32]l2link{2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}, addr: ip("10.9.0.5")}},
		neigh: map[neighKey][6]byte{{2, ip("10.9.0.1")}: gwMAC}, // the gateway; no on-link host resolved
	}
	p.tab.sortRoutes()

	// 300 probes in random runs: behind the gateway (frames) or on-link
	// and unresolved (raw).
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 300
	var dsts []netip.Addr
	for len(dsts) < n {
		run := 1 + rng.IntN(9)
		onlink := rng.IntN(2) == 0
		for range run {
			if onlink {
				dsts = append(dsts, netip.AddrFrom4([4]byte{10, 9, 0, byte(10 + rng.IntN(200))}))
			} else {
				dsts = append(dsts, netip.AddrFrom4(u4ip(ip("198.18.0.0")+uint32(rng.IntN(1<<17)))))
			}
		}
	}
	dsts = dsts[:n]
	msgs := probeMsgs(kindICMP4, dsts)
	for off := 0; off < n; {
		k, err := p.sendmmsg(msgs[off:])
		if err != nil || k <= 0 {
			t.Fatalf("sendmmsg at %d: %d, %v", off, k, err)
		}
		off += k
	}
	var wantPkt, wantRaw []netip.Addr
	for _, d := range dsts {
		if d.As4()[0] == 10 {
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
	if w := p.fallbackReason(); w != "neighbour "+wantRaw[len(wantRaw)-1].String()+" on eth0 not resolved" {
		t.Errorf("fallback reason %q", w)
	}
	// The stamps, rewritten: key k belongs to message k.
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
			if got := netip.AddrFrom4(u4ip(uint32(c.ts))); got != dsts[key] {
				t.Fatalf("key %d names %v's stamp, want %v's", key, got, dsts[key])
			}
		}
	}
	for k, ok := range seen {
		if !ok {
			t.Fatalf("no stamp for message %d", k)
		}
	}
}

func slicesEqual(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nullTxSock takes every message and keeps nothing (the benchmark's
// sockets: no kernel here, only pktSock's own work is measured).
type nullTxSock struct{ n int }

func (f *nullTxSock) sendmmsg(msgs []unix.Mmsghdr) (int, error) {
	f.n += len(msgs)
	return len(msgs), nil
}
func (f *nullTxSock) recvmmsg([]unix.Mmsghdr, int) (int, error) { return 0, unix.EAGAIN }
func (f *nullTxSock) close() error                              { return nil }

// BenchmarkPktSockSend is pktSock's per-probe cost on the frame path
// (next-hop lookup, frame build, key bookkeeping) for 100,000 targets
// behind one gateway, in batches of 64 as the engine sends them; ns/op
// is per probe.
func BenchmarkPktSockSend(b *testing.B) {
	gwMAC := [6]byte{2, 0, 0, 0, 0, 0x22}
	ip := func(s string) uint32 { return ip4u(netip.MustParseAddr(s).As4()) }
	fp, fr := &nullTxSock{}, &nullTxSock{}
	p := &pktSock{raw: fr, pkt: fp, plen: icmpProbeLen, hopIdx: map[neighKey]int32{}, byDst: map[uint32]int32{}}
	p.initBuffers()
	p.tab = l2tables{
		routes: []route4{{dst: ip("198.18.0.0"), bits: 15, gw: ip("10.9.0.1"), oif: 2}, {dst: ip("10.9.0.0"), bits: 24, oif: 2}},
		links:  map[int32]l2link{2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}, addr: ip("10.9.0.5")}},
		neigh:  map[neighKey][6]byte{{2, ip("10.9.0.1")}: gwMAC},
	}
	p.tab.sortRoutes()
	const n, batch = 100000, 64
	msgs := make([]unix.Mmsghdr, n)
	sas := make([][unix.SizeofSockaddrInet6]byte, n)
	bufs := make([][]byte, n)
	iov := make([]unix.Iovec, n)
	for i := range n {
		var salen uint32
		sas[i], salen = sockaddr(netip.AddrFrom4(u4ip(ip("198.18.0.1")+uint32(i))), 0)
		bufs[i] = template(kindICMP4, 0x4242, 0)
		iov[i].Base = &bufs[i][0]
		iov[i].SetLen(len(bufs[i]))
		msgs[i].Hdr.Iov = &iov[i]
		msgs[i].Hdr.SetIovlen(1)
		msgs[i].Hdr.Name = &sas[i][0]
		msgs[i].Hdr.Namelen = salen
	}
	for off := 0; off < n; off += batch { // every hop resolved once, as after the first interval
		p.sendmmsg(msgs[off:min(off+batch, n)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	off := 0
	for i := 0; i < b.N; i += batch {
		k, err := p.sendmmsg(msgs[off : off+batch])
		if err != nil || k != batch {
			b.Fatalf("sendmmsg: %d, %v", k, err)
		}
		off += batch
		if off+batch > n {
			off = 0
		}
	}
	if fr.n != 0 {
		b.Fatalf("%d probes fell back to the raw socket", fr.n)
	}
}

// The engine names each message's target (hint): pktSock then caches the
// target's hop in the engine's entry for it, checked against the
// destination, so an index that names another address never sends to a
// stale hop; a new target list, or reloaded tables, forget it.
func TestPktSockTargetHopCache(t *testing.T) {
	gwMAC := [6]byte{2, 0, 0, 0, 0, 0x22}
	fp := &fakeTxSock{frames: true, level: solPacket, typ: packetTxTimestamp, t: t, wantMAC: gwMAC}
	fr := &fakeTxSock{level: solIP, typ: ipRecvErr, t: t}
	ip := func(s string) uint32 { return ip4u(netip.MustParseAddr(s).As4()) }
	p := &pktSock{raw: fr, pkt: fp, plen: icmpProbeLen, stats: &counters{},
		hopIdx: map[neighKey]int32{}, byDst: map[uint32]int32{}}
	p.initBuffers()
	p.tab = l2tables{
		routes: []route4{
			{dst: ip("198.18.0.0"), bits: 15, gw: ip("10.9.0.1"), oif: 2},
			{dst: ip("10.9.0.0"), bits: 24, oif: 2},
		},
		links: map[int32]l2link{2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}, addr: ip("10.9.0.5")}},
		neigh: map[neighKey][6]byte{{2, ip("10.9.0.1")}: gwMAC}, // the gateway; no on-link host resolved
	}
	p.tab.sortRoutes()
	p.setTargets(tgtsOf("198.18.0.5", "198.18.0.5"))
	send := func(addr string, target int32) {
		t.Helper()
		d := netip.MustParseAddr(addr)
		sa, salen := sockaddr(d, 0)
		buf := template(kindICMP4, 0x4242, 0)
		var tok wire.Token
		patchProbe(buf, kindICMP4, 1, 1, 1, &tok)
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
	last := func(f *fakeTxSock) netip.Addr {
		if len(f.sent) == 0 {
			return netip.Addr{}
		}
		return f.sent[len(f.sent)-1]
	}
	send("198.18.0.5", 0)
	if got := last(fp); got != netip.MustParseAddr("198.18.0.5") {
		t.Fatalf("frame to %v, want 198.18.0.5", got)
	}
	if p.tt[0].hop == 0 || len(p.byDst) != 0 {
		t.Fatalf("target 0's hop not cached in its entry (%+v, byDst %v)", p.tt[0], p.byDst)
	}
	// Target 0 is now an unresolved on-link address: the cached gateway
	// hop must not be used.
	send("10.9.0.7", 0)
	if got := last(fr); got != netip.MustParseAddr("10.9.0.7") || len(fp.sent) != 1 {
		t.Fatalf("10.9.0.7 at a cached index: raw socket sent %v, frames %v", fr.sent, fp.sent)
	}
	// New targets forget the cache: with the route gone unreachable,
	// 198.18.0.5 goes through the raw socket (the kernel's answer).
	send("198.18.0.5", 1)
	for i := range p.tab.routes {
		if p.tab.routes[i].bits == 15 {
			p.tab.routes[i].other = true
		}
	}
	send("198.18.0.5", 1) // still cached: the tables were not reloaded
	if len(fp.sent) != 3 {
		t.Fatalf("cached hop not used: raw %v, frames %v", fr.sent, fp.sent)
	}
	p.gen++ // as load does
	send("198.18.0.5", 1)
	if got := last(fr); got != netip.MustParseAddr("198.18.0.5") || len(fp.sent) != 3 {
		t.Fatalf("after a reload and a route change: raw %v, frames %v", fr.sent, fp.sent)
	}
	for i := range p.tab.routes {
		p.tab.routes[i].other = false
	}
	send("198.18.0.5", 0) // cached before the reload: stale
	p.setTargets(tgtsOf("198.18.0.5", "198.18.0.5"))
	send("198.18.0.5", 1) // a new list has nothing cached
	if len(fp.sent) != 5 || p.tt[1].hop == 0 {
		t.Fatalf("after the route came back and new targets: raw %v, frames %v", fr.sent, fp.sent)
	}
}

// tgtsOf is an engine target list of addrs.
func tgtsOf(addrs ...string) []tgt {
	l := listOf(targetsOf(func() (as []netip.Addr) {
		for _, a := range addrs {
			as = append(as, netip.MustParseAddr(a))
		}
		return as
	}()))
	defer l.release()
	return slices.Clone(l.tt)
}

// A frame leaving by the interface the packet socket bound itself to (the
// first frame's) carries no sockaddr_ll; frames by another interface
// still name theirs, and every frame reaches its next hop's MAC.
func TestPktSockUnnamedOnBoundLink(t *testing.T) {
	macA, macB := [6]byte{2, 0, 0, 0, 0, 0xa}, [6]byte{2, 0, 0, 0, 0, 0xb}
	fp := &fakeTxSock{frames: true, level: solPacket, typ: packetTxTimestamp, t: t, macOf: map[int32][6]byte{2: macA, 3: macB}}
	fr := &fakeTxSock{level: solIP, typ: ipRecvErr, t: t}
	ip := func(s string) uint32 { return ip4u(netip.MustParseAddr(s).As4()) }
	p := &pktSock{raw: fr, pkt: fp, plen: icmpProbeLen, stats: &counters{},
		hopIdx: map[neighKey]int32{}, byDst: map[uint32]int32{}}
	var binds []int32
	p.bindDev = func(ifindex int32) error {
		binds = append(binds, ifindex)
		fp.bound = ifindex
		return nil
	}
	p.initBuffers()
	p.tab = l2tables{
		routes: []route4{
			{dst: ip("198.18.0.0"), bits: 16, gw: ip("10.9.0.1"), oif: 2},
			{dst: ip("198.19.0.0"), bits: 16, gw: ip("10.8.0.1"), oif: 3},
			{dst: ip("10.9.0.0"), bits: 24, oif: 2},
			{dst: ip("10.8.0.0"), bits: 24, oif: 3},
		},
		links: map[int32]l2link{
			2: {name: "eth0", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 1}, addr: ip("10.9.0.5")},
			3: {name: "eth1", ether: true, mac: [6]byte{2, 0, 0, 0, 0, 2}, addr: ip("10.8.0.5")},
		},
		neigh: map[neighKey][6]byte{{2, ip("10.9.0.1")}: macA, {3, ip("10.8.0.1")}: macB},
	}
	p.tab.sortRoutes()
	const n = 40
	dsts := make([]netip.Addr, n)
	onB := 0
	for i := range n {
		dsts[i] = netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
		if i%3 == 1 {
			dsts[i], onB = netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}), onB+1
		}
	}
	msgs := probeMsgs(kindICMP4, dsts)
	for round := range 2 { // the second with the frames' headers as the first left them
		if k, err := p.sendmmsg(msgs); k != n || err != nil {
			t.Fatalf("round %d: sendmmsg %d, %v", round, k, err)
		}
	}
	if !slices.Equal(binds, []int32{2}) || p.bound != 2 {
		t.Fatalf("binds %v, bound %d: want one bind, to the first frame's interface 2", binds, p.bound)
	}
	if want := 2 * (n - onB); fp.unnamed != want || len(fp.sent) != 2*n || len(fr.sent) != 0 {
		t.Fatalf("%d of %d frames unnamed (%d raw), want the %d by interface 2", fp.unnamed, len(fp.sent), len(fr.sent), want)
	}
}

// probeMsgs returns one sendmmsg header per destination, each with its
// own sockaddr and a patched probe of kind (sequence and ID its index).
func probeMsgs(kind probeKind, dsts []netip.Addr) []unix.Mmsghdr {
	n := len(dsts)
	msgs := make([]unix.Mmsghdr, n)
	sas := make([][unix.SizeofSockaddrInet6]byte, n)
	iov := make([]unix.Iovec, n)
	for i, d := range dsts {
		var salen uint32
		sas[i], salen = sockaddr(d, 0)
		buf := template(kind, 0x4242, 0)
		var tok wire.Token
		patchProbe(buf, kind, uint16(i), uint64(i), int64(i), &tok)
		iov[i].Base = &buf[0]
		iov[i].SetLen(len(buf))
		msgs[i].Hdr.Iov = &iov[i]
		msgs[i].Hdr.SetIovlen(1)
		msgs[i].Hdr.Name = &sas[i][0]
		msgs[i].Hdr.Namelen = salen
	}
	return msgs
}
