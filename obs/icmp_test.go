// SPDX-License-Identifier: MIT

package obs

import (
	"strings"
	"testing"
)

func TestICMPText(t *testing.T) {
	for _, c := range []struct {
		v6        bool
		typ, code uint8
		want      string
	}{
		{false, 3, 0, "network unreachable"},
		{false, 3, 1, "host unreachable"},
		{false, 3, 3, "port unreachable"},
		{false, 3, 13, "communication administratively prohibited"},
		{false, 3, 99, "destination unreachable (code 99)"},
		{false, 11, 0, "TTL exceeded in transit"},
		{false, 11, 1, "fragment reassembly time exceeded"},
		{false, 12, 2, "parameter problem (code 2)"},
		{false, 4, 0, "source quench"},
		{false, 5, 1, "ICMP type 5 code 1"},
		{true, 1, 0, "no route to destination"},
		{true, 1, 3, "address unreachable"},
		{true, 1, 4, "port unreachable"},
		{true, 1, 200, "destination unreachable (code 200)"},
		{true, 2, 0, "packet too big"},
		{true, 3, 0, "hop limit exceeded in transit"},
		{true, 4, 1, "parameter problem (code 1)"},
		{true, 137, 0, "ICMPv6 type 137 code 0"},
	} {
		if got := ICMPText(c.v6, c.typ, c.code); got != c.want {
			t.Errorf("ICMPText(v6=%v, %d, %d) = %q, want %q", c.v6, c.typ, c.code, got, c.want)
		}
	}
	// Every defined unreachable code has a name of its own.
	for code := range uint8(icmp4UnreachMax + 1) {
		if s := ICMPText(false, 3, code); s == "" || strings.Contains(s, "code") {
			t.Errorf("v4 unreachable code %d: %q", code, s)
		}
	}
	for code := range uint8(icmp6UnreachMax + 1) {
		if s := ICMPText(true, 1, code); s == "" || strings.Contains(s, "code") {
			t.Errorf("v6 unreachable code %d: %q", code, s)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = ICMPText(false, 3, 1); _ = ICMPText(true, 3, 0) }); n != 0 {
		t.Errorf("common errors allocate %v times", n)
	}
}
