// SPDX-License-Identifier: MIT

package responder

import (
	"net"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/cmsg"
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
func rxTime(b []byte) int64 { return cmsg.TimestampNS(b) }
