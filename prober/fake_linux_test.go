// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeNet stands in for the kernel behind the engine's sockets, so the
// send/receive loop runs in unprivileged tests (raw sockets need
// CAP_NET_RAW, which CI and `go test` as a user do not have; the
// privileged end-to-end tests run the same loop on real sockets). It
// answers each probe as a raw ICMP socket would deliver it: echo replies
// (IPv4 with its IP header), ICMP errors quoting the probe, kernel RX
// timestamps, and TX timestamps on the error queue keyed by OPT_ID.
//
// Kernel time is deterministic: each packet leaves at least 1µs after the
// previous one and its reply is stamped exactly rtt later, so a TX stamp
// matched to the wrong probe shows as a wrong RTT.
type fakeNet struct {
	mu      sync.Mutex
	rtt     time.Duration
	drop    map[netip.Addr]bool // never answered
	unreach map[netip.Addr]bool // answered by router with a host-unreachable error
	router4 netip.Addr
	// enobufs fails the next n sendmmsg calls with ENOBUFS (no message
	// sent); accept caps the messages one call takes (0: all).
	enobufs, accept int
	// hardErr fails the send to an address (the kernel's sendmmsg returns
	// what it sent before the failing message, or the error when first).
	hardErr map[netip.Addr]unix.Errno
	noStamp bool // no TX timestamps at all
	// lateStamp holds a TX stamp back until the reply to its probe has
	// been read (the engine must then drain the error queue).
	lateStamp bool
	clock     int64
	calls     int
	errReads  int // recvmmsg calls on the error queues
	sent      []netip.Addr
	socks     [2]*fakeSock
	wakeCh    chan struct{}
	// virt, when set, runs the engine in fake time (see virtual).
	virt   *virtClock
	naps   int // waits that did not watch the sockets
	sleeps int // waits and naps
	// onSleep, when set, is called (on the loop's goroutine) as the loop
	// goes to sleep, before the fake decides how it wakes.
	onSleep func()
}

// virtClock is the fake network's virtual time: the engine's clock reads
// it, and a wait with nothing to read advances it by the timeout plus
// oversleep (a loaded machine wakes a poller late; at least 1µs) instead
// of sleeping.
// Each message sent costs sendCost. At until it cancels the run.
type virtClock struct {
	now       time.Time
	oversleep time.Duration
	sendCost  time.Duration
	until     time.Time
	cancel    func()
	sentAt    []time.Duration // per message sent: fake time since start
	start     time.Time
	// stall adds to every stallEvery-th wait: the process not scheduled
	// for a while (a loaded machine, a long GC or store write).
	stall      time.Duration
	stallEvery int
	waits      int
}

// virtual switches n (and e, built by n.engine) to fake time from e's
// start; the run is cancelled after d of it.
func (n *fakeNet) virtual(e *Engine, d, oversleep, sendCost time.Duration, cancel func()) {
	n.virt = &virtClock{now: e.start, start: e.start, oversleep: oversleep, sendCost: sendCost, until: e.start.Add(d), cancel: cancel}
	e.clock = func() time.Time {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.virt.now
	}
}

type fakeMsg struct {
	data, ctl []byte
	from      netip.Addr
}

type fakeSock struct {
	n      *fakeNet
	v6     bool
	ids    uint32
	rx, eq []fakeMsg
	held   []fakeMsg
	closed bool
}

func newFakeNet() *fakeNet {
	return &fakeNet{
		rtt: 250 * time.Microsecond, drop: map[netip.Addr]bool{}, unreach: map[netip.Addr]bool{},
		hardErr: map[netip.Addr]unix.Errno{}, router4: netip.MustParseAddr("198.18.255.254"),
		wakeCh: make(chan struct{}, 1),
	}
}

// engine returns an engine whose two raw sockets are this fake's.
func (n *fakeNet) engine(cfg Config) *Engine {
	e := newEngine(cfg)
	for f := range 2 {
		s := &fakeSock{n: n, v6: f == 1}
		n.socks[f] = s
		kind := kindICMP4
		if f == 1 {
			kind = kindICMP6
		}
		e.attach(f, &conn{sk: s, v6: f == 1, socket: SocketRaw, kind: kind, ts: TSKernelTxRx})
	}
	e.wt = n
	e.mode = Mode{Socket: SocketRaw, Timestamps: TSKernelTxRx, Reason: "fake"}
	return e
}

func (n *fakeNet) wait(d time.Duration) error { return n.sleep(d, true) }

func (n *fakeNet) nap(d time.Duration) error {
	n.mu.Lock()
	n.naps++
	n.mu.Unlock()
	return n.sleep(d, false)
}

func (n *fakeNet) sleep(d time.Duration, socks bool) error {
	if n.onSleep != nil {
		n.onSleep()
	}
	n.mu.Lock()
	n.sleeps++
	ready := false
	for _, s := range n.socks {
		ready = ready || len(s.rx) > 0 || len(s.eq) > 0
	}
	n.mu.Unlock()
	if ready && socks {
		return nil
	}
	if v := n.virt; v != nil {
		n.mu.Lock()
		v.now = v.now.Add(max(d, time.Microsecond) + v.oversleep) // a wait costs at least a syscall
		if v.waits++; v.stallEvery > 0 && v.waits%v.stallEvery == 0 {
			v.now = v.now.Add(v.stall)
		}
		done := !v.now.Before(v.until)
		n.mu.Unlock()
		if done {
			v.cancel()
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.wakeCh:
	case <-t.C:
	}
	return nil
}

func (n *fakeNet) wake() {
	select {
	case n.wakeCh <- struct{}{}:
	default:
	}
}

func (n *fakeNet) close() error { return nil }

func (s *fakeSock) close() error { s.closed = true; return nil }

func (s *fakeSock) sendmmsg(msgs []unix.Mmsghdr) (int, error) {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	if n.enobufs > 0 {
		n.enobufs--
		return 0, unix.ENOBUFS
	}
	lim := len(msgs)
	if n.accept > 0 {
		lim = min(lim, n.accept)
	}
	for i := range lim {
		h := &msgs[i].Hdr
		dst := sockaddrAddr(unsafe.Slice(h.Name, h.Namelen))
		if e, bad := n.hardErr[dst]; bad {
			if i == 0 {
				return 0, e
			}
			return i, nil
		}
		probe := append([]byte(nil), unsafe.Slice(h.Iov.Base, h.Iov.Len)...)
		n.sent = append(n.sent, dst)
		if v := n.virt; v != nil {
			v.now = v.now.Add(v.sendCost)
			v.sentAt = append(v.sentAt, v.now.Sub(v.start))
			n.clock = max(n.clock+1000, v.now.UnixNano())
		} else {
			n.clock = max(n.clock+1000, time.Now().UnixNano())
		}
		tx := n.clock
		stamp := fakeMsg{ctl: append(recvErrCmsg(s.v6, extErr{errno: uint32(unix.ENOMSG), origin: eeOriginTimestamping, info: scmTstampSnd, data: s.ids}), tsCmsg(tx)...)}
		s.ids++
		if !n.noStamp {
			if n.lateStamp {
				s.held = append(s.held, stamp)
			} else {
				s.eq = append(s.eq, stamp)
			}
		}
		rx := tsCmsg(tx + int64(n.rtt))
		switch {
		case n.drop[dst]:
		case n.unreach[dst]:
			s.rx = append(s.rx, fakeMsg{data: icmpError4(n.router4, dst, probe), ctl: rx, from: n.router4})
		default:
			s.rx = append(s.rx, fakeMsg{data: echoReply(s.v6, dst, probe), ctl: rx, from: dst})
		}
	}
	return lim, nil
}

func (s *fakeSock) recvmmsg(msgs []unix.Mmsghdr, flags int) (int, error) {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	q := &s.rx
	if flags&unix.MSG_ERRQUEUE != 0 {
		q = &s.eq
		s.n.errReads++
	}
	k := 0
	for ; k < len(msgs) && len(*q) > 0; k++ {
		m := (*q)[0]
		*q = (*q)[1:]
		h := &msgs[k].Hdr
		msgs[k].Len = uint32(copy(unsafe.Slice(h.Iov.Base, h.Iov.Len), m.data))
		h.SetControllen(copy(unsafe.Slice(h.Control, h.Controllen), m.ctl))
		if m.from.IsValid() {
			sa, l := sockaddr(m.from, 0)
			h.Namelen = uint32(copy(unsafe.Slice(h.Name, h.Namelen), sa[:l]))
		} else {
			h.Namelen = 0
		}
	}
	if q == &s.rx && k > 0 && len(s.held) > 0 {
		s.eq = append(s.eq, s.held...)
		s.held = s.held[:0]
	}
	if k == 0 {
		return 0, unix.EAGAIN
	}
	return k, nil
}

// cmsg frames data as one control message (native layout, C long
// alignment), as recvmsg returns it.
func cmsg(level, typ int32, data []byte) []byte {
	hdr := cmsgAlign(longSize + 8)
	b := make([]byte, cmsgAlign(hdr+len(data)))
	if longSize == 8 {
		binary.NativeEndian.PutUint64(b, uint64(hdr+len(data)))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(hdr+len(data)))
	}
	binary.NativeEndian.PutUint32(b[longSize:], uint32(level))
	binary.NativeEndian.PutUint32(b[longSize+4:], uint32(typ))
	copy(b[hdr:], data)
	return b
}

// tsCmsg is an SO_TIMESTAMPING message whose software stamp is ns.
func tsCmsg(ns int64) []byte {
	d := make([]byte, 3*2*longSize)
	if longSize == 8 {
		binary.NativeEndian.PutUint64(d, uint64(ns/1e9))
		binary.NativeEndian.PutUint64(d[8:], uint64(ns%1e9))
	} else {
		binary.NativeEndian.PutUint32(d, uint32(ns/1e9))
		binary.NativeEndian.PutUint32(d[4:], uint32(ns%1e9))
	}
	return cmsg(solSocket, scmTimestampOld, d)
}

// recvErrCmsg is an IP(V6)_RECVERR message carrying e.
func recvErrCmsg(v6 bool, e extErr) []byte {
	d := make([]byte, 16+unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint32(d, e.errno)
	d[4], d[5], d[6] = e.origin, e.typ, e.code
	binary.NativeEndian.PutUint32(d[8:], e.info)
	binary.NativeEndian.PutUint32(d[12:], e.data)
	if e.offender.IsValid() {
		sa, l := sockaddr(e.offender, 0)
		copy(d[16:], sa[:l])
	}
	if v6 {
		return cmsg(solIPv6, ipv6RecvErr, d)
	}
	return cmsg(solIP, ipRecvErr, d)
}

// ipv4Header is a minimal IPv4 header from src to dst carrying an ICMP
// message of n bytes.
func ipv4Header(src, dst netip.Addr, n int) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 64, protoICMP
	binary.BigEndian.PutUint16(h[2:], uint16(20+n))
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	return h
}

// echoReply is what a raw socket reads for the reply to probe from dst.
func echoReply(v6 bool, dst netip.Addr, probe []byte) []byte {
	r := append([]byte(nil), probe...)
	if v6 {
		r[0] = icmp6EchoReply
		return r
	}
	r[0] = icmp4EchoReply
	return append(ipv4Header(dst, netip.MustParseAddr("198.19.0.1"), len(r)), r...)
}

// icmpError4 is a host-unreachable from router quoting probe to dst.
func icmpError4(router, dst netip.Addr, probe []byte) []byte {
	quote := append(ipv4Header(netip.MustParseAddr("198.19.0.1"), dst, len(probe)), probe[:icmpHdrLen+cookieEnd]...)
	m := append([]byte{icmp4Unreach, 1, 0, 0, 0, 0, 0, 0}, quote...)
	return append(ipv4Header(router, netip.MustParseAddr("198.19.0.1"), len(m)), m...)
}
