// SPDX-License-Identifier: MIT

package wire

// Checksum returns the Internet checksum (RFC 1071) of b, as used by ICMP,
// ICMPv6 (with its pseudo-header summed in via initial) and UDP. initial is
// a partial one's-complement sum to start from (0 for plain ICMPv4).
func Checksum(b []byte, initial uint32) uint16 {
	s := initial
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
