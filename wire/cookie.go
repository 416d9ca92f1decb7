// SPDX-License-Identifier: MIT

package wire

import (
	"encoding/binary"
	"net/netip"

	"github.com/dchest/siphash"
)

// Secret is a prober's per-process secret for cookies (a SipHash-2-4 key).
type Secret [16]byte

// Cookie returns SipHash-2-4 keyed by s over the target address (16 bytes,
// IPv4 as IPv4-mapped IPv6), the ICMP id, the sequence number and the tx
// time. A reply whose cookie does not match was not sent by this prober to
// this target with this id, seq and time.
func Cookie(s *Secret, target netip.Addr, id, seq uint16, txTime int64) uint64 {
	var m [28]byte
	a := target.As16()
	copy(m[:16], a[:])
	binary.BigEndian.PutUint16(m[16:], id)
	binary.BigEndian.PutUint16(m[18:], seq)
	binary.BigEndian.PutUint64(m[20:], uint64(txTime))
	k0 := binary.LittleEndian.Uint64(s[:8])
	k1 := binary.LittleEndian.Uint64(s[8:])
	return siphash.Hash(k0, k1, m[:])
}
