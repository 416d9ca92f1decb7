// SPDX-License-Identifier: MIT

package state

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// A record is a check's Snapshot without its pointers (Health, HBM2 and
// Problem live in the Check), as words: what the table stores per check.
// Records sit in one slab per View, off the Go heap where the platform
// allows (slab_mmap.go): they hold no pointers, so the GC neither scans
// them nor counts them in its heap goal, and an observation rewrites its
// check's record in place instead of allocating a new snapshot.
//
// Sequence lock: word 0 is the record's sequence, even while the record is
// stable. The one writer makes it odd, stores the words that change (and
// the Check's pointers), then makes it even again; a reader loads the
// sequence, the words and the pointers, and the sequence again, and keeps
// the copy only if the sequence was even and unchanged, else retries. The
// writer never waits for a reader. Every shared word is read and written
// with sync/atomic, so the scheme is data-race free by the Go memory
// model and clean under the race detector (whose builds keep the slab on
// the Go heap, where it can see it: slab_heap.go).
type record [recWords]uint64

// The record's words. recWords is 40: 320 bytes, five cache lines, so a
// slab's records stay line-aligned.
const (
	wSeq         = iota
	wHdr         // State | head<<8 | n<<16 | unit<<24 | consecFail<<32 | consecOK<<48
	wSince       // Since
	wProbes      // Probes
	wFailures    // Failures
	wLastOK      // LastOKAt
	wEWMA        // EWMA
	wProblemAt   // ProblemAt
	wHealthAt    // HealthAt
	wHBM2At      // HBM2At
	wTransitions // Transitions (low 32 bits)
	wBase        // base
	wSlots       // slots[0..Window)
	wMeta        = wSlots + Window
	recWords     = wMeta + metaBytes/8

	recordBytes = recWords * 8
)

// The header word's parts (wHdr).
func hdrState(h uint64) State { return State(h) }

// encode writes s's pointer-free fields into w[1:] (not the sequence).
func (s *Snapshot) encode(w *record) {
	w[wHdr] = uint64(s.State) | uint64(s.head)<<8 | uint64(s.n)<<16 | uint64(s.unit)<<24 |
		uint64(s.consecFail)<<32 | uint64(s.consecOK)<<48
	w[wSince] = uint64(s.Since)
	w[wProbes] = s.Probes
	w[wFailures] = s.Failures
	w[wLastOK] = uint64(s.LastOKAt)
	w[wEWMA] = uint64(s.EWMA)
	w[wProblemAt] = uint64(s.ProblemAt)
	w[wHealthAt] = uint64(s.HealthAt)
	w[wHBM2At] = uint64(s.HBM2At)
	w[wTransitions] = uint64(s.Transitions)
	w[wBase] = uint64(s.base)
	copy(w[wSlots:wMeta], s.slots[:])
	for i := range metaBytes / 8 {
		w[wMeta+i] = binary.LittleEndian.Uint64(s.meta[8*i:])
	}
}

// decode sets s's pointer-free fields from w.
func (s *Snapshot) decode(w *record) {
	h := w[wHdr]
	s.State, s.head, s.n, s.unit = State(h), uint8(h>>8), uint8(h>>16), uint8(h>>24)
	s.consecFail, s.consecOK = uint16(h>>32), uint16(h>>48)
	s.Since = UnixNano(w[wSince])
	s.Probes = w[wProbes]
	s.Failures = w[wFailures]
	s.LastOKAt = UnixNano(w[wLastOK])
	s.EWMA = time.Duration(w[wEWMA])
	s.ProblemAt = UnixNano(w[wProblemAt])
	s.HealthAt = UnixNano(w[wHealthAt])
	s.HBM2At = UnixNano(w[wHBM2At])
	s.Transitions = uint32(w[wTransitions])
	s.base = UnixNano(w[wBase])
	copy(s.slots[:], w[wSlots:wMeta])
	for i := range metaBytes / 8 {
		binary.LittleEndian.PutUint64(s.meta[8*i:], w[wMeta+i])
	}
}

// load copies c's current snapshot into dst: the sequence lock's reader.
// Any goroutine; never blocks the writer (a reader that keeps meeting a
// write in progress yields between tries).
func (c *Check) load(dst *Snapshot) {
	r := c.rec
	var w record
	for try := 0; ; try++ {
		seq := atomic.LoadUint64(&r[wSeq])
		if seq&1 == 0 {
			for i := 1; i < recWords; i++ {
				w[i] = atomic.LoadUint64(&r[i])
			}
			h, m, p := c.health.Load(), c.hbm2.Load(), c.problem.Load()
			if atomic.LoadUint64(&r[wSeq]) == seq {
				dst.decode(&w)
				dst.Health, dst.HBM2, dst.Problem = h, m, ""
				if p != nil {
					dst.Problem = *p
				}
				break
			}
		}
		if try >= 8 {
			runtime.Gosched()
		}
	}
	runtime.KeepAlive(c) // c keeps the slab mapped (slab_mmap.go)
}

// loadWord is one word of c's record: a single atomic load, consistent by
// itself (the header word holds the state).
func (c *Check) loadWord(i int) uint64 {
	v := atomic.LoadUint64(&c.rec[i])
	runtime.KeepAlive(c)
	return v
}

// own copies c's current snapshot into dst without the sequence lock:
// only the writer, which no one else races with, may.
func (c *Check) own(dst *Snapshot) {
	dst.decode(c.rec)
	dst.Health, dst.HBM2, dst.Problem = c.health.Load(), c.hbm2.Load(), ""
	if p := c.problem.Load(); p != nil {
		dst.Problem = *p
	}
	runtime.KeepAlive(c)
}

// ownHead is own without the ring's slots (left zero): all that step
// reads when the result's push takes the in-place path (inPlace). The
// meta words are decoded (one cache line), the slots' four lines not.
func (c *Check) ownHead(dst *Snapshot) {
	r := c.rec
	var w record
	copy(w[wHdr:wSlots], r[wHdr:wSlots])
	copy(w[wMeta:], r[wMeta:])
	// The slot the push overwrites, at the head the Check keeps: loaded
	// now, with the other lines, not after the header (or by
	// publishHead's locked store to it, which would wait for memory).
	head := int(c.head) % Window
	w[wSlots+head] = r[wSlots+head]
	dst.decode(&w)
	dst.Health, dst.HBM2, dst.Problem = c.health.Load(), c.hbm2.Load(), ""
	if p := c.problem.Load(); p != nil {
		dst.Problem = *p
	}
	runtime.KeepAlive(c)
}

// publishHead is publish for a snapshot from ownHead whose step changed
// only the ring's slot: it stores the header words, that slot and the
// meta words that changed. Writer only.
func (c *Check) publishHead(s *Snapshot, slot int) { c.write(s, slot) }

// publish makes s c's current snapshot, in place: the sequence lock's
// writer. It stores only the words that differ (an observation changes
// about six of the forty) and replaces a pointer only when it changed, so
// it allocates nothing unless the problem text is new. Writer only.
func (c *Check) publish(s *Snapshot) { c.write(s, -1) }

// write is publish (slot < 0: any word may have changed) and publishHead
// (only the header words, ring slot slot and its meta words may have).
// Writer only.
func (c *Check) write(s *Snapshot, slot int) {
	r := c.rec
	var w record
	s.encode(&w)
	seq := r[wSeq] // plain reads: only this goroutine writes r
	atomic.StoreUint64(&r[wSeq], seq+1)
	if slot < 0 {
		storeChanged(r, &w, wHdr, recWords)
	} else {
		storeChanged(r, &w, wHdr, wSlots)
		atomic.StoreUint64(&r[wSlots+slot], w[wSlots+slot])
		storeChanged(r, &w, wMeta+3*slot/8, wMeta+(3*slot+2)/8+1)
	}
	c.storePointers(s)
	atomic.StoreUint64(&r[wSeq], seq+2)
	c.head = s.head
	runtime.KeepAlive(c)
}

// storeChanged stores the words [lo, hi) of w that differ from r's, inside
// a write (odd sequence). Writer only.
func storeChanged(r, w *record, lo, hi int) {
	for i := lo; i < hi; i++ {
		if w[i] != r[i] {
			atomic.StoreUint64(&r[i], w[i])
		}
	}
}

// storePointers replaces those of c's pointers that differ from s's:
// inside a write (odd sequence). Writer only.
func (c *Check) storePointers(s *Snapshot) {
	if s.Health != c.health.Load() {
		c.health.Store(s.Health)
	}
	if s.HBM2 != c.hbm2.Load() {
		c.hbm2.Store(s.HBM2)
	}
	if p := c.problem.Load(); (p == nil && s.Problem != "") || (p != nil && *p != s.Problem) {
		if s.Problem == "" {
			c.problem.Store(nil)
		} else {
			t := s.Problem
			c.problem.Store(&t)
		}
	}
}

// inPlace reports whether a result at at takes the in-place push (see
// Snapshot.inPlace), from the record's header and base. Writer only.
func (c *Check) inPlace(at UnixNano) bool {
	h := c.rec[wHdr]
	s := Snapshot{n: uint8(h >> 16), unit: uint8(h >> 24), base: UnixNano(c.rec[wBase])}
	return s.inPlace(at)
}

// copyFrom gives c (not yet published: build) o's record and pointers.
// Writer only.
func (c *Check) copyFrom(o *Check) {
	seq := c.rec[wSeq]
	*c.rec = *o.rec
	c.rec[wSeq] = seq
	c.health.Store(o.health.Load())
	c.hbm2.Store(o.hbm2.Load())
	c.problem.Store(o.problem.Load())
	c.head = o.head
	runtime.KeepAlive(o)
	runtime.KeepAlive(c)
}

// mappedBytes is the size of every slab mapped outside the Go heap and
// not yet unmapped: the current views' and those of old views that are
// still referenced.
var mappedBytes atomic.Int64

// MappedBytes is how many bytes of records the process holds outside the
// Go heap, over every table and every View still referenced (a View's
// slab is unmapped once nothing references it or its checks).
func MappedBytes() int64 { return mappedBytes.Load() }

// records returns n records carved from one slab, and the slab's size in
// bytes (what it holds outside the Go heap: 0 under the race detector).
func records(n int, owner *Check) ([]record, int) {
	if n == 0 {
		return nil, 0
	}
	words, off := newSlab(n*recWords, owner)
	return unsafe.Slice((*record)(unsafe.Pointer(&words[0])), n), off
}

// status is c's state, since and transitions, read consistently.
func (c *Check) status() HostStatus {
	r := c.rec
	for try := 0; ; try++ {
		seq := atomic.LoadUint64(&r[wSeq])
		if seq&1 == 0 {
			h, since, tr := atomic.LoadUint64(&r[wHdr]), atomic.LoadUint64(&r[wSince]), atomic.LoadUint64(&r[wTransitions])
			if atomic.LoadUint64(&r[wSeq]) == seq {
				runtime.KeepAlive(c)
				return HostStatus{State: hdrState(h), Since: UnixNano(since), Transitions: uint32(tr)}
			}
		}
		if try >= 8 {
			runtime.Gosched()
		}
	}
}
