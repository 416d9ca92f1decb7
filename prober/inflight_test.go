// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/hbmon/hb/wire"
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
		// The probe's tx time is wireTime(txUser, seq): cookie·10 in
		// the bits above the seq.
		f.slots[seq] = slot{addr: addr.As16(), cookie: cookie, txUser: int64(cookie) * 10 << 16, deadline: deadline, state: slotPending}
		return seq
	}
	s0 := send(a, 1, 100)
	s1 := send(a, 2, 200)
	tx := func(cookie uint64, seq uint16) int64 { return wireTime(int64(cookie)*10<<16, seq) }
	for _, tc := range []struct {
		name   string
		seq    uint16
		src    netip.Addr
		cookie uint64
		txw    int64
		has    bool
		want   verdict
	}{
		{"unused slot", 9, a, 1, tx(1, 9), true, vUnknown},
		{"wrong source", s0, other, 1, tx(1, s0), true, vWrongSrc},
		{"wrong cookie", s0, a, 99, tx(1, s0), true, vBadCookie},
		{"wrong tx time", s0, a, 1, tx(1, s0) + 1<<16, true, vBadCookie},
		{"tx time of another seq", s0, a, 1, tx(1, s0+1), true, vBadCookie},
		{"fresh", s0, a, 1, tx(1, s0), true, vFresh},
		{"duplicate", s0, a, 1, tx(1, s0), true, vDuplicate},
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
	if _, v := f.match(s1, a, 2, tx(2, s1), true); v != vLate {
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
		f.slots[seq] = slot{addr: a.As16(), cookie: uint64(i), txUser: int64(i) << 16, deadline: int64(i), state: slotPending}
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
	f.slots[0] = slot{addr: a.As16(), cookie: 777, txUser: 7770 << 16, deadline: 1 << 40, state: slotPending}
	if _, v := f.match(0, a, 0, 0, true); v != vBadCookie {
		t.Errorf("old probe's reply after wrap: verdict %d, want bad cookie", v)
	}
	if _, v := f.match(0, a, 777, 7770<<16, true); v != vFresh {
		t.Errorf("new probe's reply: verdict %d, want fresh", v)
	}
	f.unalloc() // the slot given back is the last allocated
	if f.next != 0 {
		t.Fatalf("unalloc: next = %d", f.next)
	}
}

// TestMatchReplyPolicy: an echo reply answers its probe only with the
// probe's cookie (the kernel's echo of our HBQ1 request, or an HBR1
// reply), or as HBM v2 from a legacy=hbm2 target; with a key a clear blob
// is a downgrade unless accepted. A refused reply leaves the probe pending
// for the genuine one.
func TestMatchReplyPolicy(t *testing.T) {
	key, _ := wire.NewKey(1, bytes.Repeat([]byte{5}, wire.KeyLen))
	a := netip.MustParseAddr("198.18.0.1")
	const ck, txw = 0xc0ffee, 12345 << 16 // the first slot (seq 0) sends tx time wireTime(txw, 0) = txw
	req := wire.AppendRequest(nil, wire.Request{Flags: wire.FlagHealth, KeyID: 1, Room: wire.BlobSize, Cookie: ck, TxTime: txw})
	reply := func(k *wire.Key) []byte {
		h := wire.Health{Generation: 1, CollectedAt: 1}
		blob := make([]byte, wire.BlobSize)
		if err := wire.EncodeBlob(blob, &h, k); err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(req)
		if err := wire.MakeReply(b, blob); err != nil {
			t.Fatal(err)
		}
		return b
	}
	reach := bytes.Clone(req)
	if err := wire.MakeReachReply(reach); err != nil {
		t.Fatal(err)
	}
	otherCookie := wire.AppendRequest(nil, wire.Request{Flags: wire.FlagHealth, Room: wire.BlobSize, Cookie: ck + 1, TxTime: txw})
	hbm2 := wire.AppendHBM2(nil, wire.HBM2{Timestamp: 1, CPUPercent: 1})
	noKey := &replyPolicy{}
	withKey := &replyPolicy{key: key}
	lenient := &replyPolicy{key: key, acceptClear: true}
	for _, tc := range []struct {
		name    string
		payload []byte
		legacy  bool
		pol     *replyPolicy
		want    verdict
	}{
		{"kernel echo of our request", req, false, withKey, vFresh},
		{"kernel echo, another cookie", otherCookie, false, noKey, vBadCookie},
		{"empty payload", nil, false, noKey, vNoCookie},
		{"empty payload, legacy target", nil, true, noKey, vNoCookie},
		{"foreign payload", []byte("abcdefghijklmnopqrstuvwxyz0123456789abcdefgh"), false, noKey, vNoCookie},
		{"HBQ1 magic, cut before the cookie", req[:20], false, noKey, vNoCookie},
		{"HBM v2, not legacy", hbm2, false, noKey, vHBM2Refused},
		{"HBM v2, legacy=hbm2", hbm2, true, noKey, vFresh},
		{"HBM v2, legacy=hbm2, with a key", hbm2, true, withKey, vFresh},
		{"clear blob, no key", reply(nil), false, noKey, vFresh},
		{"clear blob, key", reply(nil), false, withKey, vDowngrade},
		{"clear blob, key, accept_clear", reply(nil), false, lenient, vFresh},
		{"sealed blob, key", reply(key), false, withKey, vFresh},
		{"reachability reply (no health), key", reach, false, withKey, vFresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := new(inflight)
			seq, _ := f.alloc()
			f.slots[seq] = slot{addr: a.As16(), cookie: ck, txUser: txw, deadline: 1 << 40, state: slotPending, legacy: tc.legacy}
			s, v := f.matchReply(seq, a, tc.payload, tc.pol)
			if v != tc.want {
				t.Fatalf("verdict %d, want %d", v, tc.want)
			}
			if v == vFresh {
				if s.state != slotAnswered {
					t.Fatal("fresh reply did not answer the slot")
				}
				return
			}
			if s.state != slotPending {
				t.Fatalf("refused reply changed the slot to %d", s.state)
			}
			// The genuine reply still answers.
			if _, v := f.matchReply(seq, a, req, tc.pol); v != vFresh {
				t.Fatalf("genuine reply after a refused one: verdict %d", v)
			}
		})
	}
	// From another address or for a free slot, HBM v2 stays what it was.
	f := new(inflight)
	seq, _ := f.alloc()
	f.slots[seq] = slot{addr: a.As16(), cookie: ck, txUser: txw, deadline: 1 << 40, state: slotPending, legacy: true}
	if _, v := f.matchReply(seq, netip.MustParseAddr("198.18.0.9"), hbm2, noKey); v != vWrongSrc {
		t.Errorf("HBM v2 from another address: verdict %d", v)
	}
	if _, v := f.matchReply(seq+1, a, hbm2, noKey); v != vUnknown {
		t.Errorf("HBM v2 for a free slot: verdict %d", v)
	}
}

// TestInflightLazy: a table that never sent holds no slots (an IPv4-only
// fleet's IPv6 socket costs nothing) and takes any reply as unknown
// without allocating them; the first alloc makes them.
func TestInflightLazy(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1")
	f := new(inflight)
	if _, v := f.match(7, a, 1, 2, true); v != vUnknown {
		t.Errorf("reply before any probe: verdict %d, want unknown", v)
	}
	if _, v := f.matchReply(7, a, nil, &replyPolicy{}); v != vNoCookie {
		t.Errorf("empty reply before any probe: verdict %d, want no cookie", v)
	}
	if f.pending() || f.key(5) != 0 || f.at(3).state != slotFree {
		t.Error("a table that never sent reports a probe")
	}
	f.sweep(1<<62, func(uint16, *slot) { t.Error("sweep expired a probe that was never sent") })
	if f.slots != nil || f.tskey != nil {
		t.Fatal("slots allocated before the first alloc")
	}
	seq, ok := f.alloc()
	if !ok || f.slots == nil || f.tskey == nil {
		t.Fatalf("alloc = %d %v with slots %v: want the table allocated", seq, ok, f.slots != nil)
	}
	*f.at(seq) = slot{addr: a.As16(), cookie: 1, txUser: 2 << 16, deadline: 1 << 40, state: slotPending}
	if _, v := f.match(seq, a, 1, wireTime(2<<16, seq), true); v != vFresh {
		t.Errorf("reply to the first probe: verdict %d, want fresh", v)
	}
}
