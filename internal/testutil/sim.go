// SPDX-License-Identifier: MIT

package testutil

import "net/netip"

// SimAddr returns the i-th simulated-host address in 198.18.0.0/15, from
// 198.18.0.1 on. It panics past the range: tests must never leave it.
func SimAddr(i int) netip.Addr {
	if i < 0 || i >= 1<<17-2 {
		panic("testutil: SimAddr out of 198.18.0.0/15")
	}
	v := uint32(198)<<24 | uint32(18)<<16 + uint32(i+1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// SimPrefix is the benchmarking range every simulated host lives in.
var SimPrefix = netip.MustParsePrefix("198.18.0.0/15")
