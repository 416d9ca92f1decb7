// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// A block the kernel retired (testdata/ring-block-v3.txt, captured by
// TestRxRingStampsMatchRawSocket -update-ring on x86-64): the descriptor,
// then four frames, each with its receive stamp and the IPv4 packet the
// reply filter let through.
func TestParseRingGolden(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the golden block was captured on a little-endian host")
	}
	b := golden(t, "ring-block-v3.txt")
	blk, err := parseRingBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	if blk.status != tpStatusUser|tpStatusBlkTmo || blk.n != 4 || blk.first != blkDescLen || blk.length != len(b) || blk.seq != 1 {
		t.Fatalf("block %+v (len %d)", blk, len(b))
	}
	type want struct {
		class pktClass
		addr  string // replier, or the quoted destination of an error
		seq   uint16
	}
	wants := []want{{pktReply, "198.18.0.1", 1}, {pktReply, "198.18.0.2", 2}, {pktReply, "198.18.0.3", 3}, {pktError, "198.18.32.1", 4}}
	off, last := blk.first, int64(0)
	for i, w := range wants {
		f, next, err := parseRingFrame(b, off)
		if err != nil {
			t.Fatalf("frame %d at %d: %v", i, off, err)
		}
		if i == 0 && f.ts != firstGoldenStamp {
			t.Errorf("first frame stamped %d, want %d", f.ts, firstGoldenStamp)
		}
		if f.ts < last || f.status&tpStatusTSSoft == 0 || f.pktType != packetHost || f.proto != etherTypeIP4 || f.ifindex <= 0 || f.wireLen != len(f.pkt) {
			t.Errorf("frame %d: %+v", i, f)
		}
		last = f.ts
		pkt, ok := ringIPv4(f.pkt)
		if !ok {
			t.Fatalf("frame %d: not a valid IPv4 packet", i)
		}
		p := parseIPv4(pkt)
		addr := p.src
		if p.class == pktError {
			addr = p.dst
			if p.icmpType != icmp4Unreach || p.src.String() != "198.19.255.2" {
				t.Errorf("error frame: type %d from %v", p.icmpType, p.src)
			}
		}
		if p.class != w.class || addr.String() != w.addr || p.seq != w.seq || p.id != 0x4242 {
			t.Errorf("frame %d: %+v, want %+v", i, p, w)
		}
		if _, _, ok := probeCookie(p.payload); !ok {
			t.Errorf("frame %d: no cookie in the payload", i)
		}
		if (next == 0) != (i == len(wants)-1) {
			t.Errorf("frame %d: next offset %d", i, next)
		}
		off = next
	}
}

// firstGoldenStamp is the first frame's tp_sec*1e9+tp_nsec in the golden
// block.
const firstGoldenStamp = 1796185153106324879

// Malformed blocks and frames are refused, never read past their end.
func TestParseRingMalformed(t *testing.T) {
	b := golden(t, "ring-block-v3.txt")
	ne := binary.NativeEndian
	if _, err := parseRingBlock(b[:blkDescLen-1]); err == nil {
		t.Error("a block shorter than its descriptor parsed")
	}
	if _, err := parseRingBlock(b[:len(b)-1]); err == nil {
		t.Error("a block shorter than its blk_len parsed")
	}
	mut := func(off int, v uint32) []byte {
		c := append([]byte(nil), b...)
		ne.PutUint32(c[off:], v)
		return c
	}
	if _, err := parseRingBlock(mut(blkFirstOff, 8)); err == nil {
		t.Error("a first frame inside the descriptor parsed")
	}
	first := blkDescLen
	for name, c := range map[string][]byte{
		"snaplen past the block":   mut(first+frSnapOff, 1<<20),
		"next offset past the end": mut(first+frNextOff, uint32(len(b))),
		"next offset too small":    mut(first+frNextOff, 4),
	} {
		f, next, err := parseRingFrame(c, first)
		if err == nil && next == 0 {
			t.Errorf("%s: parsed (%+v)", name, f)
		} else if err == nil {
			t.Errorf("%s: parsed with next %d", name, next)
		}
	}
	if _, _, err := parseRingFrame(b, len(b)-10); err == nil {
		t.Error("a frame header past the block parsed")
	}
	c := append([]byte(nil), b...)
	ne.PutUint16(c[first+frNetOff:], 10)
	if _, _, err := parseRingFrame(c, first); err == nil {
		t.Error("a packet inside the frame header parsed")
	}
}

// ringIPv4 applies the IPv4 input checks a raw socket's packets passed.
func TestRingIPv4(t *testing.T) {
	reply := golden(t, "icmp4-echo-reply.txt")
	if p, ok := ringIPv4(append(append([]byte(nil), reply...), 0, 0, 0, 0)); !ok || len(p) != len(reply) {
		t.Fatalf("padded reply: ok %v, len %d, want %d", ok, len(p), len(reply))
	}
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), reply...)
		f(b)
		return b
	}
	for name, b := range map[string][]byte{
		"short":             reply[:19],
		"IPv6":              mod(func(b []byte) { b[0] = 0x65 }),
		"bad checksum":      mod(func(b []byte) { b[10] ^= 1 }),
		"total length long": mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], uint16(len(b)+1)) }),
		"IHL below 5":       mod(func(b []byte) { b[0] = 0x44 }),
		"more fragments":    mod(func(b []byte) { b[6] |= 0x20; b[10], b[11] = 0, 0; fixSum(b) }),
		"fragment offset":   mod(func(b []byte) { b[7] = 1; b[10], b[11] = 0, 0; fixSum(b) }),
	} {
		if _, ok := ringIPv4(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if p := parseIPv4(reply); p.src != netip.MustParseAddr("198.18.0.1") {
		t.Fatalf("golden reply from %v", p.src)
	}
}

// fixSum rewrites an IPv4 header's checksum (b[10:12] zero).
func fixSum(b []byte) {
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(s))
}

// ringFilter6 in x/net/bpf's VM against whole IPv6 packets, as a cooked
// packet socket hands them to it: the golden echo reply captured on the
// fleet (id 0x9945), and variants of it.
func TestRingFilter6(t *testing.T) {
	reply := golden(t, "icmp6-echo-reply.txt")
	const id = 0x9945
	vm, err := bpf.NewVM(ringFilter6(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(ringFilter6(id)); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), reply...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name   string
		pkt    []byte
		accept bool
	}{
		{"echo reply, our id", reply, true},
		{"echo reply, other id", mod(func(b []byte) { b[ipv6HdrLen+4]++ }), false},
		{"echo request", mod(func(b []byte) { b[ipv6HdrLen] = icmp6Echo }), false},
		{"unreachable", mod(func(b []byte) { b[ipv6HdrLen] = icmp6Unreach }), true},
		{"packet too big", mod(func(b []byte) { b[ipv6HdrLen] = icmp6TooBig }), true},
		{"time exceeded", mod(func(b []byte) { b[ipv6HdrLen] = icmp6TimeExc }), true},
		{"parameter problem", mod(func(b []byte) { b[ipv6HdrLen] = icmp6ParamProb }), true},
		{"neighbour advertisement", mod(func(b []byte) { b[ipv6HdrLen] = 136 }), false},
		{"hop-by-hop header first", mod(func(b []byte) { b[6] = 0 }), false},
		{"UDP", mod(func(b []byte) { b[6] = protoUDP }), false},
		{"truncated", reply[:ipv6HdrLen+2], false},
	} {
		n, err := vm.Run(tc.pkt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := n > 0; got != tc.accept || tc.accept && n < len(tc.pkt) {
			t.Errorf("%s: kept %d of %d bytes, want accept=%v", tc.name, n, len(tc.pkt), tc.accept)
		}
	}
}

// ringIPv6 checks what IPv6 input and a raw ICMPv6 socket checked.
func TestRingIPv6(t *testing.T) {
	reply := golden(t, "icmp6-echo-reply.txt")
	msg, src, ok := ringIPv6(append(append([]byte(nil), reply...), 0, 0))
	if !ok || src != netip.MustParseAddr("2001:2::1") || len(msg) != len(reply)-ipv6HdrLen || msg[0] != icmp6EchoReply {
		t.Fatalf("golden reply (padded): ok %v, src %v, %d bytes", ok, src, len(msg))
	}
	if p := parseICMP6(msg, src); p.class != pktReply || p.id != 0x9945 || p.seq != 1 {
		t.Fatalf("parsed %+v", p)
	}
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), reply...)
		f(b)
		return b
	}
	for name, b := range map[string][]byte{
		"short":                reply[:ipv6HdrLen+4],
		"IPv4":                 mod(func(b []byte) { b[0] = 0x45 }),
		"extension header":     mod(func(b []byte) { b[6] = 0 }),
		"payload length long":  mod(func(b []byte) { binary.BigEndian.PutUint16(b[4:], uint16(len(b))) }),
		"payload length short": mod(func(b []byte) { binary.BigEndian.PutUint16(b[4:], 4) }),
		"bad checksum":         mod(func(b []byte) { b[ipv6HdrLen+2] ^= 1 }),
		"payload changed":      mod(func(b []byte) { b[len(b)-1] ^= 0x10 }),
		"source changed":       mod(func(b []byte) { b[23] ^= 1 }),
	} {
		if _, _, ok := ringIPv6(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
