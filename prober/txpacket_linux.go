// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/offheap"
)

// pktSock is a raw ICMP socket (IPv4, or ICMPv6 with v6 set) with an
// AF_PACKET transmit path (tx = packet): probes leave as prebuilt
// Ethernet frames through one AF_PACKET socket with PACKET_QDISC_BYPASS
// (no IP output path, no qdisc), addressed to the next hop's MAC from the kernel's route and
// neighbour tables. Replies are still read from the raw socket (kernel RX
// stamps); probes to targets whose next hop has no frame path (neighbour
// not resolved, not Ethernet, no route) go out of the raw socket, which
// also makes the kernel resolve the neighbour for the next refresh.
//
// TX timestamps come from both sockets' error queues (software stamps,
// OPT_ID, OPT_TSONLY); the keys are rewritten to count the messages in
// the order the engine sent them, as one socket's would.
type pktSock struct {
	// raw is the raw ICMP socket, pkt the AF_PACKET one (fdSocks; the
	// unit test's fakes check the send order and the key rewrite).
	raw, pkt sock
	nl       *rtnetlink.Conn // opened in the engine's network namespace; nil in unit tests
	mon      int             // netlink socket told of route, address and link changes; -1 without
	monBuf   []byte
	changed  bool      // mon reported a change not yet loaded
	monAt    time.Time // mon last read
	// neighChanged: mon reported a neighbour change not yet loaded.
	neighChanged bool
	tab          l2tables
	hops         []l2hop
	hopIdx       map[neighKey]int32 // (oif, next hop) → hops
	byDst        map[uint32]int32   // destination → hops, for sends without a target hint
	// tt is the engine's target list, set (setTargets) only for the
	// sendmmsg call that hint names each message's target for, so it
	// never outlives the list (freed on a reload or at the loop's end,
	// while the socket lives on): each target's hop is
	// cached in its entry (tgt.hop, valid while tgt.hopGen is gen), so
	// a probe costs no lookup by destination (a map lookup, and for a
	// sweep's new destinations an insert, cost about 2 % of a sweep's
	// CPU) and no cache of the socket's own (a random access a probe).
	tt      []tgt
	gen     uint16    // the tables' generation: load bumps it
	hint    []int32   // target index of each message of the next sendmmsg; nil: none
	loaded  time.Time // tables
	neighAt time.Time // neighbour refresh
	misses  bool      // a send fell back since the last neighbour refresh
	plen    int
	ipid    uint16
	stats   *counters // set by the engine

	// IPv6 (txpacket6_linux.go): the tables and hops instead of the
	// IPv4 ones above.
	v6      bool
	nl6     *netlink.Conn // raw route and link dumps; nil in unit tests
	rawFD   int           // the raw socket, read for the hop limit; 0 in unit tests
	tab6    l6tables
	hops6   []l6hop
	hopIdx6 map[hop6Key]int32
	byDst6  map[[16]byte]int32

	frames  [][]byte
	iov     []unix.Iovec
	msgs    []unix.Mmsghdr
	sll     []unix.RawSockaddrLinklayer
	logical uint32
	phys    [2]uint32 // next OPT_ID key of [0] the packet socket, [1] the raw one
	// stamped is phys as far as the TX stamps read account for it: a
	// socket's error queue is read only when it owes stamps (phys >
	// stamped) or forceErr is set (the engine looks for a late one).
	stamped  [2]uint32
	forceErr bool
	keymap   [2][]uint32 // physical key (low 16 bits) → logical key
	batch    int         // messages per sendmmsg (Config.Batch); 0: pktSockBatch
	freeBuf  func()      // frees the frames and the key maps (offheap)
	runHop   []int32     // hops (hops6) index of each message of the run sendmmsg is building
	// bound is the interface the packet socket is bound to (protocol 0:
	// it receives nothing), its first frame's; -1 when binding failed, 0
	// before. A frame leaving by it carries no sockaddr_ll: the kernel
	// takes the bound device, so sendmmsg copies in no address and looks
	// up no device by index for it (both were ~0.45 % of the daemon's
	// samples at 10,000 probes/s). bindDev binds; nil: never (unit tests).
	bound   int32
	bindDev func(ifindex int32) error
	// txMode says how frames leave (ring or sendmmsg) for the Mode text.
	txMode  string
	lastWhy atomic.Pointer[string]
}

const (
	tableRefresh = 30 * time.Second       // routes, links, neighbours
	changeReload = 250 * time.Millisecond // least gap between reloads on route/link/address changes
	neighRetry   = 20 * time.Millisecond  // neighbours, while some fell back
	// monPoll is how often sending reads the change subscription: once a
	// sendmmsg call, it was a recvfrom on an empty socket per batch
	// (~190/s in the daemon at 10,000 probes/s); a change is still
	// seen well inside changeReload.
	monPoll      = 20 * time.Millisecond
	pktSockBatch = 1024                    // Config.Batch's cap; the frames made when batch is not set
	pktFrameLen  = frame6HdrLn + maxPacket // room for any probe
)

// newPktSock opens the AF_PACKET socket next to the raw ICMP socket raw
// (ICMPv6 when v6) and loads the kernel's tables. plen is the ICMP probe
// length.
func newPktSock(raw int, cfg *Config, plen int, v6 bool) (*pktSock, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET", err)
	}
	p := &pktSock{raw: fdSock(raw), pkt: fdSock(fd), plen: plen, mon: -1, v6: v6, rawFD: raw, batch: cfg.Batch}
	p.bindDev = func(ifindex int32) error {
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: int(ifindex)})
	}
	fail := func(err error) (*pktSock, error) {
		unix.Close(fd)
		if p.mon >= 0 {
			unix.Close(p.mon)
		}
		if p.nl != nil {
			p.nl.Close()
		}
		if p.nl6 != nil {
			p.nl6.Close()
		}
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fail(os.NewSyscallError("setsockopt PACKET_QDISC_BYPASS", err))
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cfg.SocketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.SocketBuffer)
	}
	if !cfg.NoKernelTx {
		flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE |
			unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags); err != nil {
			return fail(os.NewSyscallError("setsockopt SO_TIMESTAMPING", err))
		}
	}
	p.nl, err = rtnetlink.Dial(nil)
	if err != nil {
		return fail(fmt.Errorf("rtnetlink: %w", err))
	}
	if v6 {
		if p.nl6, err = netlink.Dial(unix.NETLINK_ROUTE, nil); err != nil {
			return fail(fmt.Errorf("rtnetlink: %w", err))
		}
	}
	// A route, address or link change (a blackhole route added, an
	// interface down, a gateway moved) reloads the tables at once rather
	// than at the next tableRefresh: frames bypass the IP output path, so
	// only the tables stand between a probe and a route that no longer
	// holds. Without the subscription the periodic refresh remains.
	if mon, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err == nil {
		groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_NEIGH)
		if v6 {
			groups = unix.RTMGRP_LINK | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV6_ROUTE | unix.RTMGRP_NEIGH
		}
		if unix.Bind(mon, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}) == nil {
			p.mon, p.monBuf = mon, make([]byte, 16<<10)
		} else {
			unix.Close(mon)
		}
	}
	if err := p.load(time.Now()); err != nil {
		return fail(err)
	}
	p.initBuffers()
	// The transmit ring, else sendmmsg on the socket (the Mode text
	// says which). Slots for four batches (at least 256): a NIC holds a
	// slot until its TX completion; a full ring is back-pressure
	// (ENOBUFS, the probes requeued).
	maxFrame := frameHdrLn + plen
	if v6 {
		maxFrame = frame6HdrLn + plen
	}
	switch r, err := newTxRing(fd, max(4*len(p.frames), 256), maxFrame); {
	case err == nil:
		p.pkt, p.txMode = r, "frames written to a PACKET_TX_RING, one send(2) a batch"
	case errors.Is(err, errTxRingStuck):
		p.freeBuffers()
		return fail(err)
	default:
		p.txMode = fmt.Sprintf("frames sent with sendmmsg (no PACKET_TX_RING: %v)", err)
	}
	return p, nil
}

// initBuffers allocates the frame batch (as many as the engine's batch:
// it never hands sendmmsg more) and the key maps, outside the Go heap
// (offheap; a key map's pages cost memory once touched: the IPv6
// socket's never are in an IPv4 fleet).
func (p *pktSock) initBuffers() {
	n := p.batch
	if n <= 0 {
		n = pktSockBatch
	}
	p.frames = make([][]byte, n)
	p.iov = make([]unix.Iovec, n)
	p.msgs = make([]unix.Mmsghdr, n)
	p.sll = make([]unix.RawSockaddrLinklayer, n)
	p.runHop = make([]int32, n)
	buf, free := offheap.Make[byte](n*pktFrameLen + 2*(1<<16)*4)
	p.freeBuf = free
	for i := range p.keymap {
		p.keymap[i] = unsafe.Slice((*uint32)(unsafe.Pointer(&buf[(i<<16)*4])), 1<<16)
	}
	buf = buf[2*(1<<16)*4:]
	for i := range n {
		p.frames[i] = buf[i*pktFrameLen : (i+1)*pktFrameLen]
		p.iov[i].Base = &p.frames[i][0]
		p.msgs[i].Hdr.Iov = &p.iov[i]
		p.msgs[i].Hdr.SetIovlen(1)
		p.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&p.sll[i]))
		p.msgs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		p.sll[i].Family = unix.AF_PACKET
		p.sll[i].Protocol = htons(unix.ETH_P_IP)
		if p.v6 {
			p.sll[i].Protocol = htons(unix.ETH_P_IPV6)
		}
		p.sll[i].Halen = 6
	}
}

// freeBuffers gives back the frames, the key maps and the target caches;
// the socket must not send after.
func (p *pktSock) freeBuffers() {
	if p.freeBuf != nil {
		p.freeBuf()
		p.freeBuf, p.frames, p.keymap = nil, nil, [2][]uint32{}
	}
	p.tt = nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// load reads the route, link and address tables (and the neighbours).
func (p *pktSock) load(now time.Time) error {
	var t l2tables
	links, err := p.nl.Link.List()
	if err != nil {
		return fmt.Errorf("rtnetlink links: %w", err)
	}
	t.links = make(map[int32]l2link, len(links))
	for _, l := range links {
		k := l2link{}
		if l.Attributes != nil {
			k.name = l.Attributes.Name
			if len(l.Attributes.Address) == 6 {
				copy(k.mac[:], l.Attributes.Address)
			}
		}
		k.ether = l.Type == unix.ARPHRD_ETHER && k.mac != [6]byte{}
		t.links[int32(l.Index)] = k
	}
	if p.v6 {
		if err := p.load6(t.links); err != nil {
			return err
		}
		p.loaded, p.neighAt = now, now
		return nil
	}
	addrs, err := p.nl.Address.List()
	if err != nil {
		return fmt.Errorf("rtnetlink addresses: %w", err)
	}
	for _, a := range addrs {
		if a.Family != unix.AF_INET || a.Attributes == nil {
			continue
		}
		ip := a.Attributes.Local
		if ip == nil {
			ip = a.Attributes.Address
		}
		if ip4 := ip.To4(); ip4 != nil {
			if l, ok := t.links[int32(a.Index)]; ok && l.addr == 0 {
				l.addr = binary.BigEndian.Uint32(ip4)
				t.links[int32(a.Index)] = l
			}
		}
	}
	routes, err := p.nl.Route.List()
	if err != nil {
		return fmt.Errorf("rtnetlink routes: %w", err)
	}
	for _, r := range routes {
		table := uint32(r.Table)
		if r.Attributes.Table != 0 {
			table = r.Attributes.Table
		}
		if r.Family != unix.AF_INET || table != unix.RT_TABLE_MAIN && table != unix.RT_TABLE_LOCAL {
			continue
		}
		rt := route4{bits: r.DstLength, oif: int32(r.Attributes.OutIface), prio: r.Attributes.Priority, local: table == unix.RT_TABLE_LOCAL}
		// Multipath: the kernel's hash picks the path; leave it to it.
		rt.other = r.Type != unix.RTN_UNICAST || len(r.Attributes.Multipath) > 0
		if d := r.Attributes.Dst.To4(); d != nil {
			rt.dst = binary.BigEndian.Uint32(d)
		}
		if g := r.Attributes.Gateway.To4(); g != nil {
			rt.gw = binary.BigEndian.Uint32(g)
		}
		if s := r.Attributes.Src.To4(); s != nil {
			rt.src = binary.BigEndian.Uint32(s)
		}
		t.routes = append(t.routes, rt)
	}
	t.sortRoutes()
	p.tab = t
	if err := p.loadNeigh(); err != nil {
		return err
	}
	p.hops, p.hopIdx, p.byDst = p.hops[:0], map[neighKey]int32{}, map[uint32]int32{}
	p.gen++ // every target's cached hop is stale
	p.loaded, p.neighAt = now, now
	return nil
}

// Neighbour states with a usable link-layer address (rtnetlink(7)).
const nudValid = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT

func (p *pktSock) loadNeigh() error {
	ns, err := p.nl.Neigh.List()
	if err != nil {
		return fmt.Errorf("rtnetlink neighbours: %w", err)
	}
	if p.v6 {
		p.loadNeigh6(ns)
		return nil
	}
	p.tab.neigh = make(map[neighKey][6]byte, len(ns))
	for _, n := range ns {
		if n.Family != unix.AF_INET || n.State&nudValid == 0 || n.Attributes == nil || len(n.Attributes.LLAddress) != 6 {
			continue
		}
		ip := n.Attributes.Address.To4()
		if ip == nil {
			continue
		}
		p.tab.neigh[neighKey{int32(n.Index), binary.BigEndian.Uint32(ip)}] = [6]byte(n.Attributes.LLAddress)
	}
	return nil
}

// refresh reloads the tables every tableRefresh, and the neighbours of
// hops that fell back every neighRetry while there are any.
func (p *pktSock) refresh(now time.Time) {
	if p.nl == nil {
		return
	}
	if p.mon >= 0 && (now.Sub(p.monAt) >= monPoll || now.Before(p.monAt)) {
		p.monAt = now
		route, neigh := p.drainChanges()
		p.changed = p.changed || route
		// A neighbour changed (a gateway's MAC moved, an entry resolved
		// or went away): frames never use the kernel's entry, so only
		// this keeps them addressed right.
		p.neighChanged = p.neighChanged || neigh
	}
	if now.Sub(p.loaded) >= tableRefresh || p.changed && now.Sub(p.loaded) >= changeReload {
		if p.load(now) == nil {
			p.changed = false
		}
		return // on error the old tables stay
	}
	if !p.misses && !p.neighChanged || now.Sub(p.neighAt) < neighRetry {
		return
	}
	p.neighAt, p.misses, p.neighChanged = now, false, false
	if p.loadNeigh() != nil {
		return
	}
	if p.v6 {
		p.refreshHops6()
		return
	}
	for i := range p.hops {
		h := &p.hops[i]
		if h.sum == 0 { // no frame path at all (no route, not Ethernet)
			continue
		}
		if mac, ok := p.tab.neigh[neighKey{h.ifindex, ip4u(h.nh)}]; ok {
			h.dmac, h.ok, h.fallback = mac, true, ""
		} else if h.ok {
			h.ok, h.fallback = false, "neighbour "+netip.AddrFrom4(h.nh).String()+" no longer resolved"
		}
	}
}

// hop returns the hop for the IPv4 destination d.
func (p *pktSock) hop(d uint32) *l2hop { return &p.hops[p.hopIndex(d)] }

// hopIndex returns the index in p.hops of the IPv4 destination d's hop
// (an index stays valid when p.hops grows; a pointer would not).
func (p *pktSock) hopIndex(d uint32) int32 {
	if i, ok := p.byDst[d]; ok {
		return i
	}
	i := p.resolveHop(d)
	p.byDst[d] = i
	return i
}

// resolveHop looks d up in the tables and returns its index in p.hops,
// adding the hop when no destination used it yet.
func (p *pktSock) resolveHop(d uint32) int32 {
	h := p.tab.hopFor(u4ip(d), p.plen)
	k := neighKey{h.ifindex, ip4u(h.nh)}
	i, ok := p.hopIdx[k]
	if !ok || h.ifindex == 0 {
		i = int32(len(p.hops))
		p.hops = append(p.hops, h)
		p.hopIdx[k] = i
	}
	return i
}

// setTargets hands the socket the engine's target list, whose entries
// cache their hops (a new list has none cached).
func (p *pktSock) setTargets(tt []tgt) { p.tt = tt }

// hopOfTarget is hopIndex for message i of the current sendmmsg, through
// the target's cached hop when the engine named the message's target and
// that target's address is d.
func (p *pktSock) hopOfTarget(i int, d uint32) int32 {
	if i >= len(p.hint) {
		return p.hopIndex(d)
	}
	ti := int(p.hint[i])
	if ti < 0 || ti >= len(p.tt) {
		return p.hopIndex(d)
	}
	t := &p.tt[ti]
	if t.fam != 0 || binary.BigEndian.Uint32(t.addr[12:]) != d {
		return p.hopIndex(d)
	}
	if t.hop != 0 && t.hopGen == p.gen && int(t.hop) <= len(p.hops) {
		return t.hop - 1
	}
	x := p.resolveHop(d)
	t.hop, t.hopGen = x+1, p.gen
	return x
}

// sendmmsg sends the engine's messages (IPv4 sockaddr + ICMP payload) in
// order: runs of frames on the packet socket, runs of fallbacks on the
// raw socket. It returns how many went, or the first message's error.
func (p *pktSock) sendmmsg(msgs []unix.Mmsghdr) (int, error) {
	p.refresh(time.Now())
	done := 0
	for done < len(msgs) {
		// A run of one path. The run's hops are kept (runHop)
		// so the frames below do not look each destination up again.
		pkt, why := p.runPath(msgs, done, 0)
		end := done + 1
		for end < len(msgs) && end-done < len(p.msgs) {
			if ok, _ := p.runPath(msgs, end, end-done); ok != pkt {
				break
			}
			end++
		}
		var n int
		var err error
		s := 0
		if pkt {
			for k := done; k < end && p.v6; k++ {
				p.put6(k-done, &msgs[k])
			}
			for k := done; k < end && !p.v6; k++ {
				h := &msgs[k].Hdr
				dst := [4]byte(unsafe.Slice(h.Name, 8)[4:8])
				hp := &p.hops[p.runHop[k-done]]
				p.ipid++
				l := putFrame(p.frames[k-done], hp, dst, p.ipid, unsafe.Slice(h.Iov.Base, h.Iov.Len))
				p.iov[k-done].SetLen(l)
				p.name(k-done, hp.ifindex, hp.dmac)
			}
			n, err = p.pkt.sendmmsg(p.msgs[:end-done])
		} else {
			s = 1
			p.misses = true
			if w := p.lastWhy.Load(); w == nil || *w != why {
				p.lastWhy.Store(&why)
			}
			n, err = p.raw.sendmmsg(msgs[done:end])
		}
		for range n {
			p.keymap[s][uint16(p.phys[s])] = p.logical
			p.phys[s]++
			p.logical++
		}
		if p.stats != nil {
			if pkt {
				p.stats.txPacket.Add(uint64(n))
			} else {
				p.stats.txFallback.Add(uint64(n))
			}
		}
		if err != nil || n < end-done {
			if done+n > 0 {
				return done + n, nil
			}
			return 0, err
		}
		done += n
	}
	return done, nil
}

// name addresses frame k to the interface ifindex, next hop dmac (the
// frame's own destination MAC): no sockaddr_ll when the socket is bound to
// that interface. The socket is bound to the first frame's.
func (p *pktSock) name(k int, ifindex int32, dmac [6]byte) {
	if p.bound == 0 && p.bindDev != nil {
		p.bound = -1
		if p.bindDev(ifindex) == nil {
			p.bound = ifindex
		}
	}
	h := &p.msgs[k].Hdr
	if ifindex == p.bound {
		h.Name, h.Namelen = nil, 0
		return
	}
	sa := &p.sll[k]
	h.Name, h.Namelen = (*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrLinklayer
	sa.Ifindex = ifindex
	copy(sa.Addr[:6], dmac[:])
}

// runPath is path for msgs[i], the run's message number slot; it
// records the hop in runHop[slot].
func (p *pktSock) runPath(msgs []unix.Mmsghdr, i, slot int) (bool, string) {
	if p.v6 {
		x := p.hop6OfTarget(i, dst6(&msgs[i]))
		p.runHop[slot] = x
		h := &p.hops6[x]
		return h.ok, h.fallback
	}
	b := unsafe.Slice(msgs[i].Hdr.Name, 8)
	x := p.hopOfTarget(i, binary.BigEndian.Uint32(b[4:8]))
	p.runHop[slot] = x
	h := &p.hops[x]
	return h.ok, h.fallback
}

// path says whether message m goes as a frame, and if not why.
func (p *pktSock) path(m *unix.Mmsghdr) (bool, string) {
	if p.v6 {
		h := p.hop6(dst6(m))
		return h.ok, h.fallback
	}
	h := p.hopOf(m)
	return h.ok, h.fallback
}

func (p *pktSock) hopOf(m *unix.Mmsghdr) *l2hop {
	b := unsafe.Slice(m.Hdr.Name, 8)
	return p.hop(binary.BigEndian.Uint32(b[4:8]))
}

// recvmmsg reads replies from the raw socket; with MSG_ERRQUEUE, the TX
// stamps of both sockets, their keys rewritten to the engine's count.
func (p *pktSock) recvmmsg(msgs []unix.Mmsghdr, flags int) (int, error) {
	if flags&unix.MSG_ERRQUEUE == 0 {
		return p.raw.recvmmsg(msgs, flags)
	}
	total := 0
	var firstErr error
	for s, fd := range [2]sock{p.pkt, p.raw} {
		if total == len(msgs) {
			break
		}
		if p.stamped[s] == p.phys[s] && !p.forceErr {
			continue // owes no stamp
		}
		want := len(msgs) - total
		n, err := fd.recvmmsg(msgs[total:], flags)
		if err != nil || n < want {
			p.stamped[s] = p.phys[s] // the queue is empty now
		} else {
			p.stamped[s] += uint32(n)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		km := p.keymap[s]
		for i := total; i < total+n; i++ {
			h := &msgs[i].Hdr
			if h.Controllen > 0 {
				rekeyCmsgs(unsafe.Slice(h.Control, h.Controllen), func(k uint32) uint32 { return km[uint16(k)] })
			}
		}
		total += n
	}
	if total == 0 && firstErr != nil {
		return 0, firstErr
	}
	return total, nil
}

func (p *pktSock) close() error {
	var err error
	if p.mon >= 0 {
		err = os.NewSyscallError("close netlink", unix.Close(p.mon))
	}
	if p.nl != nil {
		err = errors.Join(err, p.nl.Close())
	}
	if p.nl6 != nil {
		err = errors.Join(err, p.nl6.Close())
	}
	return errors.Join(p.pkt.close(), p.raw.close(), err)
}

// drainChanges reads what the change subscription queued and reports
// whether routes, links or addresses changed, and whether neighbours did
// (an overrun counts as both: changes were lost).
func (p *pktSock) drainChanges() (route, neigh bool) {
	for {
		n, err := recvfromNow(p.mon, p.monBuf, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ENOBUFS:
			route, neigh = true, true
			continue
		case err != nil || n <= 0:
			return route, neigh
		}
		r, ng := classifyNetlink(p.monBuf[:n])
		route, neigh = route || r, neigh || ng
	}
}

// describe is the Mode text for the packet path.
func (p *pktSock) describe() string {
	var ifs []string
	for _, r := range p.tab.routes {
		if l, ok := p.tab.links[r.oif]; ok && l.ether {
			ifs = append(ifs, l.name)
		}
	}
	ifs = uniq(ifs)
	if p.v6 {
		return fmt.Sprintf("IPv6 probes sent as Ethernet frames on an AF_PACKET socket (PACKET_QDISC_BYPASS; %s; next-hop MACs from the IPv6 route and NDP neighbour tables; interfaces %s); targets without a resolved neighbour, or behind a non-Ethernet link, go through the raw ICMPv6 socket", p.txMode, strings.Join(p.ifaces6(), ","))
	}
	return fmt.Sprintf("IPv4 probes sent as Ethernet frames on an AF_PACKET socket (PACKET_QDISC_BYPASS; %s; next-hop MACs from the route and neighbour tables; interfaces %s); targets without a resolved neighbour, or behind a non-Ethernet link, go through the raw socket", p.txMode, strings.Join(ifs, ","))
}

// fallbackReason is the last reason a probe went through the raw socket.
func (p *pktSock) fallbackReason() string {
	if w := p.lastWhy.Load(); w != nil {
		return *w
	}
	return ""
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
