// SPDX-License-Identifier: MIT

package prober

import (
	"net/netip"
	"testing"
)

func TestInflightMatch(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.1")
	other := netip.MustParseAddr("198.18.0.2")
	f := new(inflight)
	send := func(addr netip.Addr, cookie uint64, deadline int64) uint16 {
		seq, ok := f.alloc()
		if !ok {
			t.Fatal("alloc failed")
		}
		f.slots[seq] = slot{addr: addr, cookie: cookie, txWire: int64(cookie) * 10, deadline: deadline, state: slotPending}
		return seq
	}
	s0 := send(a, 1, 100)
	s1 := send(a, 2, 200)
	for _, tc := range []struct {
		name   string
		seq    uint16
		src    netip.Addr
		cookie uint64
		txw    int64
		has    bool
		want   verdict
	}{
		{"unused slot", 9, a, 1, 10, true, vUnknown},
		{"wrong source", s0, other, 1, 10, true, vWrongSrc},
		{"wrong cookie", s0, a, 99, 10, true, vBadCookie},
		{"wrong tx time", s0, a, 1, 11, true, vBadCookie},
		{"fresh", s0, a, 1, 10, true, vFresh},
		{"duplicate", s0, a, 1, 10, true, vDuplicate},
		{"no cookie (legacy) duplicate", s0, a, 0, 0, false, vDuplicate},
	} {
		if _, v := f.match(tc.seq, tc.src, tc.cookie, tc.txw, tc.has); v != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, v, tc.want)
		}
	}
	// Timeouts: sweeping at 150 expires s1? No: only deadlines <= now.
	var expired []uint16
	f.sweep(150, func(seq uint16, s *slot) { expired = append(expired, seq) })
	if len(expired) != 0 {
		t.Fatalf("expired %v at 150", expired)
	}
	f.sweep(200, func(seq uint16, s *slot) { expired = append(expired, seq) })
	if len(expired) != 1 || expired[0] != s1 {
		t.Fatalf("expired %v at 200, want [%d]", expired, s1)
	}
	if _, v := f.match(s1, a, 2, 20, true); v != vLate {
		t.Errorf("reply after timeout: verdict %d, want late", v)
	}
	if f.pending() {
		t.Error("pending after everything resolved")
	}
}

func TestInflightSeqWrap(t *testing.T) {
	a := netip.MustParseAddr("2001:2::1")
	f := new(inflight)
	// Fill every slot: the next alloc must stall, not reuse a pending one.
	for i := range 1 << 16 {
		seq, ok := f.alloc()
		if !ok || int(seq) != i {
			t.Fatalf("alloc %d = %d %v", i, seq, ok)
		}
		f.slots[seq] = slot{addr: a, cookie: uint64(i), txWire: int64(i), deadline: int64(i), state: slotPending}
	}
	if _, ok := f.alloc(); ok {
		t.Fatal("alloc succeeded with every slot pending")
	}
	n := 0
	f.sweep(9, func(uint16, *slot) { n++ })
	if n != 10 {
		t.Fatalf("swept %d, want 10", n)
	}
	// The sequence wraps to 0; a late reply to the old probe in slot 0
	// carries the old cookie and is not mistaken for the new probe.
	seq, ok := f.alloc()
	if !ok || seq != 0 {
		t.Fatalf("after the sweep alloc = %d %v, want 0", seq, ok)
	}
	f.slots[0] = slot{addr: a, cookie: 777, txWire: 7770, deadline: 1 << 40, state: slotPending}
	if _, v := f.match(0, a, 0, 0, true); v != vBadCookie {
		t.Errorf("old probe's reply after wrap: verdict %d, want bad cookie", v)
	}
	if _, v := f.match(0, a, 777, 7770, true); v != vFresh {
		t.Errorf("new probe's reply: verdict %d, want fresh", v)
	}
	f.unalloc() // the slot given back is the last allocated
	if f.next != 0 {
		t.Fatalf("unalloc: next = %d", f.next)
	}
}
