// SPDX-License-Identifier: MIT

package cmsg

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// TimestampNS returns the SCM_TIMESTAMPNS time (unix ns) in control-message
// bytes (native order, 64-bit layout: a 16-byte cmsghdr, 8-byte aligned),
// or 0 when there is none or the bytes are truncated. It allocates nothing.
func TimestampNS(b []byte) int64 {
	const hdr = 16 // cmsghdr on 64-bit: len u64, level i32, type i32
	ne := binary.NativeEndian
	for len(b) >= hdr {
		l := int(ne.Uint64(b))
		if l < hdr || l > len(b) {
			return 0
		}
		level, typ := int32(ne.Uint32(b[8:])), int32(ne.Uint32(b[12:]))
		if level == unix.SOL_SOCKET && (typ == unix.SO_TIMESTAMPNS || typ == unix.SO_TIMESTAMPNS_NEW) && l >= hdr+16 {
			return int64(ne.Uint64(b[hdr:]))*1e9 + int64(ne.Uint64(b[hdr+8:]))
		}
		b = b[min((l+7)&^7, len(b)):]
	}
	return 0
}
