// SPDX-License-Identifier: MIT

package responder

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// enableRxTimestamps asks for SO_TIMESTAMPNS on c (best effort: without
// it the ACK's receive time is the process clock, method "user").
func enableRxTimestamps(c *net.UDPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	}
}

// rxTime returns the SCM_TIMESTAMPNS time (unix ns) in control-message
// bytes, or 0. Pure.
func rxTime(b []byte) int64 {
	const hdr = 16
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
