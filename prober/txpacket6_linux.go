// SPDX-License-Identifier: MIT

package prober

import (
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The IPv6 side of pktSock: a pktSock with v6 set sits on the raw ICMPv6
// socket and sends the probes it can as Ethernet + IPv6 frames (frame6.go);
// the rest of the machinery (runs of frames and fallbacks, the key
// rewrite, the change subscription) is txpacket_linux.go's.

// load6 reads the IPv6 addresses, routes and neighbours over the links
// already read, and the hop limit.
func (p *pktSock) load6(links map[int32]l2link) error {
	t := l6tables{links: links}
	addrs, err := p.nl.Address.List()
	if err != nil {
		return fmt.Errorf("rtnetlink addresses: %w", err)
	}
	for _, a := range addrs {
		if a.Family != unix.AF_INET6 || a.Attributes == nil {
			continue
		}
		ip := a.Attributes.Local
		if ip == nil {
			ip = a.Attributes.Address
		}
		if len(ip) != 16 {
			continue
		}
		fl := uint32(a.Flags)
		if a.Attributes.Flags != 0 {
			fl = a.Attributes.Flags // IFA_FLAGS: all 32 bits
		}
		t.addrs = append(t.addrs, addr6{
			ifindex:    int32(a.Index),
			ip:         [16]byte(ip),
			bits:       a.PrefixLength,
			tentative:  fl&ifaTentative != 0 && fl&ifaOptimistic == 0 || fl&ifaDADFailed != 0,
			deprecated: fl&(ifaDeprecated|ifaOptimistic) != 0,
			temporary:  fl&ifaTemporary != 0,
		})
	}
	// Routes and the links' hop limits from raw dumps: the rtnetlink
	// package's types carry neither the hoplimit metric nor the links'
	// IPv6 settings.
	routes, err := p.dump6(unix.RTM_GETROUTE, rtmsgLen)
	if err != nil {
		return fmt.Errorf("rtnetlink routes: %w", err)
	}
	for _, m := range routes {
		r, table, ok := parseRoute6(m.Data)
		if m.Header.Type != unix.RTM_NEWROUTE || !ok || table != unix.RT_TABLE_MAIN && table != unix.RT_TABLE_LOCAL {
			continue
		}
		r.local = table == unix.RT_TABLE_LOCAL
		t.routes = append(t.routes, r)
	}
	t.sortRoutes()
	links6, err := p.dump6(unix.RTM_GETLINK, ifinfomsgLen)
	if err != nil {
		return fmt.Errorf("rtnetlink IPv6 links: %w", err)
	}
	t.hlimIf = make(map[int32]uint8, len(links6))
	for _, m := range links6 {
		if i, h, ok := parseLinkHopLimit(m.Data); ok && m.Header.Type == unix.RTM_NEWLINK {
			t.hlimIf[i] = h
		}
	}
	// The hop limit for links without IPv6 settings: that of the
	// socket's namespace, net.ipv6.conf.all.hop_limit (IPV6_UNICAST_HOPS
	// on an unconnected socket).
	if p.rawFD > 0 {
		if v, err := unix.GetsockoptInt(p.rawFD, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS); err == nil && v > 0 && v < 256 {
			t.hlim = uint8(v)
		}
	}
	p.tab6 = t
	if err := p.loadNeigh(); err != nil {
		return err
	}
	p.hops6, p.hopIdx6, p.byDst6 = p.hops6[:0], map[hop6Key]int32{}, map[[16]byte]int32{}
	p.gen++ // every target's cached hop is stale
	return nil
}

// dump6 runs an AF_INET6 dump request of typ, whose fixed header is hdr
// bytes long.
func (p *pktSock) dump6(typ uint16, hdr int) ([]netlink.Message, error) {
	req := make([]byte, hdr)
	req[0] = unix.AF_INET6
	return p.nl6.Execute(netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | netlink.Dump}, Data: req})
}

// loadNeigh6 keeps the IPv6 (NDP) neighbours with a link-layer address.
func (p *pktSock) loadNeigh6(ns []rtnetlink.NeighMessage) {
	p.tab6.neigh = make(map[neigh6Key][6]byte, len(ns))
	for _, n := range ns {
		if n.Family != unix.AF_INET6 || n.State&nudValid == 0 || n.Attributes == nil || len(n.Attributes.LLAddress) != 6 || len(n.Attributes.Address) != 16 {
			continue
		}
		p.tab6.neigh[neigh6Key{int32(n.Index), [16]byte(n.Attributes.Address)}] = [6]byte(n.Attributes.LLAddress)
	}
}

// refreshHops6 re-reads each framed hop's neighbour after loadNeigh.
func (p *pktSock) refreshHops6() {
	for i := range p.hops6 {
		h := &p.hops6[i]
		if !h.framed {
			continue
		}
		if mac, ok := p.tab6.neigh[neigh6Key{h.ifindex, h.nh}]; ok {
			h.dmac, h.ok, h.fallback = mac, true, ""
		} else if h.ok {
			h.ok, h.fallback = false, "neighbour "+netip.AddrFrom16(h.nh).String()+" no longer resolved"
		}
	}
}

// hop6 returns the hop for the IPv6 destination d.
func (p *pktSock) hop6(d [16]byte) *l6hop {
	if i, ok := p.byDst6[d]; ok {
		return &p.hops6[i]
	}
	i := p.resolveHop6(d)
	p.byDst6[d] = i
	return &p.hops6[i]
}

// hop6OfTarget is hop6's index for message i of the current sendmmsg,
// through the target's cached hop when the engine named the message's
// target and that target's address is d (as hopOfTarget for IPv4).
func (p *pktSock) hop6OfTarget(i int, d [16]byte) int32 {
	if i < len(p.hint) {
		if ti := int(p.hint[i]); ti >= 0 && ti < len(p.tt) {
			if t := &p.tt[ti]; t.fam == 1 && t.addr == d {
				if t.hop != 0 && t.hopGen == p.gen && int(t.hop) <= len(p.hops6) {
					return t.hop - 1
				}
				x := p.resolveHop6(d)
				t.hop, t.hopGen = x+1, p.gen
				return x
			}
		}
	}
	if i, ok := p.byDst6[d]; ok {
		return i
	}
	x := p.resolveHop6(d)
	p.byDst6[d] = x
	return x
}

// resolveHop6 looks d up in the tables and returns its index in p.hops6,
// adding the hop when no destination used it yet.
func (p *pktSock) resolveHop6(d [16]byte) int32 {
	h := p.tab6.hopFor(d, p.plen)
	k := hop6Key{h.ifindex, h.nh, h.src}
	i, ok := p.hopIdx6[k]
	if !ok || !h.framed {
		i = int32(len(p.hops6))
		p.hops6 = append(p.hops6, h)
		p.hopIdx6[k] = i
	}
	return i
}

// dst6 is the address of the engine's sockaddr_in6.
func dst6(m *unix.Mmsghdr) [16]byte {
	return [16]byte(unsafe.Slice(m.Hdr.Name, unix.SizeofSockaddrInet6)[8:24])
}

// put6 writes message m as frame k of the batch, to the hop runPath
// recorded for it.
func (p *pktSock) put6(k int, m *unix.Mmsghdr) {
	dst := dst6(m)
	hp := &p.hops6[p.runHop[k]]
	l := putFrame6(p.frames[k], hp, dst, unsafe.Slice(m.Hdr.Iov.Base, m.Hdr.Iov.Len))
	p.iov[k].SetLen(l)
	p.name(k, hp.ifindex, hp.dmac)
}

// ifaces6 names the Ethernet links the IPv6 routes leave by.
func (p *pktSock) ifaces6() []string {
	var ifs []string
	for _, r := range p.tab6.routes {
		if l, ok := p.tab6.links[r.oif]; ok && l.ether && !r.local {
			ifs = append(ifs, l.name)
		}
	}
	return uniq(ifs)
}
