// SPDX-License-Identifier: MIT

package testutil

import (
	"net"
	"testing"
)

// TestListenUDPClient narrows a namespace's ephemeral range to the avoided
// port and one other: every client must get the other one, whichever the
// kernel tried first; with the avoided port alone in the range it fails.
func TestListenUDPClient(t *testing.T) {
	ns := NewNetns(t)
	ns.Sysctl(t, "net.ipv4.ip_local_port_range", "50003 50004")
	for range 8 {
		var port int
		if err := ns.Do(func() error {
			c, err := ListenUDPClient("udp", 50003)
			if err != nil {
				return err
			}
			port = c.LocalAddr().(*net.UDPAddr).Port
			return c.Close()
		}); err != nil {
			t.Fatal(err)
		}
		if port != 50004 {
			t.Fatalf("client bound to port %d, want 50004", port)
		}
	}
	ns.Sysctl(t, "net.ipv4.ip_local_port_range", "50003 50003")
	if err := ns.Do(func() error {
		c, err := ListenUDPClient("udp", 50003)
		if err == nil {
			c.Close()
		}
		return err
	}); err == nil {
		t.Fatal("a client with only the avoided port free: no error")
	}
}
