// SPDX-License-Identifier: MIT

package testutil

import (
	"fmt"
	"net"
)

// ListenUDPClient opens a UDP socket on network ("udp", "udp4", "udp6")
// bound to an ephemeral port other than avoid, for a test client talking
// to a responder on port avoid: responders never answer a datagram from
// their own port (no loops between responders), so a client socket the
// kernel happened to bind to it (1 in ~28,000 with the default
// ip_local_port_range) would never hear back. On such a pick the socket is
// held while a second one binds, so the kernel cannot hand the port out
// again.
func ListenUDPClient(network string, avoid uint16) (*net.UDPConn, error) {
	c, err := net.ListenUDP(network, nil)
	if err != nil || c.LocalAddr().(*net.UDPAddr).Port != int(avoid) {
		return c, err
	}
	defer c.Close()
	d, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, fmt.Errorf("a UDP port other than %d: %w", avoid, err)
	}
	return d, nil
}
