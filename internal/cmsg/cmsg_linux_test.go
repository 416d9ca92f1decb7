// SPDX-License-Identifier: MIT

package cmsg

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func msg(level, typ int32, data []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, 16+len(data), (16+len(data)+7)&^7)
	ne.PutUint64(b, uint64(len(b)))
	ne.PutUint32(b[8:], uint32(level))
	ne.PutUint32(b[12:], uint32(typ))
	copy(b[16:], data)
	return b[:cap(b)]
}

func ts(sec, nsec uint64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b, sec)
	binary.NativeEndian.PutUint64(b[8:], nsec)
	return b
}

func TestTimestampNS(t *testing.T) {
	want := int64(1_700_000_000)*1e9 + 123
	other := msg(unix.SOL_IP, unix.IP_TTL, []byte{64, 0, 0, 0})
	b := append(other, msg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, ts(1_700_000_000, 123))...)
	if got := TimestampNS(b); got != want {
		t.Errorf("after another message: %d, want %d", got, want)
	}
	if got := TimestampNS(msg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts(1_700_000_000, 123))); got != want {
		t.Errorf("SO_TIMESTAMPNS_NEW: %d, want %d", got, want)
	}
	full := msg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, ts(1, 2))
	for _, b := range [][]byte{nil, full[:15], full[:24], other} {
		if got := TimestampNS(b); got != 0 {
			t.Errorf("%d bytes without a whole timestamp: %d", len(b), got)
		}
	}
}

// TestKernelTimestamp reads a real SCM_TIMESTAMPNS from a loopback UDP
// socket: the parser agrees with the kernel's layout.
func TestKernelTimestamp(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, _ := c.SyscallConn()
	var serr error
	rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	if serr != nil {
		t.Fatal(serr)
	}
	before := time.Now()
	if _, err := c.WriteToUDP([]byte("x"), c.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 16), make([]byte, 128)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	got := TimestampNS(oob[:oobn])
	// The stamp is taken between the send and the read (ordering only, no timing).
	if got < before.Add(-time.Second).UnixNano() || got > time.Now().Add(time.Second).UnixNano() {
		t.Errorf("kernel timestamp %d, sent at %d", got, before.UnixNano())
	}
}
