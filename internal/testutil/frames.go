// SPDX-License-Identifier: MIT

package testutil

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hbmon/hb/wire"
)

// Frame describes an Ethernet frame carrying an ICMP/ICMPv6 echo or a UDP
// datagram, for crafting test packets (the eBPF responder's Program.Run
// tests and raw-socket clients). Bytes computes every length and checksum.
type Frame struct {
	DstMAC, SrcMAC [6]byte
	// VLANs are the 802.1Q tags, outermost first. With two tags the outer
	// one uses TPID 0x88a8 (802.1ad, QinQ).
	VLANs []uint16
	// Src and Dst pick the IP version (both IPv4 or both IPv6).
	Src, Dst netip.Addr
	// IPOptions are IPv4 options (a multiple of 4 bytes).
	IPOptions []byte
	TTL       uint8  // 0 means 64
	FragField uint16 // IPv4 flags+fragment offset, as on the wire (0x2000: MF)
	// UDP selects a UDP datagram from SrcPort to DstPort; else ICMP echo.
	UDP              bool
	SrcPort, DstPort uint16
	// ZeroUDPChecksum leaves an IPv4 UDP checksum at 0 (none).
	ZeroUDPChecksum bool
	// Type is the ICMP type (0 means echo request: 8, or 128 for ICMPv6).
	Type    uint8
	ID, Seq uint16
	Payload []byte
	// Pad appends that many zero bytes after the IP packet (Ethernet padding).
	Pad int
}

// Proto numbers and ethertypes used by frames.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86dd
	ProtoICMP     = 1
	ProtoUDP      = 17
	ProtoICMPv6   = 58
)

// Bytes encodes the frame.
func (f Frame) Bytes() []byte {
	b := make([]byte, 0, 128+len(f.Payload))
	b = append(b, f.DstMAC[:]...)
	b = append(b, f.SrcMAC[:]...)
	for i, v := range f.VLANs {
		tpid := uint16(0x8100)
		if len(f.VLANs) > 1 && i == 0 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	is6 := f.Dst.Is6() && !f.Dst.Is4In6()
	if is6 {
		b = binary.BigEndian.AppendUint16(b, EtherTypeIPv6)
	} else {
		b = binary.BigEndian.AppendUint16(b, EtherTypeIPv4)
	}
	ttl := f.TTL
	if ttl == 0 {
		ttl = 64
	}
	l4 := f.l4(is6)
	if is6 {
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = f.proto(is6)
		ip[7] = ttl
		s, d := f.Src.As16(), f.Dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		f.l4Checksum(l4, PseudoSum(f.Src, f.Dst, ip[6], len(l4)))
		b = append(b, ip...)
	} else {
		ihl := 20 + len(f.IPOptions)
		ip := make([]byte, ihl)
		ip[0] = 0x40 | byte(ihl/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		binary.BigEndian.PutUint16(ip[6:], f.FragField)
		ip[8] = ttl
		ip[9] = f.proto(is6)
		s, d := f.Src.As4(), f.Dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		copy(ip[20:], f.IPOptions)
		binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
		var init uint32
		if f.UDP {
			init = PseudoSum(f.Src, f.Dst, ProtoUDP, len(l4))
		}
		f.l4Checksum(l4, init)
		b = append(b, ip...)
	}
	b = append(b, l4...)
	return append(b, make([]byte, f.Pad)...)
}

func (f Frame) proto(is6 bool) byte {
	switch {
	case f.UDP:
		return ProtoUDP
	case is6:
		return ProtoICMPv6
	}
	return ProtoICMP
}

func (f Frame) l4(is6 bool) []byte {
	h := make([]byte, 8, 8+len(f.Payload))
	if f.UDP {
		binary.BigEndian.PutUint16(h[0:], f.SrcPort)
		binary.BigEndian.PutUint16(h[2:], f.DstPort)
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(f.Payload)))
	} else {
		t := f.Type
		if t == 0 {
			t = 8
			if is6 {
				t = 128
			}
		}
		h[0] = t
		binary.BigEndian.PutUint16(h[4:], f.ID)
		binary.BigEndian.PutUint16(h[6:], f.Seq)
	}
	return append(h, f.Payload...)
}

func (f Frame) l4Checksum(l4 []byte, init uint32) {
	if f.UDP {
		if f.ZeroUDPChecksum {
			return
		}
		c := wire.Checksum(l4, init)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[6:], c)
		return
	}
	binary.BigEndian.PutUint16(l4[2:], wire.Checksum(l4, init))
}

// PseudoSum is the partial sum of the IPv4 or IPv6 pseudo-header (RFC 768,
// RFC 8200 §8.1), to pass as wire.Checksum's initial value.
func PseudoSum(src, dst netip.Addr, proto byte, l4len int) uint32 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	if src.Is4() {
		a, d := src.As4(), dst.As4()
		add(a[:])
		add(d[:])
	} else {
		a, d := src.As16(), dst.As16()
		add(a[:])
		add(d[:])
	}
	s += uint32(proto) + uint32(l4len)&0xffff + uint32(l4len)>>16
	return s
}

// Parsed locates the layers of a frame built like Frame.
type Parsed struct {
	L3, L4, Payload int // offsets
	IPv6            bool
	Proto           byte
	Src, Dst        netip.Addr
	L4Len           int // L4 header + payload, from the IP header
}

// ParseFrame finds the layers of an Ethernet frame (up to two VLAN tags,
// IPv4 or IPv6 without extension headers).
func ParseFrame(b []byte) (Parsed, error) {
	var p Parsed
	if len(b) < 14 {
		return p, errors.New("short ethernet")
	}
	off := 12
	et := binary.BigEndian.Uint16(b[off:])
	for et == 0x8100 || et == 0x88a8 {
		off += 4
		if len(b) < off+2 {
			return p, errors.New("short vlan")
		}
		et = binary.BigEndian.Uint16(b[off:])
	}
	p.L3 = off + 2
	switch et {
	case EtherTypeIPv4:
		if len(b) < p.L3+20 {
			return p, errors.New("short ipv4")
		}
		ihl := int(b[p.L3]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(b[p.L3+2:]))
		p.L4 = p.L3 + ihl
		p.L4Len = tot - ihl
		p.Proto = b[p.L3+9]
		p.Src = netip.AddrFrom4([4]byte(b[p.L3+12 : p.L3+16]))
		p.Dst = netip.AddrFrom4([4]byte(b[p.L3+16 : p.L3+20]))
	case EtherTypeIPv6:
		p.IPv6 = true
		if len(b) < p.L3+40 {
			return p, errors.New("short ipv6")
		}
		p.L4 = p.L3 + 40
		p.L4Len = int(binary.BigEndian.Uint16(b[p.L3+4:]))
		p.Proto = b[p.L3+6]
		p.Src = netip.AddrFrom16([16]byte(b[p.L3+8 : p.L3+24]))
		p.Dst = netip.AddrFrom16([16]byte(b[p.L3+24 : p.L3+40]))
	default:
		return p, fmt.Errorf("ethertype %#x", et)
	}
	if p.L4Len < 8 || len(b) < p.L4+p.L4Len {
		return p, errors.New("short l4")
	}
	p.Payload = p.L4 + 8
	return p, nil
}

// VerifyChecksums checks that the IPv4 header checksum and the ICMP,
// ICMPv6 or UDP checksum of frame b fold to zero (a zero IPv4 UDP checksum
// means none and passes).
func VerifyChecksums(b []byte) error {
	p, err := ParseFrame(b)
	if err != nil {
		return err
	}
	if !p.IPv6 {
		if c := wire.Checksum(b[p.L3:p.L4], 0); c != 0 {
			return fmt.Errorf("ipv4 header checksum does not fold to zero (%#04x)", c)
		}
	}
	l4 := b[p.L4 : p.L4+p.L4Len]
	var init uint32
	switch {
	case p.Proto == ProtoUDP:
		if !p.IPv6 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return nil
		}
		init = PseudoSum(p.Src, p.Dst, p.Proto, p.L4Len)
	case p.Proto == ProtoICMPv6:
		init = PseudoSum(p.Src, p.Dst, p.Proto, p.L4Len)
	}
	if c := wire.Checksum(l4, init); c != 0 {
		return fmt.Errorf("l4 (proto %d) checksum does not fold to zero (%#04x)", p.Proto, c)
	}
	return nil
}
