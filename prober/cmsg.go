// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"net/netip"
)

// Linux socket-API numbers for the control messages the engine reads
// (include/uapi/asm-generic/socket.h, linux/in.h, linux/in6.h,
// linux/errqueue.h). They are the ABI on every Linux architecture the
// module builds for, and spelled here so the parser stays pure and
// portable.
const (
	solSocket         = 1
	solIP             = 0
	solIPv6           = 41
	scmTimestampNSOld = 35 // SO_TIMESTAMPNS: struct timespec (native long)
	scmTimestampNSNew = 64 // SO_TIMESTAMPNS_NEW: struct __kernel_timespec
	scmTimestampOld   = 37 // SO_TIMESTAMPING: struct scm_timestamping (native long)
	scmTimestampNew   = 65 // SO_TIMESTAMPING_NEW: struct scm_timestamping64
	ipRecvErr         = 11
	ipv6RecvErr       = 25
	solPacket         = 263 // SOL_PACKET
	packetTxTimestamp = 16  // PACKET_TX_TIMESTAMP: the error-queue message of AF_PACKET

	eeOriginLocal        = 1
	eeOriginICMP         = 2
	eeOriginICMP6        = 3
	eeOriginTimestamping = 4
	scmTstampSnd         = 0
)

// longSize is the C long (and pointer) size: cmsg alignment and old
// timespec field width.
const longSize = 4 << (^uintptr(0) >> 63)

// extErr is a struct sock_extended_err from the error queue.
type extErr struct {
	errno             uint32
	origin, typ, code uint8
	info, data        uint32
	offender          netip.Addr // SO_EE_OFFENDER: who sent the ICMP error
}

// cmsgInfo is what the control messages of one received message said.
type cmsgInfo struct {
	ts     int64 // unix ns of the kernel timestamp (software); 0 when none
	hasErr bool
	err    extErr
}

// parseCmsgs walks control-message bytes as recvmsg returned them (native
// byte order, C long alignment). Unknown messages are skipped; truncated
// ones end the walk. It allocates nothing.
func parseCmsgs(b []byte) (c cmsgInfo) {
	ne := binary.NativeEndian
	for {
		level, typ, data, rest, ok := nextCmsg(b)
		if !ok {
			return c
		}
		b = rest
		switch {
		case level == solSocket && (typ == scmTimestampOld || typ == scmTimestampNSOld):
			// scm_timestamping's first timespec is the software stamp;
			// SCM_TIMESTAMPNS is one timespec.
			if ts := timespec(data, longSize); ts != 0 {
				c.ts = ts
			}
		case level == solSocket && (typ == scmTimestampNew || typ == scmTimestampNSNew):
			if ts := timespec(data, 8); ts != 0 {
				c.ts = ts
			}
		case isExtErr(level, typ):
			if len(data) >= 16 {
				c.hasErr = true
				c.err = extErr{
					errno:  ne.Uint32(data),
					origin: data[4], typ: data[5], code: data[6],
					info: ne.Uint32(data[8:]),
					data: ne.Uint32(data[12:]),
				}
				c.err.offender = sockaddrAddr(data[16:])
			}
		}
	}
}

// nextCmsg splits the first control message off b: its level, type and
// data, and the bytes after it; ok is false at the end or at a truncated
// message.
func nextCmsg(b []byte) (level, typ int32, data, rest []byte, ok bool) {
	ne := binary.NativeEndian
	hdr := cmsgAlign(longSize + 8)
	if len(b) < hdr {
		return 0, 0, nil, nil, false
	}
	var l int
	if longSize == 8 {
		l = int(ne.Uint64(b))
	} else {
		l = int(ne.Uint32(b))
	}
	if l < hdr || l > len(b) {
		return 0, 0, nil, nil, false
	}
	level, typ = int32(ne.Uint32(b[longSize:])), int32(ne.Uint32(b[longSize+4:]))
	return level, typ, b[hdr:l], b[min(cmsgAlign(l), len(b)):], true
}

func isExtErr(level, typ int32) bool {
	return (level == solIP && typ == ipRecvErr) || (level == solIPv6 && typ == ipv6RecvErr) ||
		(level == solPacket && typ == packetTxTimestamp)
}

// rekeyCmsgs rewrites, in place, the ee_data (the OPT_ID key) of every
// sock_extended_err in the control bytes b with f's value for it.
func rekeyCmsgs(b []byte, f func(uint32) uint32) {
	ne := binary.NativeEndian
	for {
		level, typ, data, rest, ok := nextCmsg(b)
		if !ok {
			return
		}
		if isExtErr(level, typ) && len(data) >= 16 {
			ne.PutUint32(data[12:], f(ne.Uint32(data[12:]))) // data aliases b: in place
		}
		b = rest
	}
}

func cmsgAlign(n int) int { return (n + longSize - 1) &^ (longSize - 1) }

// timespec decodes a timespec whose fields are w bytes wide, as unix ns.
func timespec(b []byte, w int) int64 {
	if len(b) < 2*w {
		return 0
	}
	ne := binary.NativeEndian
	var s, ns int64
	if w == 8 {
		s, ns = int64(ne.Uint64(b)), int64(ne.Uint64(b[8:]))
	} else {
		s, ns = int64(int32(ne.Uint32(b))), int64(int32(ne.Uint32(b[4:])))
	}
	return s*1e9 + ns
}

// sockaddrAddr decodes the address of a sockaddr_in or sockaddr_in6.
func sockaddrAddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case 2: // AF_INET
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case 10: // AF_INET6
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24]))
		}
	}
	return netip.Addr{}
}
