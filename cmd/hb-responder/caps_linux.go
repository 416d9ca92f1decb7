// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

var wantCaps = []struct {
	bit  uint
	name string
	why  string
}{
	{unix.CAP_BPF, "CAP_BPF", "load the eBPF program and create its maps"},
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN", "attach XDP/TC programs to interfaces"},
	{unix.CAP_NET_RAW, "CAP_NET_RAW", "raw-socket fallbacks"},
}

// capabilityHint names the capabilities this process lacks and how to
// grant them.
func capabilityHint() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	var missing []string
	if err := unix.Capget(&hdr, &data[0]); err == nil {
		for _, c := range wantCaps {
			if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
				missing = append(missing, fmt.Sprintf("  %s (to %s)", c.name, c.why))
			}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/sbin/hb-responder"
	}
	var b strings.Builder
	if len(missing) > 0 {
		fmt.Fprintf(&b, "missing capabilities:\n%s\n", strings.Join(missing, "\n"))
	}
	fmt.Fprintf(&b, "fix: run as root, or\n  sudo setcap cap_bpf,cap_net_admin,cap_net_raw+ep %s\n", exe)
	fmt.Fprintf(&b, "or under systemd:\n  AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_NET_RAW\n")
	fmt.Fprintf(&b, "or run without eBPF: hb-responder --userspace-only (UDP probes only)\n")
	return b.String()
}
