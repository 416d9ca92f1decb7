// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// The TPACKET_V3 receive ring's layout (linux/if_packet.h), spelled here so
// the block and frame parser stays pure and portable. Every field is in
// the host's byte order.
const (
	// struct tpacket_block_desc: version, offset_to_priv, then
	// struct tpacket_hdr_v1.
	blkStatusOff   = 8  // block_status
	blkNumPktsOff  = 12 // num_pkts
	blkFirstOff    = 16 // offset_to_first_pkt
	blkLenOff      = 20 // blk_len: bytes used, descriptor included
	blkSeqOff      = 24 // seq_num (u64)
	blkDescLen     = 48 // the descriptor with ts_first_pkt, ts_last_pkt
	tpStatusUser   = 1  // TP_STATUS_USER: the block is ours until we hand it back
	tpStatusLosing = 4  // TP_STATUS_LOSING: the kernel dropped packets (ring full)
	tpStatusBlkTmo = 32 // TP_STATUS_BLK_TMO: retired by the timer, not full
	tpStatusTSSoft = 1 << 29
	tpStatusTSHard = 1 << 31

	// struct tpacket3_hdr, then (at TPACKET_ALIGN(48)) a sockaddr_ll.
	frNextOff    = 0  // tp_next_offset: from this frame to the next; 0 on the last
	frSecOff     = 4  // tp_sec
	frNsecOff    = 8  // tp_nsec
	frSnapOff    = 12 // tp_snaplen: bytes in the ring
	frLenOff     = 16 // tp_len: bytes on the wire
	frStatusOff  = 20 // tp_status
	frMacOff     = 24 // tp_mac (u16): offset of the packet (SOCK_DGRAM: the network header)
	frNetOff     = 26 // tp_net (u16)
	frHdrLen     = 48 // sizeof(struct tpacket3_hdr), TPACKET_ALIGNed
	sllIfindex   = frHdrLen + 4
	sllProtocol  = frHdrLen + 2  // big-endian ethertype
	sllPkttype   = frHdrLen + 10 // PACKET_HOST, PACKET_BROADCAST, ...
	sllLen       = 20            // sizeof(struct sockaddr_ll)
	packetHost   = 0             // PACKET_HOST: addressed to this host
	etherTypeIP4 = 0x0800
	etherTypeIP6 = 0x86dd
)

// ringBlock is the descriptor of one retired TPACKET_V3 block.
type ringBlock struct {
	status uint32 // block_status: TP_STATUS_USER, LOSING, BLK_TMO
	n      int    // frames in the block
	first  int    // offset of the first frame
	length int    // bytes used (blk_len)
	seq    uint64 // the kernel's block sequence number
}

// ringFrame is one packet of a block. pkt aliases the block.
type ringFrame struct {
	ts      int64  // kernel receive time, unix ns (tp_sec, tp_nsec)
	status  uint32 // tp_status (TP_STATUS_TS_SOFTWARE when ts is the skb's stamp)
	wireLen int    // tp_len: the packet's length before any snap
	pkt     []byte // tp_snaplen bytes from tp_net: the network packet
	ifindex int32
	proto   uint16 // sll_protocol, host order (ETH_P_IP)
	pktType uint8  // sll_pkttype
}

var (
	errRingShort = errors.New("ring block shorter than its descriptor or length")
	errRingFrame = errors.New("ring frame outside its block")
)

// parseRingBlock decodes the descriptor of a block (b is the whole block
// as mapped) and checks that the frames it claims fit in it.
func parseRingBlock(b []byte) (ringBlock, error) {
	ne := binary.NativeEndian
	if len(b) < blkDescLen {
		return ringBlock{}, errRingShort
	}
	k := ringBlock{
		status: ne.Uint32(b[blkStatusOff:]),
		n:      int(ne.Uint32(b[blkNumPktsOff:])),
		first:  int(ne.Uint32(b[blkFirstOff:])),
		length: int(ne.Uint32(b[blkLenOff:])),
		seq:    ne.Uint64(b[blkSeqOff:]),
	}
	if k.length > len(b) || k.n > 0 && (k.first < blkDescLen || k.first+frHdrLen+sllLen > k.length) {
		return k, errRingShort
	}
	return k, nil
}

// parseRingFrame decodes the frame at off in block b (its length the
// block's blk_len) and returns it with the offset of the next frame (0
// after the last).
func parseRingFrame(b []byte, off int) (ringFrame, int, error) {
	ne := binary.NativeEndian
	if off < blkDescLen || off+frHdrLen+sllLen > len(b) {
		return ringFrame{}, 0, errRingFrame
	}
	h := b[off:]
	f := ringFrame{
		ts:      int64(ne.Uint32(h[frSecOff:]))*1e9 + int64(ne.Uint32(h[frNsecOff:])),
		status:  ne.Uint32(h[frStatusOff:]),
		wireLen: int(ne.Uint32(h[frLenOff:])),
		ifindex: int32(ne.Uint32(h[sllIfindex:])),
		proto:   binary.BigEndian.Uint16(h[sllProtocol:]),
		pktType: h[sllPkttype],
	}
	snap := int(ne.Uint32(h[frSnapOff:]))
	net := int(ne.Uint16(h[frNetOff:]))
	if net < frHdrLen+sllLen || off+net+snap > len(b) {
		return ringFrame{}, 0, errRingFrame
	}
	f.pkt = b[off+net : off+net+snap]
	next := int(ne.Uint32(h[frNextOff:]))
	if next != 0 {
		if next < frHdrLen || off+next > len(b) {
			return f, 0, errRingFrame
		}
		next += off
	}
	return f, next, nil
}

// ringIPv4 checks what the kernel's IP input would have checked before a
// raw socket saw the packet, which a packet socket sees before it: a
// version 4 header whose checksum holds, a total length the bytes cover
// (the rest, Ethernet padding, is cut), and no fragment (a fragment's
// ICMP header is not at the start of its payload, or not there at all).
// It returns the packet trimmed to its total length, or false.
func ringIPv4(b []byte) ([]byte, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, false
	}
	ihl := int(b[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || tot < ihl || tot > len(b) {
		return nil, false
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 { // MF or a fragment offset
		return nil, false
	}
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		return nil, false
	}
	return b[:tot], true
}

// ringIPv6 checks a cooked IPv6 packet from the ring as the kernel's IPv6
// input and raw ICMPv6 socket would have: version 6, a payload length the
// bytes cover (the rest is cut), ICMPv6 as the next header (no extension
// headers: the ring's filter drops those), and an ICMPv6 checksum that
// holds over the pseudo-header. It returns the ICMPv6 message and the
// source address, or false.
func ringIPv6(b []byte) ([]byte, netip.Addr, bool) {
	if len(b) < ipv6HdrLen+icmpHdrLen || b[0]>>4 != 6 || b[6] != protoICMPv6 {
		return nil, netip.Addr{}, false
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	if plen < icmpHdrLen || ipv6HdrLen+plen > len(b) {
		return nil, netip.Addr{}, false
	}
	msg := b[ipv6HdrLen : ipv6HdrLen+plen]
	// Pseudo-header: source, destination, length, next header.
	sum := uint32(plen) + protoICMPv6
	for i := 8; i < ipv6HdrLen; i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(msg[i])<<8 | uint32(msg[i+1])
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		return nil, netip.Addr{}, false
	}
	return msg, netip.AddrFrom16([16]byte(b[8:24])), true
}
