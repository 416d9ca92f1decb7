// SPDX-License-Identifier: MIT

package bench

import (
	"net/netip"

	"github.com/hbmon/hb/internal/testutil"
)

// FleetConfig describes a simulated fleet: two network namespaces joined by
// one veth pair. The hosts namespace answers for the whole Block (a kernel
// `local` route on lo), so every address in it is a live simulated host.
type FleetConfig struct {
	// Prefix names the namespaces (Prefix+"-p", Prefix+"-h"); cleanup
	// after a crash deletes every namespace starting with it.
	Prefix string
	// Block is the simulated hosts' range; it must lie in 198.18.0.0/15.
	Block netip.Prefix
	// Block6, if valid, is an IPv6 range the hosts namespace answers too;
	// it must lie in 2001:2::/48 (RFC 5180's benchmarking range, which
	// internal/testutil's fleets use as well) and outside Link6. It is
	// how a fleet holds more than the 131,070 IPv4 hosts of Block (the
	// 1M-target monitor row).
	Block6 netip.Prefix
}

// IPv6 link addresses (a /64 of 2001:2::/48 that no Block6 may overlap).
var (
	Link6       = netip.MustParsePrefix("2001:2:0:ffff::/64")
	ProberAddr6 = netip.MustParseAddr("2001:2:0:ffff::1")
	HostsAddr6  = netip.MustParseAddr("2001:2:0:ffff::2")
	Bench6      = netip.MustParsePrefix("2001:2::/48")
)

// SimAddr6 is the i-th simulated IPv6 host of 2001:2::/64 (i >= 0).
func SimAddr6(i int) netip.Addr {
	b := [16]byte{0x20, 0x01, 0x00, 0x02}
	v := uint64(i + 1)
	for j := 15; j >= 8; j-- {
		b[j] = byte(v)
		v >>= 8
	}
	return netip.AddrFrom16(b)
}

// FleetAddr is the i-th simulated host (i >= 0) of a fleet built with
// Block 198.18.0.0/15 and Block6 2001:2::/64, in the order target lists
// use: the 131,070 IPv4 hosts of testutil.SimAddr, then SimAddr6.
func FleetAddr(i int) netip.Addr {
	if i < SimAddrs4 {
		return testutil.SimAddr(i)
	}
	return SimAddr6(i - SimAddrs4)
}

// SimAddrs4 is how many IPv4 hosts 198.18.0.0/15 holds (testutil.SimAddr).
const SimAddrs4 = 1<<17 - 2

// Link addresses, at the top of 198.19.0.0/16, outside the simulated hosts
// SimAddr hands out for up to 131,000 targets.
var (
	ProberAddr = netip.MustParseAddr("198.19.255.253")
	HostsAddr  = netip.MustParseAddr("198.19.255.254")
	linkPrefix = 30
)

// Interface names inside the two namespaces.
const (
	ProberIf = "hbp0"
	HostsIf  = "hbh0"
)

// Fleet is a built fleet; Close deletes it.
type Fleet struct {
	Prober, Hosts string // namespace names
	Block         netip.Prefix
	Block6        netip.Prefix // invalid: none
}
