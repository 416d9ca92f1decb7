// SPDX-License-Identifier: MIT

package prober

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeTxKernel plays tpacket_snd over a txRing laid on plain memory: on
// each kick it takes SEND_REQUEST slots in order from its own head; the
// verdict for the k-th frame it is offered (counted over the ring's
// life) decides: "ok" (sent, left SENDING or, released, AVAILABLE),
// "busy" (back-pressure: left SEND_REQUEST, the head stays, the send
// fails with ENOBUFS) or "bad" (WRONG_FORMAT, the head stays, EINVAL).
type fakeTxKernel struct {
	r       *txRing
	head    int
	offered int
	verdict func(k int) string
	sent    [][]byte // frames sent, in order
	names   []string // each kick's name ("" unnamed)
	hold    bool     // leave sent slots SENDING (not released)
}

func newFakeTxRing(t *testing.T, n int) (*txRing, *fakeTxKernel) {
	t.Helper()
	const fsz, bsz = 128, 512 // 4 slots a block
	r := newTxRingOn(make([]byte, (n+3)/4*bsz), fsz, bsz, n)
	k := &fakeTxKernel{r: r, verdict: func(int) string { return "ok" }}
	r.kickErr = k.kick
	return r, k
}

func (k *fakeTxKernel) kick(name *byte, namelen uint32) error {
	nm := ""
	if name != nil {
		nm = string(unsafe.Slice(name, namelen))
	}
	k.names = append(k.names, nm)
	for {
		s := k.r.slot(k.head)
		st := k.r.status(s)
		if *st != tpStatusSendRequest {
			return nil
		}
		v := k.verdict(k.offered)
		k.offered++
		switch v {
		case "busy":
			return unix.ENOBUFS
		case "bad":
			*st = tpStatusWrongFormat
			return unix.EINVAL
		}
		l := int(binary.LittleEndian.Uint32(s[4:]))
		if hl := int(binary.LittleEndian.Uint16(s[tpHdrLen+2:])); hl != l-vnetHdrLen {
			return fmt.Errorf("hdr_len %d, frame %d", hl, l-vnetHdrLen)
		}
		k.sent = append(k.sent, append([]byte(nil), s[tpHdrLen+vnetHdrLen:tpHdrLen+l]...))
		*st = tpStatusAvailable | 1<<29 // released, with TP_STATUS_TS_SOFTWARE
		if k.hold {
			*st = tpStatusSending
		}
		k.head = (k.head + 1) % k.r.n
	}
}

// ringMsgs builds m one-iovec messages whose frames are b(i) (first
// byte i+off), named by name(i) (nil: unnamed).
func ringMsgs(m, off int, name func(i int) []byte) []unix.Mmsghdr {
	msgs := make([]unix.Mmsghdr, m)
	for i := range msgs {
		b := make([]byte, 40+i%3)
		b[0] = byte(i + off)
		iov := &unix.Iovec{Base: &b[0]}
		iov.SetLen(len(b))
		msgs[i].Hdr.Iov = iov
		msgs[i].Hdr.SetIovlen(1)
		if nm := name(i); nm != nil {
			msgs[i].Hdr.Name, msgs[i].Hdr.Namelen = &nm[0], uint32(len(nm))
		}
	}
	return msgs
}

func unnamed(int) []byte { return nil }

func TestTxRingSendsInOrderAcrossTheWrap(t *testing.T) {
	r, k := newFakeTxRing(t, 8)
	want := 0
	for round := range 5 { // 5 x 5 frames over 8 slots: wraps
		n, err := r.sendmmsg(ringMsgs(5, round*5, unnamed))
		if n != 5 || err != nil {
			t.Fatalf("round %d: %d, %v", round, n, err)
		}
		want += 5
	}
	if len(k.sent) != want || len(k.names) != 5 {
		t.Fatalf("%d frames in %d kicks, want %d in 5", len(k.sent), len(k.names), want)
	}
	for i, f := range k.sent {
		if f[0] != byte(i) || len(f) != 40+i%5%3 {
			t.Fatalf("frame %d: first byte %d, length %d", i, f[0], len(f))
		}
	}
	if r.head != k.head {
		t.Fatalf("head %d, kernel's %d", r.head, k.head)
	}
}

func TestTxRingBackPressure(t *testing.T) {
	r, k := newFakeTxRing(t, 8)
	k.verdict = func(i int) string {
		if i == 3 || i == 4 {
			return "busy" // the 4th frame twice
		}
		return "ok"
	}
	// Three go, the fourth is pushed back: 3 sent, no error (as sendmmsg).
	if n, err := r.sendmmsg(ringMsgs(6, 0, unnamed)); n != 3 || err != nil {
		t.Fatalf("%d, %v; want 3, nil", n, err)
	}
	if r.head != 3 || k.head != 3 {
		t.Fatalf("head %d, kernel's %d; want 3", r.head, k.head)
	}
	for i := 3; i < 8; i++ {
		if st := *r.status(r.slot(i)); st != tpStatusAvailable {
			t.Fatalf("slot %d status %d after the push-back", i, st)
		}
	}
	// The engine requeues and retries: pushed back again, none sent.
	if n, err := r.sendmmsg(ringMsgs(3, 3, unnamed)); n != 0 || !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("%d, %v; want 0, ENOBUFS", n, err)
	}
	// Then it goes, in order, from the slot the kernel waits at.
	if n, err := r.sendmmsg(ringMsgs(3, 3, unnamed)); n != 3 || err != nil {
		t.Fatalf("%d, %v; want 3, nil", n, err)
	}
	for i, f := range k.sent {
		if f[0] != byte(i) {
			t.Fatalf("frame %d is %d", i, f[0])
		}
	}
}

func TestTxRingBadFrame(t *testing.T) {
	r, k := newFakeTxRing(t, 8)
	k.verdict = func(i int) string {
		if i == 2 {
			return "bad"
		}
		return "ok"
	}
	if n, err := r.sendmmsg(ringMsgs(4, 0, unnamed)); n != 2 || err != nil {
		t.Fatalf("%d, %v; want 2, nil", n, err)
	}
	// The bad one is the first of the rest: its error, and the slot is
	// free again.
	msgs := ringMsgs(2, 2, unnamed)
	k.verdict = func(i int) string {
		if i == 3 {
			return "bad"
		}
		return "ok"
	}
	if n, err := r.sendmmsg(msgs); n != 0 || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("%d, %v; want 0, EINVAL", n, err)
	}
	if st := *r.status(r.slot(2)); st != tpStatusAvailable || r.head != 2 || k.head != 2 {
		t.Fatalf("slot 2 status %d, head %d, kernel's %d", st, r.head, k.head)
	}
	// The engine skips it and sends the next.
	if n, err := r.sendmmsg(msgs[1:]); n != 1 || err != nil || len(k.sent) != 3 || k.sent[2][0] != 3 {
		t.Fatalf("%d, %v, %d sent", n, err, len(k.sent))
	}
	// A frame too big for a slot is refused before the kernel sees it.
	big := make([]byte, r.room+1)
	iov := &unix.Iovec{Base: &big[0]}
	iov.SetLen(len(big))
	m := []unix.Mmsghdr{{Hdr: unix.Msghdr{Iov: iov, Iovlen: 1}}}
	if n, err := r.sendmmsg(m); n != 0 || !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("%d, %v; want 0, EMSGSIZE", n, err)
	}
}

func TestTxRingFull(t *testing.T) {
	r, k := newFakeTxRing(t, 4)
	k.hold = true // the device keeps the slots
	if n, err := r.sendmmsg(ringMsgs(6, 0, unnamed)); n != 4 || err != nil {
		t.Fatalf("%d, %v; want 4 (the ring), nil", n, err)
	}
	if n, err := r.sendmmsg(ringMsgs(2, 4, unnamed)); n != 0 || !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("%d, %v; want 0, ENOBUFS", n, err)
	}
	kicks := len(k.names)
	*r.status(r.slot(0)) = tpStatusAvailable // the device releases one
	if n, err := r.sendmmsg(ringMsgs(2, 4, unnamed)); n != 1 || err != nil || len(k.names) != kicks+1 {
		t.Fatalf("%d, %v; want 1, nil", n, err)
	}
}

func TestTxRingNames(t *testing.T) {
	r, k := newFakeTxRing(t, 16)
	a, b := []byte("sll-a"), []byte("sll-b")
	name := func(i int) []byte {
		switch i {
		case 2, 3:
			return append([]byte(nil), a...) // same bytes, other memory
		case 4:
			return b
		}
		return nil
	}
	if n, err := r.sendmmsg(ringMsgs(7, 0, name)); n != 7 || err != nil {
		t.Fatalf("%d, %v", n, err)
	}
	want := []string{"", "sll-a", "sll-b", ""}
	if fmt.Sprint(k.names) != fmt.Sprint(want) {
		t.Fatalf("kicks %q, want %q", k.names, want)
	}
}
