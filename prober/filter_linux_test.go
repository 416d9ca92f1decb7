// SPDX-License-Identifier: MIT

package prober

import (
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// The reply filter run in x/net/bpf's VM against golden packets, as a raw
// socket would hand them to it; and assembled for the kernel, where the
// privileged end-to-end tests attach it.
func TestReplyFilter(t *testing.T) {
	const id = 0x4242
	dst4 := netip.MustParseAddr("198.18.0.9")
	dst6 := netip.MustParseAddr("2001:db8::9")
	probe4 := template(kindICMP4, id, 0)
	probe6 := template(kindICMP6, id, 0)
	other4 := template(kindICMP4, id+1, 0)
	other6 := template(kindICMP6, id+1, 0)

	withType := func(b []byte, off int, typ byte) []byte {
		c := append([]byte(nil), b...)
		c[off] = typ
		return c
	}
	// An IPv4 header with options (IHL 6): the filter must find the ICMP
	// header by the header length.
	opts4 := func(b []byte) []byte {
		c := append([]byte(nil), b[:20]...)
		c[0] = 0x46
		c = append(c, 1, 1, 1, 0) // NOP NOP NOP EOL
		return append(c, b[20:]...)
	}
	reply4 := echoReply(false, dst4, probe4)
	unreach4 := icmpError4(netip.MustParseAddr("198.18.255.254"), dst4, probe4)
	reply6 := echoReply(true, dst6, probe6)
	tests := []struct {
		name   string
		v6     bool
		pkt    []byte
		accept bool
	}{
		{"v4 echo reply, our id", false, reply4, true},
		{"v4 echo reply with IP options", false, opts4(reply4), true},
		{"v4 echo reply, other id", false, echoReply(false, dst4, other4), false},
		{"v4 echo request", false, withType(reply4, 20, icmp4Echo), false},
		{"v4 destination unreachable", false, unreach4, true},
		{"v4 time exceeded", false, withType(unreach4, 20, icmp4TimeExc), true},
		{"v4 parameter problem", false, withType(unreach4, 20, icmp4ParamProb), true},
		{"v4 source quench", false, withType(unreach4, 20, icmp4SourceQu), true},
		{"v4 redirect", false, withType(unreach4, 20, 5), false},
		{"v4 truncated", false, reply4[:22], false},
		{"v6 echo reply, our id", true, reply6, true},
		{"v6 echo reply, other id", true, echoReply(true, dst6, other6), false},
		{"v6 echo request", true, probe6, false},
		{"v6 unreachable", true, withType(reply6, 0, icmp6Unreach), true},
		{"v6 packet too big", true, withType(reply6, 0, icmp6TooBig), true},
		{"v6 time exceeded", true, withType(reply6, 0, icmp6TimeExc), true},
		{"v6 parameter problem", true, withType(reply6, 0, icmp6ParamProb), true},
		{"v6 neighbour solicitation", true, withType(reply6, 0, 135), false},
	}
	vms := map[bool]*bpf.VM{}
	for _, v6 := range []bool{false, true} {
		vm, err := bpf.NewVM(replyFilter(v6, id))
		if err != nil {
			t.Fatal(err)
		}
		vms[v6] = vm
		if _, err := bpf.Assemble(replyFilter(v6, id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range tests {
		n, err := vms[tc.v6].Run(tc.pkt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := n > 0; got != tc.accept {
			t.Errorf("%s: kept %d bytes, want accept=%v", tc.name, n, tc.accept)
		}
		if tc.accept && n < len(tc.pkt) {
			t.Errorf("%s: truncated to %d of %d bytes", tc.name, n, len(tc.pkt))
		}
	}
}
