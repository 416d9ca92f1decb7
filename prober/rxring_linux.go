// SPDX-License-Identifier: MIT

package prober

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// rxRing receives replies through a TPACKET_V3 ring: an AF_PACKET socket
// in cooked mode (SOCK_DGRAM, so every packet starts at its IP header
// whatever the link: Ethernet, loopback, a tunnel), bound to ETH_P_IP (or
// ETH_P_IPV6) on every interface, whose blocks of packets the kernel
// writes into memory shared with the process. The kernel runs the raw
// socket's classic BPF reply filter (replyFilter: the same program for
// IPv4, as a cooked packet starts where a raw socket's does; ringFilter6
// skips the IPv6 header a raw ICMPv6 socket never shows) before it copies
// a packet in,
// stamps each frame with the packet's receive time (the skb stamp the raw
// socket's SO_TIMESTAMPING would have returned), and hands a block over
// when it is full or after ringRetire. Reading costs no system call per
// packet or per batch: the loop walks the blocks the kernel retired and
// gives them back; poll(2) on the socket says when one is ready.
//
// The raw socket stays open for sending (tx = raw and the packet path's
// fallback) and its error queue (TX stamps), with an ICMP_FILTER that
// blocks every type so the kernel no longer clones each reply into it.
type rxRing struct {
	fd     int
	mem    []byte
	blocks int
	bsize  int
	cur    int // next block to read
	// dropped is the kernel's count of packets the ring had no room for
	// (PACKET_STATISTICS, read when a block says TP_STATUS_LOSING).
	dropped uint64
	fr      ringFrame // the frame drain hands out (a local would escape)
	// local is this host's addresses: packets to any other IP
	// destination are routed through the host, not for it.
	local *localAddrs
}

const (
	// The ring holds 64 blocks of 16 KiB (1 MiB, resident: MAP_POPULATE),
	// 47 frames of hb's 248-byte echo replies a block (344 bytes a frame:
	// 96 of header and address, then the packet), ~3,000 in all. A block
	// that is not full is handed over when the retire timer fires (every
	// ringRetire), so how long the ring lasts unread is the shorter of
	// ringBlocks retire periods when replies are sparse (ringSpan: 256
	// ms; up to 10,000 replies/s at hb's size) and 1 MiB of frames when
	// they are dense (183 ms at the 16,667/s of 1M targets a minute).
	// The loop reads the ring between send batches and at least every
	// two lingers (its longest nap: 20-50 ms), but it can be kept from running much longer: with
	// GOMAXPROCS=1 (a daemon pinned to one CPU, a one-CPU container) it
	// shares its P with the writer, the store and the GC, and the Go
	// runtime measured scheduling latencies of 60–170 ms on a loaded
	// machine. It was 32 blocks of 32 KiB retired after 1 ms: kernels
	// whose retire timer is an hrtimer (6.18) honour 1 ms exactly, so
	// replies spread in time used a block each millisecond and the ring
	// lasted 32 ms unread; and the timer fired 1,000 times a second per
	// ring and family, idle or not (an empty block just re-arms it).
	ringBlockSize = 16 << 10
	ringBlocks    = 64
	ringFrameSize = 2048 // nominal for V3 (frames are packed), sets tp_frame_nr
	// ringRetire is how long the kernel keeps a block that is not full
	// before handing it over (tp_retire_blk_tov, ms; rounded up to
	// jiffies on kernels with a jiffy timer). The RTT is unaffected
	// (frames carry their receive stamps); it is how late a reply may be
	// read: up to two periods (a block opened just after the timer fired
	// waits for the next firing that finds it unchanged).
	ringRetire = 4
	// ringSpan is how long sparse replies last in the ring unread.
	ringSpan = ringBlocks * ringRetire * time.Millisecond
	// ringHold is how much later than a probe's deadline the loop gives
	// up on it when replies come through a ring: a reply received before
	// the deadline may sit in an open block for up to two retire periods
	// (plus a jiffy of timer slack). Replies whose kernel stamp is past
	// the deadline are still timeouts (handle).
	ringHold = 20 * time.Millisecond
)

// newRxRing opens the ring with the reply filter for identifier id, for
// IPv4 (ETH_P_IP) or IPv6 (ETH_P_IPV6; ringFilter6). The socket binds only
// after the filter and the ring are in place, so no unfiltered packet is
// ever queued.
func newRxRing(v6 bool, id uint16) (*rxRing, error) {
	prog, proto := replyFilter(false, id), uint16(unix.ETH_P_IP)
	if v6 {
		prog, proto = ringFilter6(id), unix.ETH_P_IPV6
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET", err)
	}
	r := &rxRing{fd: fd, blocks: ringBlocks, bsize: ringBlockSize}
	fail := func(err error) (*rxRing, error) {
		if r.mem != nil {
			_ = unix.Munmap(r.mem)
		}
		unix.Close(fd)
		return nil, err
	}
	if err := attachFilter(fd, prog); err != nil {
		return fail(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail(os.NewSyscallError("setsockopt PACKET_VERSION", err))
	}
	// Software receive stamps: the frames' tp_sec/tp_nsec are then the
	// skb's receive stamp (net_enable_timestamp), as a raw socket's.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, unix.SOF_TIMESTAMPING_RX_SOFTWARE|unix.SOF_TIMESTAMPING_SOFTWARE)
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       ringBlocks,
		Frame_size:     ringFrameSize,
		Frame_nr:       ringBlocks * ringBlockSize / ringFrameSize,
		Retire_blk_tov: ringRetire,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail(os.NewSyscallError("setsockopt PACKET_RX_RING", err))
	}
	r.mem, err = unix.Mmap(fd, 0, ringBlocks*ringBlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.mem = nil
		return fail(os.NewSyscallError("mmap", err))
	}
	if r.local, err = newLocalAddrs(v6); err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto)}); err != nil {
		r.local.close()
		return fail(os.NewSyscallError("bind AF_PACKET", err))
	}
	return r, nil
}

// attachFilter assembles prog and attaches it to the socket fd.
func attachFilter(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("assembling the reply filter: %w", err)
	}
	sf := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		sf[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fp := unix.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

// muteRaw sets an ICMP_FILTER (ICMPV6_FILTER) on the raw ICMP socket fd
// that blocks every type: the kernel checks it before it clones a packet
// for the socket, so replies the ring reads cost the raw socket nothing.
func muteRaw(fd int, v6 bool) error {
	if v6 {
		var f unix.ICMPv6Filter
		for i := range f.Data {
			f.Data[i] = 0xffffffff
		}
		if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
			return os.NewSyscallError("setsockopt ICMPV6_FILTER", err)
		}
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, -1); err != nil {
		return os.NewSyscallError("setsockopt ICMP_FILTER", err)
	}
	return nil
}

// status is the block status word of block i, read atomically (the
// kernel publishes the block with it).
func (r *rxRing) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.bsize+blkStatusOff]))
}

// drain reads every block the kernel has retired, in order, calling fn
// for each frame, and hands the blocks back. It returns the frames seen.
// At most one lap of the ring per call, so sending is not starved.
func (r *rxRing) drain(fn func(f *ringFrame)) int {
	n := 0
	for range r.blocks {
		st := r.status(r.cur)
		if atomic.LoadUint32(st)&tpStatusUser == 0 {
			break
		}
		b := r.mem[r.cur*r.bsize : (r.cur+1)*r.bsize]
		blk, err := parseRingBlock(b)
		if err == nil {
			if blk.status&tpStatusLosing != 0 {
				r.readDrops()
			}
			off := blk.first
			for i := 0; i < blk.n && off != 0; i++ {
				f, next, err := parseRingFrame(b[:blk.length], off)
				if err != nil {
					break
				}
				r.fr = f
				fn(&r.fr)
				n++
				off = next
			}
		}
		atomic.StoreUint32(st, 0) // TP_STATUS_KERNEL: the kernel's again
		r.cur = (r.cur + 1) % r.blocks
	}
	return n
}

// readDrops adds the kernel's drop count (PACKET_STATISTICS, which resets
// it) to dropped.
func (r *rxRing) readDrops() {
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err == nil {
		r.dropped += uint64(st.Drops)
	}
}

func (r *rxRing) close() error {
	var err error
	if r.local != nil {
		r.local.close()
		r.local = nil
	}
	if r.mem != nil {
		err = os.NewSyscallError("munmap", unix.Munmap(r.mem))
		r.mem = nil
	}
	if e := unix.Close(r.fd); e != nil && err == nil {
		err = os.NewSyscallError("close", e)
	}
	return err
}
