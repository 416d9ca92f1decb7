// SPDX-License-Identifier: MIT

package responder

import (
	"net"
	"net/netip"
	"slices"

	"github.com/hbmon/hb/bpf"
)

// Net is what the eBPF program needs to know about this host's network:
// the addresses it answers for, the subnet broadcast addresses it refuses
// as sources, and the interfaces (MAC, loopback) frames may arrive on.
type Net struct {
	Addrs  []netip.Addr
	Bcast  []netip.Addr
	Ifaces []bpf.Iface
}

// Equal reports whether n and o describe the same network.
func (n Net) Equal(o Net) bool {
	return slices.Equal(n.Addrs, o.Addrs) && slices.Equal(n.Bcast, o.Bcast) && slices.Equal(n.Ifaces, o.Ifaces)
}

// LocalNet reads this host's interfaces and addresses (in the caller's
// network namespace), sorted.
func LocalNet() (Net, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return Net{}, err
	}
	var n Net
	for _, ifc := range ifs {
		bi := bpf.Iface{Index: ifc.Index, Loopback: ifc.Flags&net.FlagLoopback != 0}
		copy(bi.MAC[:], ifc.HardwareAddr)
		n.Ifaces = append(n.Ifaces, bi)
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // interface went away
		}
		for _, a := range addrs {
			p, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(p.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			n.Addrs = append(n.Addrs, ip)
			if ones, bits := p.Mask.Size(); ip.Is4() && bits == 32 && ones < 31 {
				n.Bcast = append(n.Bcast, broadcast(ip, ones))
			}
		}
	}
	sortAddrs := func(s []netip.Addr) []netip.Addr {
		slices.SortFunc(s, func(a, b netip.Addr) int { return a.Compare(b) })
		return slices.Compact(s)
	}
	n.Addrs, n.Bcast = sortAddrs(n.Addrs), sortAddrs(n.Bcast)
	return n, nil
}

// LocalAddrs returns every address configured on this host's interfaces
// (in the caller's network namespace), sorted.
func LocalAddrs() ([]netip.Addr, error) {
	n, err := LocalNet()
	return n.Addrs, err
}

// broadcast is the directed broadcast address of a's /ones IPv4 subnet.
func broadcast(a netip.Addr, ones int) netip.Addr {
	b := a.As4()
	for i := ones; i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}
