// SPDX-License-Identifier: MIT

package prober

import "golang.org/x/net/bpf"

// replyFilter is the classic BPF socket filter of a raw ICMP socket: it
// keeps echo replies carrying our identifier and the ICMP errors the
// engine decodes (userspace then checks the quoted probe's cookie), and
// drops everything else in the kernel. An IPv4 raw socket's packets start
// with the IP header (its length read with the MSH idiom); an ICMPv6 raw
// socket's start at the ICMPv6 header.
func replyFilter(v6 bool, id uint16) []bpf.Instruction {
	echo, errs := uint32(icmp4EchoReply), [4]uint32{icmp4Unreach, icmp4TimeExc, icmp4ParamProb, icmp4SourceQu}
	var hdr bpf.Instruction = bpf.LoadMemShift{Off: 0} // X = 4*IHL
	if v6 {
		echo, errs = icmp6EchoReply, [4]uint32{icmp6Unreach, icmp6TooBig, icmp6TimeExc, icmp6ParamProb}
		hdr = bpf.LoadConstant{Dst: bpf.RegX, Val: 0}
	}
	const (
		accept = 10 // instruction indexes below
		reject = 9
	)
	skip := func(from, to int) uint8 { return uint8(to - from - 1) }
	return []bpf.Instruction{
		hdr,                               // 0
		bpf.LoadIndirect{Off: 0, Size: 1}, // 1: A = ICMP type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: echo, SkipFalse: skip(2, 5)},                                       // 2: echo reply?
		bpf.LoadIndirect{Off: 4, Size: 2},                                                                       // 3: A = identifier
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipTrue: skip(4, accept), SkipFalse: skip(4, reject)}, // 4
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: errs[0], SkipTrue: skip(5, accept)},                                // 5: an ICMP error?
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: errs[1], SkipTrue: skip(6, accept)},                                // 6
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: errs[2], SkipTrue: skip(7, accept)},                                // 7
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: errs[3], SkipTrue: skip(8, accept)},                                // 8
		bpf.RetConstant{Val: 0},      // 9: reject
		bpf.RetConstant{Val: 0xffff}, // 10: accept the whole packet
	}
}

// ringFilter6 is replyFilter(true, id) for a receive ring's cooked IPv6
// packets, which start at the IPv6 header rather than at the ICMPv6
// header a raw socket sees: it first requires ICMPv6 as the next header
// (a packet with extension headers is dropped), then runs the same
// program with the ICMPv6 header at offset 40.
func ringFilter6(id uint16) []bpf.Instruction {
	prog := replyFilter(true, id)
	const reject = 9 + 2 // replyFilter's reject, moved by the two instructions added
	return append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 1},                                            // 0: A = next header
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipFalse: reject - 1 - 1}, // 1
		bpf.LoadConstant{Dst: bpf.RegX, Val: ipv6HdrLen},                             // 2: X = 40, replacing replyFilter's X = 0
	}, prog[1:]...)
}
