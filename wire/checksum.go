// SPDX-License-Identifier: MIT

package wire

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the Internet checksum (RFC 1071) of b, as used by ICMP,
// ICMPv6 (with its pseudo-header summed in via initial) and UDP. initial is
// a partial one's-complement sum to start from (0 for plain ICMPv4).
//
// It sums 64-bit big-endian words with end-around carry (2^16 ≡ 1 modulo
// 0xffff, so wider words give the same one's-complement sum): a probe's
// 228 bytes are 28 additions, not 114 (the daemon checksums every probe).
func Checksum(b []byte, initial uint32) uint16 {
	s, c := uint64(initial), uint64(0)
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	s, c = bits.Add64(s, c, 0)
	s += c // a carry out left s small: no second one
	s = s>>32 + s&0xffffffff
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
