// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/offheap"
)

// conn is one socket of the engine (one per address family) with its
// batch buffers. Only the engine loop touches it.
type conn struct {
	sk     sock
	v6     bool
	socket Socket
	kind   probeKind
	ts     TSMethod // best method this socket has
	inf    inflight
	// unstamped counts the TX stamps owed (probes sent, stamps not yet
	// read; TSKernelTxRx): a raw socket's error queue is read only then.
	unstamped int
	// noLate is set when a reply's forced error-queue read (its stamp
	// missing) found none for it: the rest of that receive pass reads
	// no more for the others (a stamp the kernel dropped stays missing;
	// the fallback path lost ~1.5 % of them on a threaded veth, one
	// read of two sockets each), and a new pass clears it.
	noLate bool

	// transmit batch
	tx    [][]byte
	txIov []unix.Iovec
	txMsg []unix.Mmsghdr
	txSeq []uint16
	txSa  [][unix.SizeofSockaddrInet6]byte // each message's destination
	txTgt []int32
	rx    rxBatch // replies
	eq    rxBatch // the error queue: TX timestamps, queued ICMP errors
	// ring, when set (rx = ring, IPv4 raw sockets), delivers the replies
	// instead of rx; sk still sends and has the error queue.
	ring *rxRing
	// dormant: the IPv6 raw socket of an engine with no IPv6 target yet,
	// not watched or read (Engine.deferV6).
	dormant bool
}

// rxBatch is a recvmmsg batch: buffers, names, control buffers, headers.
// The packet and control buffers are one block outside the Go heap
// (offheap): the kernel writes only what a message holds, so a batch
// that is never read (the raw socket's, when a receive ring delivers the
// replies) or whose messages are small (TX stamps carry no packet:
// OPT_TSONLY) costs only the pages touched.
type rxBatch struct {
	buf  [][]byte
	name [][unix.SizeofSockaddrInet6]byte
	ctl  [][]byte
	iov  []unix.Iovec
	msg  []unix.Mmsghdr
	free func()
}

func newRxBatch(n int) rxBatch {
	b := rxBatch{
		buf:  make([][]byte, n),
		name: make([][unix.SizeofSockaddrInet6]byte, n),
		ctl:  make([][]byte, n),
		iov:  make([]unix.Iovec, n),
		msg:  make([]unix.Mmsghdr, n),
	}
	mem, free := offheap.Make[byte](n * (maxPacket + ctlLen))
	b.free = free
	for i := range n {
		b.buf[i] = mem[i*maxPacket : (i+1)*maxPacket : (i+1)*maxPacket]
		b.ctl[i] = mem[n*maxPacket+i*ctlLen : n*maxPacket+(i+1)*ctlLen : n*maxPacket+(i+1)*ctlLen]
		b.iov[i].Base = &b.buf[i][0]
		b.iov[i].SetLen(maxPacket)
	}
	return b
}

// release frees the buffers; the batch must not be used after.
func (b *rxBatch) release() {
	if b.free != nil {
		b.free()
		*b = rxBatch{}
	}
}

// reset re-arms the headers (the kernel overwrites lengths).
func (b *rxBatch) reset() {
	for i := range b.msg {
		h := &b.msg[i].Hdr
		h.Name = &b.name[i][0]
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &b.iov[i]
		h.SetIovlen(1)
		h.Control = &b.ctl[i][0]
		h.SetControllen(ctlLen)
		h.Flags = 0
		b.msg[i].Len = 0
	}
}

// data returns message i's payload, control bytes and source address.
func (b *rxBatch) data(i int) ([]byte, []byte, netip.Addr) {
	h := &b.msg[i].Hdr
	return b.buf[i][:b.msg[i].Len], b.ctl[i][:h.Controllen], sockaddrAddr(b.name[i][:h.Namelen])
}

const ctlLen = 512

func newConnBuffers(c *conn, batch int, tmpl []byte) {
	c.tx = make([][]byte, batch)
	c.txIov = make([]unix.Iovec, batch)
	c.txMsg = make([]unix.Mmsghdr, batch)
	c.txSeq = make([]uint16, batch)
	c.txSa = make([][unix.SizeofSockaddrInet6]byte, batch)
	c.txTgt = make([]int32, batch)
	for i := range batch {
		c.tx[i] = append([]byte(nil), tmpl...)
		c.txIov[i].Base = &c.tx[i][0]
		c.txIov[i].SetLen(len(tmpl))
		c.txMsg[i].Hdr.Iov = &c.txIov[i]
		c.txMsg[i].Hdr.SetIovlen(1)
	}
	c.rx = newRxBatch(batch)
	c.eq = newRxBatch(min(batch, 64))
}

// freeBuffers gives back what the conn holds outside the Go heap: its
// batches, its in-flight table, its packet socket's frames and caches.
// Nothing may send or receive on it after.
func (c *conn) freeBuffers() {
	c.rx.release()
	c.eq.release()
	c.inf.release()
	if ps, ok := c.sk.(*pktSock); ok {
		ps.freeBuffers()
	}
}

// sock is what the engine's loop needs of one socket: batched,
// non-blocking send and receive (flags: 0 or MSG_ERRQUEUE), and close.
// fdSock is the kernel's; the tests' fake simulates hosts, timestamps and
// push-back so the loop is tested without privileges.
type sock interface {
	sendmmsg(msgs []unix.Mmsghdr) (int, error)
	recvmmsg(msgs []unix.Mmsghdr, flags int) (int, error)
	close() error
}

// waiter blocks the loop until a socket is readable (data or error
// queue), wake is called, or the timeout passes; nap only until wake or
// the timeout.
type waiter interface {
	wait(d time.Duration) error
	nap(d time.Duration) error
	wake()
	close() error
}

// fdSock is a kernel socket.
//
// Its sendmmsg and recvmmsg never block (MSG_DONTWAIT), so they are raw
// system calls, which keep the goroutine's P: through unix.Syscall6, a
// sendmmsg that runs the fleet's echo path in its softirq (hundreds of
// microseconds for a batch) was "in a system call" long enough for the
// runtime's sysmon to take its P and hand it to another thread, which
// found nothing to do; with two shard loops that kept sysmon polling
// every 20 µs (~2 % of a sweep's CPU in its nanosleep, plus the thread
// wake-ups and exitsyscall's slow path). The loop's only blocking call,
// ppoll, stays a regular one.
type fdSock int

func (fd fdSock) sendmmsg(msgs []unix.Mmsghdr) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func (fd fdSock) recvmmsg(msgs []unix.Mmsghdr, flags int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), uintptr(flags|unix.MSG_DONTWAIT), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// recvfromNow is recvfrom(2) with MSG_DONTWAIT as a raw system call (see
// fdSock): for the loop's polls of its netlink change subscriptions,
// which run every 20 ms (two a turn with both families) and must never
// block. Through unix.Recvfrom each one entered the runtime's syscall
// state, woke a deep-sleeping sysmon and let it take the P. The sender's
// address is not wanted (nil).
func recvfromNow(fd int, b []byte, flags int) (int, error) {
	if len(b) == 0 {
		return 0, unix.EINVAL
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags|unix.MSG_DONTWAIT), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func (fd fdSock) close() error { return os.NewSyscallError("close", unix.Close(int(fd))) }

// pollWaiter waits with one ppoll(2) on the sockets and an eventfd that
// wake (context cancellation, SetTargets, Close) writes to, so the loop
// sleeps exactly until its next event and no longer.
type pollWaiter struct {
	pfd []unix.PollFd // the sockets, then the eventfd
	efd int
	// A nap is a Go timer and this channel (wake also signals it), not
	// a system call: a ppoll of up to a nap (20 ms then) kept the loop's thread in
	// a system call for over 10 ms, 50–100 times a second in the
	// daemon, and each time the runtime's sysmon took its P back and
	// went back to polling every 20 µs (11.6 % of the daemon's CPU at
	// 100k targets / 10 s was sysmon's nanosleep).
	napc  chan struct{}
	timer *time.Timer
	// mu guards efd against close: a wake after close (SetTargetFunc
	// after Close, a context cancelled late) must not write to the
	// number, which the process may have given another file since.
	mu     sync.RWMutex
	closed bool
}

func newPollWaiter(fds []int) (*pollWaiter, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	w := &pollWaiter{efd: efd, napc: make(chan struct{}, 1)}
	for _, fd := range fds {
		w.pfd = append(w.pfd, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR})
	}
	w.pfd = append(w.pfd, unix.PollFd{Fd: int32(efd), Events: unix.POLLIN})
	return w, nil
}

// add watches fds too (the loop's goroutine only, between waits).
func (w *pollWaiter) add(fds []int) {
	efd := w.pfd[len(w.pfd)-1]
	w.pfd = w.pfd[:len(w.pfd)-1]
	for _, fd := range fds {
		w.pfd = append(w.pfd, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR})
	}
	w.pfd = append(w.pfd, efd)
}

func (w *pollWaiter) wait(d time.Duration) error { return w.poll(w.pfd, d) }

// nap sleeps until d passes or wake is called.
func (w *pollWaiter) nap(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case <-w.napc:
		w.timer.Stop()
	case <-w.timer.C:
	}
	return nil
}

func (w *pollWaiter) poll(pfd []unix.PollFd, d time.Duration) error {
	tsp := unix.NsecToTimespec(int64(max(d, 0)))
	if _, err := unix.Ppoll(pfd, &tsp, nil); err != nil && err != unix.EINTR {
		return os.NewSyscallError("ppoll", err)
	}
	if w.pfd[len(w.pfd)-1].Revents != 0 {
		var b [8]byte
		_, _ = unix.Read(w.efd, b[:])
	}
	return nil
}

func (w *pollWaiter) wake() {
	b := [8]byte{1}
	w.mu.RLock()
	if !w.closed {
		_, _ = unix.Write(w.efd, b[:])
	}
	w.mu.RUnlock()
	select {
	case w.napc <- struct{}{}:
	default: // a wake is pending already
	}
}

// close closes the eventfd; a wake after it does nothing (but end a
// nap), and a second close does nothing.
func (w *pollWaiter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return os.NewSyscallError("close", unix.Close(w.efd))
}

// sockaddr builds the raw sockaddr for a, with port (UDP) in network order.
func sockaddr(a netip.Addr, port int) (sa [unix.SizeofSockaddrInet6]byte, n uint32) {
	if a.Is4() {
		binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(sa[2:], uint16(port))
		b := a.As4()
		copy(sa[4:], b[:])
		return sa, unix.SizeofSockaddrInet4
	}
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(sa[2:], uint16(port))
	b := a.As16()
	copy(sa[8:], b[:])
	return sa, unix.SizeofSockaddrInet6
}

// openConn opens the socket of kind for one family and sets it up. It
// returns the error of socket(2) unwrapped enough for errors.Is(EPERM).
//
// A UDP socket is bound at once to an ephemeral port that is not the
// responder port: responders never answer a datagram from their own port
// (docs/security.md, no loops between responders), so a prober whose
// kernel happened to pick that port (1 start in ~28,000 with the default
// net.ipv4.ip_local_port_range) would lose every probe until restarted.
// On such a pick the socket is kept open while a second one binds, so the
// kernel cannot hand out the same port again, and then closed.
func openConn(v6 bool, s Socket, cfg *Config, id uint16) (*conn, error) {
	c, port, err := openConn1(v6, s, cfg, id)
	if err != nil || s != SocketUDP || port != cfg.UDPPort {
		return c, err
	}
	d, port, err := openConn1(v6, s, cfg, id)
	c.sk.close()
	if err != nil {
		return nil, fmt.Errorf("prober: the kernel's ephemeral UDP port was the responder port %d, and no other is free: %w", cfg.UDPPort, err)
	}
	if port == cfg.UDPPort { // cannot happen: c held it
		d.sk.close()
		return nil, fmt.Errorf("prober: the kernel bound the UDP socket to the responder port %d twice", port)
	}
	return d, nil
}

// openConn1 opens and sets up one socket; a UDP socket is also bound to
// an ephemeral port, returned.
func openConn1(v6 bool, s Socket, cfg *Config, id uint16) (*conn, int, error) {
	fam, proto, typ := unix.AF_INET, unix.IPPROTO_ICMP, unix.SOCK_RAW
	kind := kindICMP4
	if v6 {
		fam, proto, kind = unix.AF_INET6, unix.IPPROTO_ICMPV6, kindICMP6
	}
	switch s {
	case SocketPing:
		typ = unix.SOCK_DGRAM
	case SocketUDP:
		typ, proto, kind = unix.SOCK_DGRAM, unix.IPPROTO_UDP, kindUDP
	}
	fd, err := unix.Socket(fam, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, 0, os.NewSyscallError("socket", err)
	}
	c := &conn{sk: fdSock(fd), v6: v6, socket: s, kind: kind}
	port := 0
	if err := c.setup(fd, cfg, id); err != nil {
		unix.Close(fd)
		return nil, 0, err
	}
	if s == SocketUDP {
		if port, err = bindEphemeral(fd, v6); err != nil {
			unix.Close(fd)
			return nil, 0, err
		}
	}
	return c, port, nil
}

// bindEphemeral binds fd to the wildcard address and a port of the
// kernel's choosing (what sending would do), and returns the port.
func bindEphemeral(fd int, v6 bool) (int, error) {
	var sa unix.Sockaddr = &unix.SockaddrInet4{}
	if v6 {
		sa = &unix.SockaddrInet6{}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return 0, fmt.Errorf("prober: no ephemeral UDP port (net.ipv4.ip_local_port_range): %w", os.NewSyscallError("bind", err))
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return a.Port, nil
	case *unix.SockaddrInet6:
		return a.Port, nil
	}
	return 0, fmt.Errorf("prober: getsockname: unexpected address %T", got)
}

func (c *conn) setup(fd int, cfg *Config, id uint16) error {
	// Big buffers: the FORCE variants need CAP_NET_ADMIN; else the plain
	// ones, capped by net.core.{r,w}mem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.SocketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.SocketBuffer)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cfg.SocketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.SocketBuffer)
	}
	// Timestamps: software TX (error queue, keyed by OPT_ID and carrying
	// the packet) and RX; else SO_TIMESTAMPNS for RX only.
	c.ts = TSKernelRx
	if !cfg.NoKernelTx {
		flags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_RX_SOFTWARE |
			unix.SOF_TIMESTAMPING_SOFTWARE | unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags) == nil {
			c.ts = TSKernelTxRx
		}
	}
	if c.ts != TSKernelTxRx {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			c.ts = TSUser
		}
	}
	// ICMP errors for ping and UDP sockets come through the error queue.
	if c.socket != SocketRaw {
		lvl, opt := unix.IPPROTO_IP, unix.IP_RECVERR
		if c.v6 {
			lvl, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
		}
		if err := unix.SetsockoptInt(fd, lvl, opt, 1); err != nil {
			return os.NewSyscallError("setsockopt IP_RECVERR", err)
		}
	}
	if c.socket == SocketRaw {
		if c.v6 {
			var f unix.ICMPv6Filter
			for i := range f.Data {
				f.Data[i] = 0xffffffff
			}
			for _, t := range []int{icmp6EchoReply, icmp6Unreach, icmp6TooBig, icmp6TimeExc, icmp6ParamProb} {
				f.Data[t>>5] &^= 1 << (uint(t) & 31)
			}
			if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
				return os.NewSyscallError("setsockopt ICMPV6_FILTER", err)
			}
		}
		raw, err := bpf.Assemble(replyFilter(c.v6, id))
		if err != nil {
			return fmt.Errorf("assembling the reply filter: %w", err)
		}
		prog := make([]unix.SockFilter, len(raw))
		for i, r := range raw {
			prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
			return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
		}
	}
	return nil
}

// isPerm reports whether err is a privilege refusal.
func isPerm(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

func pingGroupRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return "unknown"
	}
	return string(trimNL(b))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
