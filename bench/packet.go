// SPDX-License-Identifier: MIT

package bench

import (
	"encoding/binary"

	"github.com/hbmon/hb/wire"
)

// EchoRequest writes into b (8+wire.RequestLen bytes) an ICMPv4 echo
// request with identifier id and sequence seq carrying an HBQ1 probe with
// room for one health blob, checksum filled in, and returns its length.
func EchoRequest(b []byte, id, seq uint16, txTime int64) int {
	n := 8 + wire.RequestLen
	b = b[:n]
	b[0], b[1] = 8, 0
	binary.BigEndian.PutUint16(b[2:], 0)
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	wire.PutRequest(b[8:], wire.Request{Flags: wire.FlagHealth, Room: wire.BlobSize, TxTime: txTime})
	binary.BigEndian.PutUint16(b[2:], wire.Checksum(b, 0))
	return n
}

// EchoReply turns the IPv4 packet pkt (header included, as a raw socket
// returns it) into the ICMP echo reply a plain responder sends, written
// into out; it returns the reply's length and the sender, or ok false when
// pkt is not an echo request.
func EchoReply(out, pkt []byte) (n int, src [4]byte, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return 0, src, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+8 || pkt[9] != 1 || pkt[ihl] != 8 || len(out) < len(pkt)-ihl {
		return 0, src, false
	}
	copy(src[:], pkt[12:16])
	n = copy(out, pkt[ihl:])
	out[0], out[1] = 0, 0
	binary.BigEndian.PutUint16(out[2:], 0)
	binary.BigEndian.PutUint16(out[2:], wire.Checksum(out[:n], 0))
	return n, src, true
}
