// SPDX-License-Identifier: MIT

package prober

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// txRing is the packet socket's transmit ring (PACKET_TX_RING,
// TPACKET_V2): sendmmsg writes each frame into the next slot of the
// mmapped ring and hands the kernel the whole run with one send(2), so no
// msghdr, iovec or data is copied in per frame (that per-message work was
// ~4.5 % of the daemon's samples at 10,000 probes/s; by hand ~0.3 µs a
// frame on the test VM: /work/notes/txring.md).
//
// Each slot starts with a virtio_net_hdr (PACKET_VNET_HDR) whose hdr_len
// is the whole frame: the kernel then copies the frame into the skb's
// linear part instead of attaching the ring's page as a fragment, which a
// veth (or any path that orphans the skb) copies into a new page per frame
// (skb_copy_ubufs; the plain ring measured slower than sendmmsg on a veth).
//
// The kernel's TX stamps are unchanged: tpacket_snd sets each skb's
// timestamp flags and OPT_ID key from the socket as packet_snd does
// (keys count the frames sent, one per frame, in order).
//
// The ring's head (the next slot) is the kernel's as well: the kernel
// sends slots in order from its head while they are SEND_REQUEST, and stops
// at the first that is not, or that fails (left SEND_REQUEST on
// back-pressure, WRONG_FORMAT on a bad frame; its head stays there). After
// each send, the slots it did not take are made AVAILABLE again and the
// head moves back to the first of them, so both stay in step.
type txRing struct {
	fd      int
	mem     []byte // the mapping; nil in unit tests (their ring is plain memory)
	ring    []byte
	fsz     int // bytes a slot
	fpb     int // slots a block (a slot never spans blocks)
	bsz     int // bytes a block
	n       int // slots
	head    int // next slot to write
	room    int // frame bytes a slot holds
	kickErr func(name *byte, namelen uint32) error
}

const (
	// tpHdrLen is TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): a TX
	// frame's data starts there (tp_hdrlen - sizeof(struct sockaddr_ll),
	// without PACKET_TX_HAS_OFF).
	tpHdrLen   = 32
	vnetHdrLen = 10 // struct virtio_net_hdr

	tpStatusAvailable   = 0
	tpStatusSendRequest = 1
	tpStatusSending     = 2
	tpStatusWrongFormat = 4
)

// newTxRing sets up a transmit ring of at least frames slots of
// maxFrame bytes on packet socket fd. On error the socket is left as it
// was (no ring, no virtio_net_hdr), so sendmmsg works on it; an error
// that could not be undone is errTxRingStuck.
func newTxRing(fd, frames, maxFrame int) (r *txRing, err error) {
	page := os.Getpagesize()
	fsz := (tpHdrLen + vnetHdrLen + maxFrame + 15) &^ 15
	bsz := page
	if fsz > bsz {
		bsz = (fsz + page - 1) / page * page
	}
	fpb := bsz / fsz
	blocks := (frames + fpb - 1) / fpb
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt PACKET_VNET_HDR", err)
	}
	ringSet := false
	defer func() {
		if err == nil {
			return
		}
		if ringSet && unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &unix.TpacketReq{}) != nil {
			err = fmt.Errorf("%w (%v)", errTxRingStuck, err)
			return
		}
		if unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 0) != nil {
			err = fmt.Errorf("%w (%v)", errTxRingStuck, err)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, os.NewSyscallError("setsockopt PACKET_VERSION", err)
	}
	req := unix.TpacketReq{Block_size: uint32(bsz), Block_nr: uint32(blocks), Frame_size: uint32(fsz), Frame_nr: uint32(blocks * fpb)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, os.NewSyscallError("setsockopt PACKET_TX_RING", err)
	}
	ringSet = true
	mem, err := unix.Mmap(fd, 0, blocks*bsz, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap PACKET_TX_RING", err)
	}
	r = newTxRingOn(mem, fsz, bsz, blocks*fpb)
	r.fd, r.mem = fd, mem
	return r, nil
}

var errTxRingStuck = errors.New("packet socket left with a virtio_net_hdr or ring after a failed PACKET_TX_RING set-up")

// newTxRingOn lays a ring of n slots of fsz bytes, in blocks of bsz,
// over mem (the kernel's mapping, or plain memory in unit tests).
func newTxRingOn(mem []byte, fsz, bsz, n int) *txRing {
	r := &txRing{ring: mem, fsz: fsz, bsz: bsz, fpb: bsz / fsz, n: n, room: fsz - tpHdrLen - vnetHdrLen}
	r.kickErr = r.kick
	return r
}

func (r *txRing) slot(i int) []byte {
	off := i/r.fpb*r.bsz + i%r.fpb*r.fsz
	return r.ring[off : off+r.fsz : off+r.fsz]
}

func (r *txRing) status(s []byte) *uint32 { return (*uint32)(unsafe.Pointer(&s[0])) }

// kick is send(2) on the socket without data: the kernel sends the
// SEND_REQUEST slots from its head, to the bound device or the one name
// gives. Raw for the reason fdSock's calls are.
func (r *txRing) kick(name *byte, namelen uint32) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(r.fd), 0, 0, unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(name)), uintptr(namelen))
	if e != 0 {
		return e
	}
	return nil
}

// sendmmsg sends the messages' frames (one iovec each) through the ring
// and returns how many the kernel took, or the first one's error, as
// sendmmsg(2) would: ENOBUFS when the ring has no free slot (frames the
// device has not yet released), the kernel's back-pressure error (the
// engine requeues), or a hard error for a frame the kernel refused.
// Messages with a name (a device other than the bound one) go in runs of
// the same name, one send each.
func (r *txRing) sendmmsg(msgs []unix.Mmsghdr) (int, error) {
	done := 0
	for done < len(msgs) {
		h0 := &msgs[done].Hdr
		start, end := r.head, done
		for end < len(msgs) && end-done < r.n && sameName(&msgs[end].Hdr, h0) {
			s := r.slot((start + end - done) % r.n)
			st := r.status(s)
			if atomic.LoadUint32(st)&(tpStatusSendRequest|tpStatusSending|tpStatusWrongFormat) != 0 {
				break // not released yet: the ring is full
			}
			h := &msgs[end].Hdr
			if h.Iovlen != 1 || int(h.Iov.Len) > r.room {
				if end == done {
					return r.result(done, unix.EMSGSIZE)
				}
				break
			}
			l := int(h.Iov.Len)
			v := s[tpHdrLen : tpHdrLen+vnetHdrLen]
			clear(v)
			v[2], v[3] = byte(l), byte(l>>8) // hdr_len (little-endian): the whole frame goes linear
			copy(s[tpHdrLen+vnetHdrLen:], unsafe.Slice(h.Iov.Base, l))
			*(*uint32)(unsafe.Pointer(&s[4])) = uint32(vnetHdrLen + l) // tp_len
			atomic.StoreUint32(st, tpStatusSendRequest)
			end++
		}
		if end == done {
			return r.result(done, unix.ENOBUFS)
		}
		err := r.kickErr(h0.Name, h0.Namelen)
		m := end - done
		sent, bad := r.settle(start, m)
		done += sent
		if sent < m {
			if err == nil {
				err = unix.EAGAIN
				if bad {
					err = unix.EINVAL
				}
			}
			return r.result(done, err)
		}
	}
	return done, nil
}

func (r *txRing) result(done int, err error) (int, error) {
	if done > 0 {
		return done, nil
	}
	return 0, err
}

// settle finds how many of the m slots from start the kernel took: those
// before the first it left SEND_REQUEST or marked WRONG_FORMAT (bad
// reports that), which with the rest are made AVAILABLE again; the head
// moves to the first not taken (the kernel's head).
func (r *txRing) settle(start, m int) (int, bool) {
	sent := 0
	bad := false
	for ; sent < m; sent++ {
		st := atomic.LoadUint32(r.status(r.slot((start + sent) % r.n)))
		if st&(tpStatusSendRequest|tpStatusWrongFormat) != 0 {
			bad = st&tpStatusWrongFormat != 0
			break
		}
	}
	for k := sent; k < m; k++ {
		atomic.StoreUint32(r.status(r.slot((start+k)%r.n)), tpStatusAvailable)
	}
	r.head = (start + sent) % r.n
	return sent, bad
}

// sameName says whether h is addressed as h0 is (both unnamed: the bound
// device).
func sameName(h, h0 *unix.Msghdr) bool {
	if h == h0 || h.Name == nil && h0.Name == nil {
		return true
	}
	if h.Name == nil || h0.Name == nil || h.Namelen != h0.Namelen {
		return false
	}
	return string(unsafe.Slice(h.Name, h.Namelen)) == string(unsafe.Slice(h0.Name, h0.Namelen))
}

// pktFD is the descriptor of a packet socket, plain or with a ring.
func pktFD(s sock) int {
	if r, ok := s.(*txRing); ok {
		return r.fd
	}
	return int(s.(fdSock))
}

func (r *txRing) recvmmsg(msgs []unix.Mmsghdr, flags int) (int, error) {
	return fdSock(r.fd).recvmmsg(msgs, flags)
}

func (r *txRing) close() error {
	var err error
	if r.mem != nil {
		err = os.NewSyscallError("munmap", unix.Munmap(r.mem))
		r.mem, r.ring = nil, nil
	}
	return errors.Join(err, fdSock(r.fd).close())
}
