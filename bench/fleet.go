// SPDX-License-Identifier: MIT

package bench

import (
	"net/netip"
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
}

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
}
