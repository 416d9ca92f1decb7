// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/cmsg"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// conn is the receiver's UDP socket with kernel receive timestamps and
// batched reads.
type conn struct {
	c  *net.UDPConn
	rc interface {
		Read(func(fd uintptr) bool) error
	}
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
	bufs [][]byte
	oobs [][]byte
	rsas []unix.RawSockaddrInet6
}

const maxDatagram = 2048

func listen(addr string, batch int) (*conn, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	u := c.(*net.UDPConn)
	rc, err := u.SyscallConn()
	if err != nil {
		u.Close()
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		u.Close()
		return nil, os.NewSyscallError("setsockopt SO_TIMESTAMPNS", errors.Join(err, serr))
	}
	// 8 MiB of queue: about a second of 100k hosts' heartbeats, so GC
	// pauses and table bursts do not overflow it. SO_RCVBUFFORCE goes past
	// net.core.rmem_max with CAP_NET_ADMIN; without it the kernel caps
	// SO_RCVBUF at rmem_max.
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		}
	})
	k := &conn{c: u, rc: rc, msgs: make([]unix.Mmsghdr, batch), iovs: make([]unix.Iovec, batch),
		bufs: make([][]byte, batch), oobs: make([][]byte, batch), rsas: make([]unix.RawSockaddrInet6, batch)}
	for i := range batch {
		k.bufs[i] = make([]byte, maxDatagram)
		k.oobs[i] = make([]byte, 128)
		k.iovs[i].Base = &k.bufs[i][0]
		k.iovs[i].SetLen(maxDatagram)
	}
	return k, nil
}

// read fills the batch and returns how many datagrams arrived.
func (k *conn) read() (int, error) {
	for i := range k.msgs {
		h := &k.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&k.rsas[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &k.iovs[i]
		h.Iovlen = 1
		h.Control = &k.oobs[i][0]
		h.SetControllen(len(k.oobs[i]))
		k.msgs[i].Len = 0
	}
	var n int
	var serr error
	err := k.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&k.msgs[0])), uintptr(len(k.msgs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false
		}
		if e != 0 {
			serr = os.NewSyscallError("recvmmsg", e)
		}
		n = int(r)
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, serr
}

// datagram i of the last read: bytes, source, kernel receive time (0 when
// the kernel gave none).
func (k *conn) datagram(i int) ([]byte, netip.AddrPort, int64) {
	m := &k.msgs[i]
	b := k.bufs[i][:m.Len]
	src := sockaddr((*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&k.rsas[i]))[:m.Hdr.Namelen])
	return b, src, cmsg.TimestampNS(k.oobs[i][:m.Hdr.Controllen])
}

func (k *conn) write(b []byte, to netip.AddrPort) error {
	_, err := k.c.WriteToUDPAddrPort(b, to)
	return err
}

func (k *conn) close() error { return k.c.Close() }

// sockaddr decodes a sockaddr_in or sockaddr_in6 (port in network order).
func sockaddr(b []byte) netip.AddrPort {
	if len(b) < 8 {
		return netip.AddrPort{}
	}
	fam := binary.NativeEndian.Uint16(b)
	port := binary.BigEndian.Uint16(b[2:])
	switch {
	case fam == unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case fam == unix.AF_INET6 && len(b) >= 24:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
	}
	return netip.AddrPort{}
}

// Run implements obs.Source: it reads datagrams until ctx ends, and
// checks for overdue heartbeats every second.
func (r *Receiver) Run(ctx context.Context, sink obs.Sink) error {
	r.sink.Store(&sink)
	k, err := listen(r.cfg.Push.Listen, r.cfg.Push.Batch)
	if err != nil {
		return fmt.Errorf("push: listen %s: %w", r.cfg.Push.Listen, err)
	}
	r.addr.Store(k.c.LocalAddr().(*net.UDPAddr).AddrPort())
	if d := r.cfg.DynDNS; d != nil {
		go d.Run(ctx)
	}
	if r.cfg.Registrar != nil {
		go r.registerLoop(ctx)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				k.close()
				return
			case now := <-t.C:
				r.Overdue(now)
			}
		}
	}()
	ack := make([]byte, wire.AckLen)
	for {
		n, err := k.read()
		if err != nil {
			<-done
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("push: %w", err)
		}
		for i := range n {
			b, src, ts := k.datagram(i)
			rx, kern := time.Unix(0, ts), ts != 0
			if !kern {
				rx = r.now()
			}
			if m := r.Handle(ctx, b, src, rx, kern, ack); m > 0 {
				if k.write(ack[:m], src) != nil {
					r.sendErrors.Add(1)
				}
			}
		}
	}
}
