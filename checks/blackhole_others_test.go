// SPDX-License-Identifier: MIT

//go:build !linux

package checks

import (
	"net/netip"
	"testing"
)

// blackhole needs Linux's accept-queue behaviour (blackhole_linux_test.go).
func blackhole(t testing.TB) netip.AddrPort {
	t.Skip("the blackholed-port test needs Linux")
	return netip.AddrPort{}
}
