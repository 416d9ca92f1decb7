// SPDX-License-Identifier: MIT

//go:build linux

package testutil

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Fleet is a simulated fleet of hosts for probers: a "prober" namespace
// joined by a veth pair to a "hosts" namespace whose kernel answers every
// address of its Local prefixes (`ip route add local PREFIX dev lo`: one
// namespace, thousands of answering hosts). Unreachable prefixes produce
// ICMP destination-unreachable errors from the hosts namespace (it
// forwards, with ICMP rate limits off); blackhole prefixes swallow packets
// (timeouts). Both namespaces are deleted when the test ends.
type Fleet struct {
	Prober, Hosts *Netns
	Config        FleetConfig
	// Gateway4 and Gateway6 are the hosts side of the veth (the router
	// that reports ICMP errors).
	Gateway4, Gateway6 netip.Addr
}

// FleetConfig says which prefixes do what. Every prefix must lie inside
// 198.18.0.0/15 or 2001:2::/48 (the benchmarking ranges).
type FleetConfig struct {
	Local       []netip.Prefix // answered by the hosts namespace's kernel
	Unreachable []netip.Prefix // ICMP unreachable from the hosts namespace
	Blackhole   []netip.Prefix // silently dropped
}

// DefaultFleet: 4,096 IPv4 hosts (198.18.0.0/20) and 2001:2::/64 answer;
// 198.18.32.0/24 and 2001:2:0:1::/64 are unreachable; 198.18.48.0/24 and
// 2001:2:0:2::/64 are blackholed.
var DefaultFleet = FleetConfig{
	Local:       []netip.Prefix{netip.MustParsePrefix("198.18.0.0/20"), netip.MustParsePrefix("2001:2::/64")},
	Unreachable: []netip.Prefix{netip.MustParsePrefix("198.18.32.0/24"), netip.MustParsePrefix("2001:2:0:1::/64")},
	Blackhole:   []netip.Prefix{netip.MustParsePrefix("198.18.48.0/24"), netip.MustParsePrefix("2001:2:0:2::/64")},
}

var (
	simPrefix6 = netip.MustParsePrefix("2001:2::/48")
	linkP4     = netip.MustParsePrefix("198.19.255.1/30")
	linkH4     = netip.MustParsePrefix("198.19.255.2/30")
	linkP6     = netip.MustParsePrefix("2001:2:ffff::1/64")
	linkH6     = netip.MustParsePrefix("2001:2:ffff::2/64")
)

// NewFleet builds the two namespaces and the routes of c. It skips t when
// namespaces cannot be created (not root), and fails it on any other error.
func NewFleet(t testing.TB, c FleetConfig) *Fleet {
	t.Helper()
	for _, ps := range [][]netip.Prefix{c.Local, c.Unreachable, c.Blackhole} {
		for _, p := range ps {
			if !(SimPrefix.Contains(p.Addr()) && p.Bits() >= SimPrefix.Bits()) && !(simPrefix6.Contains(p.Addr()) && p.Bits() >= simPrefix6.Bits()) {
				t.Fatalf("fleet prefix %v is outside 198.18.0.0/15 and 2001:2::/48", p)
			}
		}
	}
	p, h := NewNetns(t), NewNetns(t)
	f := &Fleet{Prober: p, Hosts: h, Config: c, Gateway4: linkH4.Addr(), Gateway6: linkH6.Addr()}
	NewVeth(t, p, "hbp0", linkP4, h, "hbf0", linkH4)
	p.AddAddr(t, "hbp0", linkP6)
	h.AddAddr(t, "hbf0", linkH6)
	p.MustIP(t, "route", "add", "198.18.0.0/15", "via", linkH4.Addr().String())
	p.MustIP(t, "-6", "route", "add", "2001:2::/48", "via", linkH6.Addr().String())
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv6.conf.all.forwarding", "1"},
		{"net.ipv4.icmp_ratelimit", "0"},
		{"net.ipv6.icmp.ratelimit", "0"},
	} {
		h.Sysctl(t, kv[0], kv[1])
	}
	// Best effort: per-namespace only on newer kernels.
	_ = h.Command("sysctl", "-qw", "net.ipv4.icmp_msgs_per_sec=1000000").Run()
	_ = h.Command("sysctl", "-qw", "net.ipv4.icmp_msgs_burst=1000000").Run()
	route := func(kind string, ps []netip.Prefix) {
		for _, pr := range ps {
			args := []string{"route", "add", kind, pr.String()}
			if pr.Addr().Is6() {
				args = append([]string{"-6"}, args...)
			}
			if kind == "local" {
				args = append(args, "dev", "lo")
			}
			h.MustIP(t, args...)
		}
	}
	route("local", c.Local)
	route("unreachable", c.Unreachable)
	route("blackhole", c.Blackhole)
	// Resolve the neighbours once, so the first burst of probes does not
	// queue behind ARP/ND (where the kernel would drop most of it).
	for _, gw := range []string{linkH4.Addr().String(), linkH6.Addr().String()} {
		if out, err := p.Command("ping", "-c1", "-W2", gw).CombinedOutput(); err != nil {
			t.Fatalf("fleet: ping %s from the prober namespace: %v: %s", gw, err, out)
		}
	}
	return f
}

// FleetAddrs returns the first n addresses of prefix p after its network
// address, failing t when p has fewer.
func FleetAddrs(t testing.TB, p netip.Prefix, n int) []netip.Addr {
	t.Helper()
	out := make([]netip.Addr, 0, n)
	a := p.Addr().Next() // not the network (or subnet-router anycast) address
	for len(out) < n {
		if !p.Contains(a) {
			t.Fatalf("prefix %v holds fewer than %d addresses", p, n)
		}
		out = append(out, a)
		a = a.Next()
	}
	return out
}

// String describes the fleet for test logs.
func (f *Fleet) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fleet prober=%s hosts=%s local=%v unreachable=%v blackhole=%v", f.Prober.Name, f.Hosts.Name, f.Config.Local, f.Config.Unreachable, f.Config.Blackhole)
	return b.String()
}
