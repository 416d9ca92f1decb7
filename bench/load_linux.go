// SPDX-License-Identifier: MIT

package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/wire"
)

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func sendmmsg(fd int, msgs []mmsghdr) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	if e != 0 {
		return int(n), os.NewSyscallError("sendmmsg", e)
	}
	return int(n), nil
}

func rxPackets(iface string) (uint64, error) {
	b, err := os.ReadFile("/sys/class/net/" + iface + "/statistics/rx_packets")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// RunLoad sends HBQ1 echo requests to c.Dst as fast as sendmmsg allows for
// c.Duration (or c.Max requests) and counts the replies on c.Iface. Run it
// inside the generator's namespace.
func RunLoad(c LoadConfig) (LoadResult, error) {
	var res LoadResult
	if c.Batch <= 0 {
		c.Batch = 64
	}
	ifc, err := net.InterfaceByName(c.Iface)
	if err != nil {
		return res, err
	}
	if c.XDPPass {
		objs, err := bpf.Load()
		if err != nil {
			return res, err
		}
		defer objs.Close()
		l, err := link.AttachXDP(link.XDPOptions{Program: objs.XDPPass(), Interface: ifc.Index, Flags: link.XDPDriverMode})
		if err != nil {
			return res, fmt.Errorf("attach XDP_PASS to %s: %w", c.Iface, err)
		}
		defer l.Close()
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return res, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	// Receive nothing: ICMP_FILTER (SOL_RAW, 1) with every type blocked.
	// Replies are counted on the interface, so a slow reader cannot
	// under-count them.
	if err := unix.SetsockoptInt(fd, unix.SOL_RAW, 1, -1); err != nil {
		return res, os.NewSyscallError("setsockopt ICMP_FILTER", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: c.Dst.As4()}); err != nil {
		return res, os.NewSyscallError("connect", err)
	}
	size := 8 + wire.RequestLen
	bufs := make([]byte, c.Batch*size)
	iovs := make([]unix.Iovec, c.Batch)
	msgs := make([]mmsghdr, c.Batch)
	for i := range msgs {
		iovs[i].Base = &bufs[i*size]
		iovs[i].SetLen(size)
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	id := uint16(os.Getpid())
	rx0, err := rxPackets(c.Iface)
	if err != nil {
		return res, err
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	deadline := start.Add(c.Duration)
	var seq uint16
	for res.Sent < c.Max || c.Max == 0 {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		for i := range msgs {
			EchoRequest(bufs[i*size:(i+1)*size], id, seq, now.UnixNano())
			seq++
		}
		n, err := sendmmsg(fd, msgs)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				time.Sleep(50 * time.Microsecond)
				continue
			}
			return res, err
		}
		res.Sent += uint64(n)
	}
	res.Seconds = time.Since(start).Seconds()
	time.Sleep(200 * time.Millisecond) // replies still in flight
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	rx1, err := rxPackets(c.Iface)
	if err != nil {
		return res, err
	}
	res.Replies = rx1 - rx0
	res.CPUSeconds = tvSec(ru1.Utime) + tvSec(ru1.Stime) - tvSec(ru0.Utime) - tvSec(ru0.Stime)
	return res, nil
}

func tvSec(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// RunEchoResponder answers ICMP echo requests from userspace the way the
// legacy Python monitor does: one raw socket, one recvfrom and one sendto
// per request. Run it in a namespace with net.ipv4.icmp_echo_ignore_all=1
// so the kernel does not answer too. It returns only on error.
func RunEchoResponder() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	in := make([]byte, 65536)
	out := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(fd, in, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return os.NewSyscallError("recvfrom", err)
		}
		m, src, ok := EchoReply(out, in[:n])
		if !ok {
			continue
		}
		if err := unix.Sendto(fd, out[:m], 0, &unix.SockaddrInet4{Addr: src}); err != nil && !errors.Is(err, unix.ENOBUFS) {
			return os.NewSyscallError("sendto", err)
		}
	}
}
