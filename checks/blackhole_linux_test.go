// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// blackhole returns a loopback port whose listener never accepts and whose
// accept queue (backlog 0) is already full: the kernel drops further SYNs
// (LISTENOVERFLOWS), so a connect there times out as it would to an
// address that does not answer.
func blackhole(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue: the first connection completes into it; after that
	// connects hang.
	for i := 0; i < 3; i++ {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.Dial("tcp", ap.String())
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := (&net.Dialer{}).DialContext(ctx, "tcp", ap.String()); err == nil {
		c.Close()
		t.Skip("the kernel accepted past a full backlog-0 queue; no blackhole on this machine")
	}
	return ap
}
