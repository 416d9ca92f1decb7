// SPDX-License-Identifier: MIT

package responder

import (
	"fmt"
	"strings"
)

// Mode is how the program is attached to an interface.
type Mode int

const (
	ModeInvalid Mode = iota
	// ModeNative is XDP in the driver (fastest). Native XDP_TX on a veth
	// delivers only if the peer veth has an XDP program too.
	ModeNative
	// ModeGeneric is XDP on the kernel's skb path (works on every
	// interface, including veth and lo).
	ModeGeneric
	// ModeTCX is a TC ingress program through a TCX link (Linux 6.6+);
	// replies are redirected to the interface's egress.
	ModeTCX
	// ModeClsact is a TC ingress filter on a clsact qdisc (older kernels),
	// attached by netlink.
	ModeClsact
	// ModeNone means nothing is attached: only the userspace responders
	// answer on that interface.
	ModeNone
)

// DefaultModes is the order Attach tries.
var DefaultModes = []Mode{ModeNative, ModeGeneric, ModeTCX, ModeClsact}

var modeNames = map[Mode]string{ModeNative: "native", ModeGeneric: "generic", ModeTCX: "tcx", ModeClsact: "clsact", ModeNone: "none"}

func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses a mode name ("native", "generic", "tcx", "clsact").
func ParseMode(s string) (Mode, error) {
	for m, n := range modeNames {
		if n == strings.ToLower(strings.TrimSpace(s)) && m != ModeNone {
			return m, nil
		}
	}
	return ModeInvalid, fmt.Errorf("unknown attach mode %q (want native, generic, tcx or clsact)", s)
}
