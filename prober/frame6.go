// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/mdlayher/netlink"
)

// IPv6 frames for the AF_PACKET transmit path: Ethernet + IPv6 + the
// ICMPv6 echo the loop patched, its checksum computed here over the
// pseudo-header (the raw ICMPv6 socket leaves it to the kernel). Pure, as
// frame.go; the sockets are in txpacket_linux.go and txpacket6_linux.go.

const (
	etherIPv6    = 0x86dd
	frame6HdrLn  = ethHdrLen + ipv6HdrLen
	defHopLimit6 = 64 // net.ipv6.conf.all.hop_limit's default
)

// l6hop is where IPv6 frames to one next hop from one source go.
type l6hop struct {
	ifindex int32
	nh      [16]byte // the next hop: the target (on-link) or the gateway
	src     [16]byte
	smac    [6]byte
	dmac    [6]byte
	hlim    uint8
	// framed: the hop has a frame path but for the neighbour (route,
	// Ethernet link, source); ok: the neighbour resolved too. Else probes
	// go out of the raw socket and fallback says why.
	framed, ok bool
	fallback   string
	// sum is the ICMPv6 pseudo-header's partial sum without the
	// destination: the source, the upper-layer length and next header.
	sum uint32
}

// ip6PseudoSum is the one's-complement sum of the IPv6 pseudo-header
// (RFC 8200 §8.1) of an ICMPv6 message of plen bytes from src, without
// the destination address.
func ip6PseudoSum(src [16]byte, plen int) uint32 {
	var s uint32
	for i := 0; i < 16; i += 2 {
		s += uint32(binary.BigEndian.Uint16(src[i:]))
	}
	return s + uint32(plen)&0xffff + uint32(plen)>>16 + protoICMPv6
}

// putFrame6 writes an Ethernet+IPv6 frame carrying the ICMPv6 message
// payload (its checksum field ignored) to dst through h into b and
// returns its length: traffic class and flow label 0, the hop's hop
// limit, the ICMPv6 checksum over the pseudo-header. b must hold
// frame6HdrLn+len(payload).
func putFrame6(b []byte, h *l6hop, dst [16]byte, payload []byte) int {
	copy(b[0:6], h.dmac[:])
	copy(b[6:12], h.smac[:])
	binary.BigEndian.PutUint16(b[12:], etherIPv6)
	ip := b[ethHdrLen:frame6HdrLn]
	ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0 // version 6, class 0, flow label 0
	binary.BigEndian.PutUint16(ip[4:], uint16(len(payload)))
	ip[6], ip[7] = protoICMPv6, h.hlim
	copy(ip[8:24], h.src[:])
	copy(ip[24:40], dst[:])
	m := b[frame6HdrLn:]
	n := copy(m, payload)
	m[2], m[3] = 0, 0
	s := h.sum
	for i := 0; i < 16; i += 2 {
		s += uint32(binary.BigEndian.Uint16(dst[i:]))
	}
	for i := 0; i+1 < n; i += 2 {
		s += uint32(binary.BigEndian.Uint16(m[i:]))
	}
	if n&1 == 1 {
		s += uint32(m[n-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(m[2:], ^uint16(s))
	return frame6HdrLn + n
}

// route6 is one IPv6 route of the main or local table.
type route6 struct {
	dst  [16]byte
	bits uint8
	gw   [16]byte // zero: on-link
	oif  int32
	src  [16]byte // RTA_PREFSRC; zero: selected from the addresses
	prio uint32
	hlim uint8 // the route's hoplimit metric; 0: none
	// other: not a unicast route (blackhole, unreachable, prohibit...),
	// multipath, or source-specific: the kernel's own path handles it.
	other bool
	// local: from the local table (own addresses, anycast, multicast),
	// which the kernel consults before the main one.
	local bool
}

// addr6 is one IPv6 interface address.
type addr6 struct {
	ifindex int32
	ip      [16]byte
	bits    uint8 // prefix length
	// deprecated: preferred lifetime over (or optimistic); tentative:
	// duplicate address detection not done (or failed), never a source;
	// temporary: a privacy address (RFC 8981).
	deprecated, tentative, temporary bool
}

// IFA_F_* address flags (rtnetlink(7)).
const (
	ifaTemporary  = 0x01
	ifaOptimistic = 0x04
	ifaDADFailed  = 0x08
	ifaDeprecated = 0x20
	ifaTentative  = 0x40
)

type neigh6Key struct {
	ifindex int32
	ip      [16]byte
}

type hop6Key struct {
	ifindex int32
	nh, src [16]byte
}

// l6tables is a snapshot of the kernel's IPv6 route, address and
// neighbour tables and the links (main and local tables only).
type l6tables struct {
	routes []route6 // local first, then longest prefix, then lowest metric
	links  map[int32]l2link
	addrs  []addr6 // in the kernel's dump order (links by index)
	neigh  map[neigh6Key][6]byte
	// hlimIf is each link's hop_limit (net.ipv6.conf.IF.hop_limit, or
	// what a router advertised); hlim the namespace's
	// net.ipv6.conf.all.hop_limit, for links without one; 0: defHopLimit6.
	hlimIf map[int32]uint8
	hlim   uint8
}

// sortRoutes orders the routes as the lookup walks them and marks ECMP
// siblings (routes of one prefix and metric with different next hops,
// as older kernels dump IPv6 multipath) as left to the kernel.
func (t *l6tables) sortRoutes() {
	slices.SortStableFunc(t.routes, func(a, b route6) int {
		if a.local != b.local {
			if a.local {
				return -1
			}
			return 1
		}
		if a.bits != b.bits {
			return int(b.bits) - int(a.bits)
		}
		if a.prio != b.prio {
			return int(a.prio) - int(b.prio)
		}
		return bytes.Compare(a.dst[:], b.dst[:]) // siblings side by side
	})
	for i := 1; i < len(t.routes); i++ {
		a, b := &t.routes[i-1], &t.routes[i]
		if a.local == b.local && a.bits == b.bits && a.prio == b.prio && a.dst == b.dst && !a.other && !b.other {
			a.other, b.other = true, true
		}
	}
}

// prefixMatch reports whether a and p agree in their first bits bits.
func prefixMatch(a, p [16]byte, n uint8) bool {
	n = min(n, 128)
	full := int(n / 8)
	if string(a[:full]) != string(p[:full]) {
		return false
	}
	if r := n % 8; r != 0 {
		m := byte(0xff) << (8 - r)
		return a[full]&m == p[full]&m
	}
	return true
}

// commonBits is the length of the common prefix of a and b.
func commonBits(a, b [16]byte) int {
	for i := 0; i < 16; i += 8 {
		x := binary.BigEndian.Uint64(a[i:]) ^ binary.BigEndian.Uint64(b[i:])
		if x != 0 {
			return i*8 + bits.LeadingZeros64(x)
		}
	}
	return 128
}

// scope6 is the scope of a unicast or multicast address as the kernel's
// source selection ranks it (__ipv6_addr_src_scope): node 1, link 2,
// site 5, global 14; multicast from the address.
func scope6(a [16]byte) int {
	switch {
	case a[0] == 0xff:
		return int(a[1] & 0xf)
	case a == [16]byte{15: 1}:
		return 1 // loopback: node-local
	case a[0] == 0xfe && a[1]&0xc0 == 0x80:
		return 2
	case a[0] == 0xfe && a[1]&0xc0 == 0xc0:
		return 5
	}
	return 14 // global, unique-local included
}

// label6 is the address's label in the kernel's default policy table
// (net/ipv6/addrlabel.c; RFC 6724 §2.1 with Teredo and ORCHID).
func label6(a [16]byte) int {
	for _, l := range [...]struct {
		p     [16]byte
		bits  uint8
		label int
	}{
		{[16]byte{15: 1}, 128, 0},
		{[16]byte{10: 0xff, 11: 0xff}, 96, 4},
		{[16]byte{}, 96, 3},
		{[16]byte{0x20, 0x01, 0x00, 0x10}, 28, 7},
		{[16]byte{0x20, 0x01}, 32, 6},
		{[16]byte{0x20, 0x02}, 16, 2},
		{[16]byte{0x3f, 0xfe}, 16, 12},
		{[16]byte{0xfe, 0xc0}, 10, 11},
		{[16]byte{0xfc}, 7, 5},
	} {
		if prefixMatch(a, l.p, l.bits) {
			return l.label
		}
	}
	return 1
}

// selectSrc6 picks the source address for dst leaving by oif as the
// kernel's ipv6_dev_get_saddr does without a preferred source: the
// addresses of oif only when dst is link-local (or narrower), else of
// every link; never tentative ones; ranked by appropriate scope,
// not deprecated, on oif, same label, public rather than temporary (the
// kernel's choice while use_tempaddr < 2, its default; the sysctl is not
// read), longest common prefix (capped at the address's prefix length);
// the first best in the dump order wins. ok is false when no address
// qualifies.
func (t *l6tables) selectSrc6(dst [16]byte, oif int32) (src [16]byte, ok bool) {
	ds, dl := scope6(dst), label6(dst)
	oifOnly := ds <= 2
	var best [6]int
	for _, a := range t.addrs {
		if a.tentative || a.ip[0] == 0xff || a.ip == [16]byte{} || oifOnly && a.ifindex != oif {
			continue
		}
		s := scope6(a.ip)
		if s >= ds {
			s = -s
		} else {
			s -= 128
		}
		var sc [6]int
		sc[0] = s
		if !a.deprecated {
			sc[1] = 1
		}
		if a.ifindex == oif {
			sc[2] = 1
		}
		if label6(a.ip) == dl {
			sc[3] = 1
		}
		if !a.temporary {
			sc[4] = 1
		}
		sc[5] = min(commonBits(a.ip, dst), int(a.bits))
		if !ok || slices.Compare(sc[:], best[:]) > 0 {
			src, best, ok = a.ip, sc, true
		}
	}
	return src, ok
}

// hopFor resolves dst through the tables: the first matching route (the
// local table, then the longest prefix, then the lowest metric), its
// gateway (or dst itself when on-link), the egress link, the source
// address and the neighbour's MAC. A hop that cannot carry frames has ok
// false and says why in fallback.
func (t *l6tables) hopFor(dst [16]byte, plen int) l6hop {
	if dst[0] == 0xfe && dst[1]&0xc0 == 0x80 || dst[0] == 0xff {
		// The engine's sockaddr carries no scope (zone): the kernel
		// decides, or refuses, as before.
		return l6hop{nh: dst, fallback: "a link-local or multicast destination"}
	}
	for _, r := range t.routes {
		if !prefixMatch(dst, r.dst, r.bits) {
			continue
		}
		h := l6hop{ifindex: r.oif, nh: dst}
		if r.local {
			h.fallback = "a local, anycast or multicast address"
			return h
		}
		if r.other {
			h.fallback = "not a unicast route"
			return h
		}
		if r.gw != [16]byte{} {
			h.nh = r.gw
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
		h.src = r.src
		if h.src == [16]byte{} {
			if h.src, ok = t.selectSrc6(dst, r.oif); !ok {
				h.fallback = "no usable IPv6 source address for " + l.name
				return h
			}
		}
		// The hop limit as ip6_dst_hoplimit picks it: the route's
		// metric, else the egress link's, else the namespace's.
		h.smac, h.hlim, h.framed = l.mac, r.hlim, true
		if h.hlim == 0 {
			h.hlim = t.hlimIf[r.oif]
		}
		if h.hlim == 0 {
			h.hlim = t.hlim
		}
		if h.hlim == 0 {
			h.hlim = defHopLimit6
		}
		h.sum = ip6PseudoSum(h.src, plen)
		mac, ok := t.neigh[neigh6Key{r.oif, h.nh}]
		if !ok {
			h.fallback = "neighbour " + netip.AddrFrom16(h.nh).String() + " on " + l.name + " not resolved"
			return h
		}
		h.dmac, h.ok = mac, true
		return h
	}
	return l6hop{nh: dst, fallback: "no route"}
}

// Linux rtnetlink values (rtnetlink(7), linux/rtnetlink.h, if_link.h),
// spelled out so this pure code builds on every platform.
const (
	rtmsgLen      = 12 // struct rtmsg
	ifinfomsgLen  = 16 // struct ifinfomsg
	afInet6       = 10
	rtnUnicast    = 1
	rtaDst        = 1
	rtaOIF        = 4
	rtaGateway    = 5
	rtaPriority   = 6
	rtaPrefSrc    = 7
	rtaMetrics    = 8
	rtaMultipath  = 9
	rtaTable      = 15
	rtaxHopLimit  = 10
	iflaProtInfo  = 12
	iflaInet6Conf = 2
)

// parseRoute6 decodes the body of an RTM_NEWROUTE message (struct rtmsg,
// then attributes): an IPv6 route and its table. ok is false for other
// families and malformed messages.
func parseRoute6(b []byte) (r route6, table uint32, ok bool) {
	if len(b) < rtmsgLen || b[0] != afInet6 {
		return r, 0, false
	}
	r.bits, table = b[1], uint32(b[4])
	r.other = b[7] != rtnUnicast || b[2] != 0 // source-specific ("from") routes too
	ad, err := netlink.NewAttributeDecoder(b[rtmsgLen:])
	if err != nil {
		return r, 0, false
	}
	addr := func(dst *[16]byte) func([]byte) error {
		return func(v []byte) error {
			if len(v) != 16 {
				return errors.New("not an IPv6 address")
			}
			*dst = [16]byte(v)
			return nil
		}
	}
	for ad.Next() {
		switch ad.Type() {
		case rtaDst:
			ad.Do(addr(&r.dst))
		case rtaGateway:
			ad.Do(addr(&r.gw))
		case rtaPrefSrc:
			ad.Do(addr(&r.src))
		case rtaOIF:
			r.oif = int32(ad.Uint32())
		case rtaPriority:
			r.prio = ad.Uint32()
		case rtaTable:
			table = ad.Uint32()
		case rtaMultipath:
			r.other = true
		case rtaMetrics:
			ad.Nested(func(m *netlink.AttributeDecoder) error {
				for m.Next() {
					if m.Type() == rtaxHopLimit {
						r.hlim = uint8(min(m.Uint32(), 255))
					}
				}
				return m.Err()
			})
		}
	}
	return r, table, ad.Err() == nil
}

// parseLinkHopLimit decodes the body of an RTM_NEWLINK message of an
// AF_INET6 link dump (struct ifinfomsg, then IFLA_PROTINFO holding
// IFLA_INET6_CONF, the link's devconf array): the link's index and
// hop_limit. ok is false when the message has none.
func parseLinkHopLimit(b []byte) (ifindex int32, hlim uint8, ok bool) {
	if len(b) < ifinfomsgLen {
		return 0, 0, false
	}
	ifindex = int32(binary.NativeEndian.Uint32(b[4:]))
	ad, err := netlink.NewAttributeDecoder(b[ifinfomsgLen:])
	if err != nil {
		return 0, 0, false
	}
	const devconfHopLimit = 1 // DEVCONF_HOPLIMIT: the array's second s32
	for ad.Next() {
		if ad.Type() != iflaProtInfo {
			continue
		}
		ad.Nested(func(n *netlink.AttributeDecoder) error {
			for n.Next() {
				if n.Type() != iflaInet6Conf {
					continue
				}
				n.Do(func(v []byte) error {
					if len(v) >= 4*(devconfHopLimit+1) {
						if h := int32(binary.NativeEndian.Uint32(v[4*devconfHopLimit:])); h > 0 && h < 256 {
							hlim, ok = uint8(h), true
						}
					}
					return nil
				})
			}
			return n.Err()
		})
	}
	return ifindex, hlim, ok && ad.Err() == nil
}
