// SPDX-License-Identifier: MIT

//go:build !linux

package responder

import (
	"net"
	"net/netip"
)

// enablePktinfo is a no-op off Linux: the local address stays unknown.
func enablePktinfo(*net.UDPConn) error { return nil }

func parsePktinfo([]byte) netip.Addr { return netip.Addr{} }

func pktinfoOOB(netip.Addr) []byte { return nil }
