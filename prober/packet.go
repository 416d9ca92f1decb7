// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"net/netip"

	"github.com/hbmon/hb/wire"
)

// ICMP types the engine sends, answers to, and decodes (RFC 792, RFC 4443).
const (
	icmp4EchoReply  = 0
	icmp4Unreach    = 3
	icmp4SourceQu   = 4
	icmp4Echo       = 8
	icmp4TimeExc    = 11
	icmp4ParamProb  = 12
	icmp6Unreach    = 1
	icmp6TooBig     = 2
	icmp6TimeExc    = 3
	icmp6ParamProb  = 4
	icmp6Echo       = 128
	icmp6EchoReply  = 129
	protoICMP       = 1
	protoICMPv6     = 58
	protoUDP        = 17
	icmpHdrLen      = 8
	ipv6HdrLen      = 40
	probePayloadLen = wire.RequestLen
	icmpProbeLen    = icmpHdrLen + probePayloadLen
	maxPacket       = 2048
	cookieAfterICMP = icmpHdrLen + wire.OffCookie
	txTimeAfterICMP = icmpHdrLen + wire.OffTxTime
	cookieEnd       = wire.OffTxTime + 8 // bytes of request needed to check cookie and tx time
)

// probeKind is what a probe packet is.
type probeKind uint8

const (
	kindICMP4 probeKind = iota + 1
	kindICMP6
	kindUDP
)

// template returns a probe packet of kind with the constant fields set:
// ICMP type and id (ICMP kinds), and the HBQ1 header's magic, flags, key id
// and room (a blob's worth). patchProbe fills in the rest per probe.
func template(kind probeKind, id uint16, keyID uint8) []byte {
	var b []byte
	switch kind {
	case kindICMP4, kindICMP6:
		b = make([]byte, icmpProbeLen)
		b[0] = icmp4Echo
		if kind == kindICMP6 {
			b[0] = icmp6Echo
		}
		binary.BigEndian.PutUint16(b[4:], id)
		wire.PutRequest(b[icmpHdrLen:], wire.Request{Flags: wire.FlagHealth, KeyID: keyID, Room: wire.BlobSize})
	default:
		b = make([]byte, probePayloadLen)
		wire.PutRequest(b, wire.Request{Flags: wire.FlagHealth, KeyID: keyID, Room: wire.BlobSize})
	}
	return b
}

// patchProbe writes the per-probe fields into a copy of a template: seq,
// cookie, tx time and token, then the ICMPv4 checksum (the kernel computes
// the ICMPv6 one, and fills UDP's).
func patchProbe(b []byte, kind probeKind, seq uint16, cookie uint64, txWire int64, token *wire.Token) {
	off := 0
	if kind != kindUDP {
		off = icmpHdrLen
		binary.BigEndian.PutUint16(b[6:], seq)
	}
	binary.BigEndian.PutUint64(b[off+wire.OffCookie:], cookie)
	binary.BigEndian.PutUint64(b[off+wire.OffTxTime:], uint64(txWire))
	copy(b[off+wire.OffToken:off+wire.OffToken+wire.TokenLen], token[:])
	if kind == kindICMP4 {
		b[2], b[3] = 0, 0
		binary.BigEndian.PutUint16(b[2:], wire.Checksum(b, 0))
	}
}

// wireTime is the tx time written into a probe: the clock with its low 16
// bits replaced by seq (off by < 66 µs), so a UDP reply, which has no
// sequence field, still names its slot.
func wireTime(now int64, seq uint16) int64 { return now&^0xffff | int64(seq) }

// pktClass is what a received packet turned out to be.
type pktClass uint8

const (
	pktOther pktClass = iota // not for us, or malformed
	pktReply                 // an echo reply (or a UDP reply payload)
	pktError                 // an ICMP error quoting one of our probes
)

// rxPacket is a decoded received packet. Slices alias the receive buffer.
type rxPacket struct {
	class pktClass
	src   netip.Addr // who sent this packet (replier, or the reporting router)
	id    uint16
	seq   uint16
	// payload is the echo payload of a reply, or the quoted (maybe
	// truncated) payload of our probe inside an error.
	payload []byte
	// errors only
	icmpType, icmpCode uint8
	dst                netip.Addr // the quoted probe's destination
}

// parseIPv4 decodes a packet read from a raw IPPROTO_ICMP socket (it starts
// with the IPv4 header).
func parseIPv4(b []byte) (p rxPacket) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0xf) * 4
	if ihl < 20 || len(b) < ihl || b[9] != protoICMP {
		return
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	return parseICMP4(b[ihl:], src)
}

// parseICMP4 decodes an ICMPv4 message (header first), as a ping socket
// returns it; src is the sender's address.
func parseICMP4(b []byte, src netip.Addr) (p rxPacket) {
	if len(b) < icmpHdrLen {
		return
	}
	p.src = src
	switch b[0] {
	case icmp4EchoReply:
		return p.echoReply(b)
	case icmp4Unreach, icmp4TimeExc, icmp4ParamProb, icmp4SourceQu:
		in := b[icmpHdrLen:]
		if len(in) < 20 || in[0]>>4 != 4 {
			return rxPacket{}
		}
		ihl := int(in[0]&0xf) * 4
		if ihl < 20 || len(in) < ihl+icmpHdrLen || in[9] != protoICMP || in[ihl] != icmp4Echo {
			return rxPacket{}
		}
		return p.quotedEcho(b, netip.AddrFrom4([4]byte(in[16:20])), in[ihl:])
	}
	return rxPacket{}
}

// parseICMP6 decodes an ICMPv6 message as a raw or ping ICMPv6 socket
// returns it (no IPv6 header); src is the sender's address.
func parseICMP6(b []byte, src netip.Addr) (p rxPacket) {
	if len(b) < icmpHdrLen {
		return
	}
	p.src = src
	switch b[0] {
	case icmp6EchoReply:
		return p.echoReply(b)
	case icmp6Unreach, icmp6TooBig, icmp6TimeExc, icmp6ParamProb:
		in := b[icmpHdrLen:]
		if len(in) < ipv6HdrLen+icmpHdrLen || in[0]>>4 != 6 || in[6] != protoICMPv6 || in[ipv6HdrLen] != icmp6Echo {
			return rxPacket{}
		}
		return p.quotedEcho(b, netip.AddrFrom16([16]byte(in[24:40])), in[ipv6HdrLen:])
	}
	return rxPacket{}
}

// echoReply completes p from an echo reply's ICMP message b (v4 or v6:
// the header layout is the same); a non-zero code is not a reply.
func (p rxPacket) echoReply(b []byte) rxPacket {
	if b[1] != 0 {
		return rxPacket{}
	}
	p.class = pktReply
	p.id = binary.BigEndian.Uint16(b[4:])
	p.seq = binary.BigEndian.Uint16(b[6:])
	p.payload = b[icmpHdrLen:]
	return p
}

// quotedEcho completes p from an ICMP error b whose quoted packet, sent to
// dst, carries our echo request q (its ICMP header first).
func (p rxPacket) quotedEcho(b []byte, dst netip.Addr, q []byte) rxPacket {
	p.class = pktError
	p.icmpType, p.icmpCode = b[0], b[1]
	p.dst = dst
	p.id = binary.BigEndian.Uint16(q[4:])
	p.seq = binary.BigEndian.Uint16(q[6:])
	p.payload = q[icmpHdrLen:]
	return p
}

// probeCookie returns the cookie and tx time a probe payload (an HBQ1
// request echoed, or an HBR1 reply) carries; ok is false when the payload
// is too short or carries neither magic (a legacy or foreign payload).
func probeCookie(payload []byte) (cookie uint64, txWire int64, ok bool) {
	if len(payload) < cookieEnd || !(wire.IsRequest(payload) || wire.IsReply(payload)) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(payload[wire.OffCookie:]), int64(binary.BigEndian.Uint64(payload[wire.OffTxTime:])), true
}
