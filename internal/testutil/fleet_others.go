// SPDX-License-Identifier: MIT

//go:build !linux

package testutil

import (
	"net/netip"
	"testing"
)

// Fleet is Linux only.
type Fleet struct {
	Prober, Hosts      *Netns
	Gateway4, Gateway6 netip.Addr
}

// FleetConfig is Linux only.
type FleetConfig struct{ Local, Unreachable, Blackhole []netip.Prefix }

// DefaultFleet is Linux only.
var DefaultFleet FleetConfig

// NewFleet skips t: network namespaces are Linux only.
func NewFleet(t testing.TB, c FleetConfig) *Fleet {
	t.Helper()
	t.Skip("a simulated fleet needs Linux network namespaces")
	return nil
}

// FleetAddrs skips t off Linux.
func FleetAddrs(t testing.TB, p netip.Prefix, n int) []netip.Addr {
	t.Helper()
	t.Skip("needs Linux")
	return nil
}
