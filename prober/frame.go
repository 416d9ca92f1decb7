// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// The AF_PACKET transmit path (tx = packet) sends whole Ethernet frames:
// the pure parts are here, the sockets in txpacket_linux.go.

const (
	ethHdrLen  = 14
	ip4HdrLen  = 20
	frameHdrLn = ethHdrLen + ip4HdrLen
	etherIPv4  = 0x0800
)

// l2hop is where frames to one next hop go: the egress interface, the
// MACs and the source address, and the partial IPv4 header checksum of
// everything but the destination address and the identification.
type l2hop struct {
	ifindex int32
	nh      [4]byte // the next hop: the target (on-link) or the gateway
	src     [4]byte
	smac    [6]byte
	dmac    [6]byte
	// ok: the neighbour resolved on an Ethernet-like link; else probes to
	// it go out of the raw socket (fallback says why).
	ok       bool
	fallback string
	sum      uint32
}

// ip4PartialSum is the one's-complement sum of an IPv4 header for a
// payload of plen bytes from src, DF, TTL 64, protocol ICMP, with the
// destination, the identification and the checksum zero.
func ip4PartialSum(src [4]byte, plen int) uint32 {
	var h [ip4HdrLen]byte
	putIP4Fixed(h[:], src, plen)
	var s uint32
	for i := 0; i < ip4HdrLen; i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	return s
}

func putIP4Fixed(h []byte, src [4]byte, plen int) {
	h[0], h[1] = 0x45, 0
	binary.BigEndian.PutUint16(h[2:], uint16(ip4HdrLen+plen))
	h[4], h[5] = 0, 0
	h[6], h[7] = 0x40, 0 // DF, as the raw socket sends
	h[8], h[9] = 64, 1   // TTL, ICMP
	h[10], h[11] = 0, 0
	copy(h[12:16], src[:])
	h[16], h[17], h[18], h[19] = 0, 0, 0, 0
}

// putFrame writes an Ethernet+IPv4 frame carrying payload (an ICMP
// message, checksummed) to dst through h into b and returns its length.
// The IP checksum is the hop's partial sum plus the destination and id
// (incremental, RFC 1624 style). b must hold frameHdrLn+len(payload).
func putFrame(b []byte, h *l2hop, dst [4]byte, id uint16, payload []byte) int {
	copy(b[0:6], h.dmac[:])
	copy(b[6:12], h.smac[:])
	binary.BigEndian.PutUint16(b[12:], etherIPv4)
	ip := b[ethHdrLen:frameHdrLn]
	putIP4Fixed(ip, h.src, len(payload))
	binary.BigEndian.PutUint16(ip[4:], id)
	copy(ip[16:20], dst[:])
	s := h.sum + uint32(id) + uint32(binary.BigEndian.Uint16(dst[0:])) + uint32(binary.BigEndian.Uint16(dst[2:]))
	s = (s >> 16) + (s & 0xffff)
	s += s >> 16
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	return frameHdrLn + copy(b[frameHdrLn:], payload)
}

// route4 is one IPv4 unicast route of the main table.
type route4 struct {
	dst  uint32
	bits uint8
	gw   uint32 // 0: on-link
	oif  int32
	src  uint32 // preferred source; 0: the interface's address
	prio uint32
	// other: not a unicast route (blackhole, unreachable, prohibit...):
	// the kernel's own path handles it.
	other bool
	// local: from the local table (the host's own addresses, loopback,
	// broadcasts), which the kernel consults before the main one.
	local bool
}

// l2link is an interface: its MAC, whether it is Ethernet-like, and its
// first IPv4 address.
type l2link struct {
	name  string
	mac   [6]byte
	ether bool
	addr  uint32
}

type neighKey struct {
	ifindex int32
	ip      uint32
}

// l2tables is a snapshot of the kernel's route, link and neighbour
// tables (main table only: policy routing rules are not followed).
type l2tables struct {
	routes []route4 // longest prefix first, then lowest metric
	links  map[int32]l2link
	neigh  map[neighKey][6]byte // resolved entries only
}

func (t *l2tables) sortRoutes() {
	slices.SortStableFunc(t.routes, func(a, b route4) int {
		if a.local != b.local { // the local table first, as the kernel's rule 0
			if a.local {
				return -1
			}
			return 1
		}
		if a.bits != b.bits {
			return int(b.bits) - int(a.bits)
		}
		return int(a.prio) - int(b.prio)
	})
}

func ip4u(a [4]byte) uint32 { return binary.BigEndian.Uint32(a[:]) }

func u4ip(u uint32) (a [4]byte) {
	binary.BigEndian.PutUint32(a[:], u)
	return a
}

// hopFor resolves dst through the tables: the longest matching route, its
// gateway (or dst itself when on-link), the egress link and the
// neighbour's MAC. A hop that cannot carry frames has ok false and says
// why in fallback.
func (t *l2tables) hopFor(dst [4]byte, plen int) l2hop {
	d := ip4u(dst)
	for _, r := range t.routes {
		mask := ^uint32(0)
		if r.bits < 32 {
			mask = ^(^uint32(0) >> r.bits)
		}
		if r.bits == 0 {
			mask = 0
		}
		if d&mask != r.dst&mask {
			continue
		}
		h := l2hop{ifindex: r.oif, nh: dst}
		if r.local {
			h.fallback = "a local or broadcast address"
			return h
		}
		if r.other {
			h.fallback = "not a unicast route"
			return h
		}
		if r.gw != 0 {
			h.nh = u4ip(r.gw)
		}
		l, ok := t.links[r.oif]
		if !ok {
			h.fallback = "no such interface"
			return h
		}
		if !l.ether {
			h.fallback = "interface " + l.name + " is not Ethernet"
			return h
		}
		src := r.src
		if src == 0 {
			src = l.addr
		}
		if src == 0 {
			h.fallback = "no IPv4 address on " + l.name
			return h
		}
		h.src, h.smac = u4ip(src), l.mac
		h.sum = ip4PartialSum(h.src, plen)
		mac, ok := t.neigh[neighKey{r.oif, ip4u(h.nh)}]
		if !ok {
			h.fallback = "neighbour " + netip.AddrFrom4(h.nh).String() + " on " + l.name + " not resolved"
			return h
		}
		h.dmac, h.ok = mac, true
		return h
	}
	return l2hop{nh: dst, fallback: "no route"}
}

// classifyNetlink walks the rtnetlink messages in b (native byte order
// nlmsghdrs, 4-aligned) and reports whether any is a route, link or
// address message, and whether any is a neighbour message.
func classifyNetlink(b []byte) (route, neigh bool) {
	const (
		hdrLen   = 16
		newNeigh = 28 // RTM_NEWNEIGH; RTM_DELNEIGH 29, RTM_GETNEIGH 30
		getNeigh = 30
		newLink  = 16 // RTM_NEWLINK … RTM_GETROUTE 26
		getRoute = 26
	)
	ne := binary.NativeEndian
	for len(b) >= hdrLen {
		l := int(ne.Uint32(b))
		if l < hdrLen || l > len(b) {
			return route, neigh
		}
		switch t := ne.Uint16(b[4:]); {
		case t >= newNeigh && t <= getNeigh:
			neigh = true
		case t >= newLink && t <= getRoute:
			route = true
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return route, neigh
}
