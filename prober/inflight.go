// SPDX-License-Identifier: MIT

package prober

import (
	"net/netip"

	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/wire"
)

// slotState is the life of one in-flight slot.
type slotState uint8

const (
	slotFree     slotState = iota // never used
	slotPending                   // sent, waiting
	slotAnswered                  // a reply or an ICMP error resolved it
	slotExpired                   // timed out; kept to recognise late replies
	slotDropped                   // its target went away in a reload
)

// slot is one probe in flight; its index is the probe's sequence number.
// It holds no pointer (the address is its 16-byte form), so the 65,536
// slots of a table are never scanned by the collector; 64 bytes (a
// cache line).
type slot struct {
	addr     [16]byte // the target's address, As16 (slotAddr gives it back)
	cookie   uint64
	txUser   int64 // process clock just before the batch's sendmmsg (unix ns); the probe's tx time is wireTime(txUser, seq)
	txKern   int64 // kernel TX timestamp (unix ns); 0 until the error queue gives it
	deadline int64 // monotonic ns (engine clock) after which it times out
	target   int32
	id       int32 // the target's ID (Target.ID), so a result needs no read of the target list (a cache miss a result)
	state    slotState
	legacy   bool // the target is legacy=hbm2: an HBM v2 reply (no cookie) may answer
}

// slotAddr is the address of s (targets are unmapped, so a mapped form
// is an IPv4 address).
func (s *slot) slotAddr() netip.Addr { return netip.AddrFrom16(s.addr).Unmap() }

// verdict is how a reply relates to the in-flight table.
type verdict uint8

const (
	vFresh     verdict = iota + 1 // answers a pending probe
	vDuplicate                    // the probe was already answered
	vLate                         // the probe already timed out
	vBadCookie                    // cookie or tx time does not match the slot
	vWrongSrc                     // came from another address than the probe's target
	vUnknown                      // no probe in that slot
	// Refusals (replyPolicy): the packet does not answer its probe, which
	// stays pending.
	vNoCookie    // an echo reply without our HBQ1/HBR1 cookie (empty, foreign, spoofed)
	vHBM2Refused // an HBM v2 reply for a target not configured legacy=hbm2
	vDowngrade   // a clear health blob while a key is configured (accept_clear off)
)

// inflight is the table of probes in flight for one socket: 65,536 slots
// indexed by sequence number, allocated in order. It is not safe for
// concurrent use; the engine's loop owns it.
//
// The slots (4.2 MB) and the key ring are allocated by the first alloc,
// outside the Go heap (offheap: the collector neither scans them nor
// doubles them in its heap goal); a socket that never sends (the IPv6 one
// of an IPv4-only fleet) costs nothing. Until then every slot reads as
// free (at, key). release gives them back.
type inflight struct {
	slots *[1 << 16]slot // nil until the first alloc
	free  func()
	next  uint16 // the next slot to allocate
	tail  uint16 // the oldest slot that may still be pending
	busy  int    // slots between tail and next (pending or not yet swept)
	// tskey maps the kernel's OPT_ID counter (low 16 bits) to the seq it
	// stamped; ids counts the packets this socket handed the kernel.
	tskey *[1 << 16]uint16 // nil until the first alloc
	ids   uint32
}

// at returns seq's slot; before the first alloc, a free slot of its own
// (writing to it changes nothing).
func (f *inflight) at(seq uint16) *slot {
	if f.slots == nil {
		return new(slot)
	}
	return &f.slots[seq]
}

// key returns the seq the kernel's OPT_ID counter id stamped (0 before the
// first alloc).
func (f *inflight) key(id uint32) uint16 {
	if f.tskey == nil {
		return 0
	}
	return f.tskey[uint16(id)]
}

// alloc returns the next free slot's seq, or false when every slot is
// still pending (the caller stalls until timeouts free some).
func (f *inflight) alloc() (uint16, bool) {
	if f.slots == nil {
		s, freeS := offheap.Make[slot](1 << 16)
		k, freeK := offheap.Make[uint16](1 << 16)
		f.slots, f.tskey = (*[1 << 16]slot)(s), (*[1 << 16]uint16)(k)
		f.free = func() { freeS(); freeK() }
	}
	if f.busy == len(f.slots) {
		return 0, false
	}
	seq := f.next
	f.next++
	f.busy++
	return seq, true
}

// release frees the tables; every slot then reads as free again, and
// the next alloc makes new ones.
func (f *inflight) release() {
	if f.free != nil {
		f.free()
		*f = inflight{}
	}
}

// unalloc gives back the most recently allocated slot (a probe that was
// never sent).
func (f *inflight) unalloc() {
	f.next--
	f.busy--
	f.slots[f.next].state = slotAnswered
}

// match classifies a reply for seq from src carrying cookie and txWire
// (hasCookie false: a quoted probe truncated before its cookie, in an ICMP
// error). A fresh match marks the slot answered. Echo replies go through
// matchReply, which never accepts one without a cookie.
func (f *inflight) match(seq uint16, src netip.Addr, cookie uint64, txWire int64, hasCookie bool) (*slot, verdict) {
	s, v := f.check(seq, src, cookie, txWire, hasCookie)
	if v == vFresh {
		s.state = slotAnswered
	}
	return s, v
}

// check is match without marking the slot.
func (f *inflight) check(seq uint16, src netip.Addr, cookie uint64, txWire int64, hasCookie bool) (*slot, verdict) {
	s := f.at(seq)
	if s.state == slotFree || s.state == slotDropped {
		return s, vUnknown
	}
	if src.As16() != s.addr {
		return s, vWrongSrc
	}
	if hasCookie && (cookie != s.cookie || txWire != wireTime(s.txUser, seq)) {
		return s, vBadCookie
	}
	switch s.state {
	case slotAnswered:
		return s, vDuplicate
	case slotExpired:
		return s, vLate
	}
	return s, vFresh
}

// replyPolicy is what an echo reply must carry to answer its probe.
type replyPolicy struct {
	key         *wire.Key // with a key, health blobs must be sealed…
	acceptClear bool      // …unless clear ones are accepted too (accept_clear)
}

// matchReply classifies the payload of an echo reply (or a UDP reply) for
// seq from src and marks the slot answered when it answers the probe:
//
//   - an HBQ1 payload (the kernel's echo of our request) or an HBR1 reply
//     must carry the probe's cookie and tx time;
//   - an HBM v2 payload, which has no cookie, answers only a probe to a
//     legacy=hbm2 target (matched by id, sequence and source alone);
//   - anything else (empty, foreign, spoofed) is refused: vNoCookie;
//   - with a key, an HBR1 reply carrying a clear HBH1 blob is refused as a
//     downgrade (vDowngrade) unless pol.acceptClear.
//
// A refused reply leaves the probe pending: the genuine reply may still
// come, else it times out.
func (f *inflight) matchReply(seq uint16, src netip.Addr, payload []byte, pol *replyPolicy) (*slot, verdict) {
	ck, w, has := probeCookie(payload)
	if !has && !wire.IsHBM2(payload) {
		return f.at(seq), vNoCookie
	}
	s, v := f.check(seq, src, ck, w, has)
	if v != vFresh {
		return s, v
	}
	switch {
	case !has && !s.legacy:
		return s, vHBM2Refused
	case has && pol.key != nil && !pol.acceptClear && clearBlob(payload):
		return s, vDowngrade
	}
	s.state = slotAnswered
	return s, vFresh
}

// clearBlob reports whether payload is an HBR1 reply carrying a clear
// (unsealed) HBH1 blob.
func clearBlob(payload []byte) bool {
	rep, err := wire.ParseReply(payload)
	if err != nil || rep.Flags&wire.FlagHealth == 0 {
		return false
	}
	return wire.IsClearBlob(rep.Blob)
}

// sweep expires pending slots whose deadline is at or before now, oldest
// first, calling expired for each; it stops at the first slot still
// waiting. Deadlines grow with allocation order, so this is exact.
func (f *inflight) sweep(now int64, expired func(seq uint16, s *slot)) {
	for f.busy > 0 {
		s := &f.slots[f.tail]
		if s.state == slotPending {
			if s.deadline > now {
				return
			}
			s.state = slotExpired
			expired(f.tail, s)
		}
		f.tail++
		f.busy--
	}
}

// pending reports whether any probe is still waiting.
func (f *inflight) pending() bool {
	for i, t := 0, f.tail; i < f.busy; i, t = i+1, t+1 {
		if f.slots[t].state == slotPending {
			return true
		}
	}
	return false
}
