// SPDX-License-Identifier: MIT

package state

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/wire"
)

// A record is a check's Snapshot without its pointers (HBM2 and Problem
// live in the Check) and without its health blob (in the check's hslot),
// as words: what the table stores per check.
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

// An hslot is a check's health blob (Snapshot.Health, a wire.Health) as
// words, in a second slab off the heap beside the records: one per check,
// so a result with a blob (every reply from an hb responder) is copied in
// place instead of onto the heap, and the table holds no pointer per
// check for it. It is written and read under its record's sequence lock,
// a word at a time with sync/atomic; HealthAt (in the record) says
// whether it holds one. Only checks that ever got a blob touch theirs.
type hslot [hWords]uint64

// hWords is the words of a wire.Health (whose size is a multiple of 8:
// checked below, as is that it holds no pointers).
const hWords = int(unsafe.Sizeof(wire.Health{}) / 8)

var _ = [1]struct{}{}[unsafe.Sizeof(wire.Health{})%8] // a whole number of words

// healthWords is h's words.
func healthWords(h *wire.Health) *hslot { return (*hslot)(unsafe.Pointer(h)) }

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

// The record's link: the high 32 bits of its wTransitions word (whose
// low 32 are the snapshot's Transitions) hold the writer's own data,
// which Apply reads with the record instead of loading the Check: the
// check's host id (in its view) and whether it is the host's only check.
// Set when the view is built; write keeps it; decode ignores it.
const (
	linkHost = 1<<31 - 1
	linkSolo = 1 << 31
)

// pointers returns c's snapshot pointers (inside a read or by the writer).
func (c *Check) pointers() (*wire.HBM2, *string) {
	x := c.x.Load()
	if x == nil {
		return nil, nil
	}
	return x.hbm2.Load(), x.problem.Load()
}

// load copies c's current snapshot into dst: the sequence lock's reader.
// Any goroutine; never blocks the writer (a reader that keeps meeting a
// write in progress yields between tries).
func (c *Check) load(dst *Snapshot) {
	r, hs := c.rec(), c.hs()
	var w record
	for try := 0; ; try++ {
		seq := atomic.LoadUint64(&r[wSeq])
		if seq&1 == 0 {
			for i := 1; i < recWords; i++ {
				w[i] = atomic.LoadUint64(&r[i])
			}
			dh := healthWords(&dst.Health)
			if w[wHealthAt] != 0 {
				for i := range hWords {
					dh[i] = atomic.LoadUint64(&hs[i])
				}
			}
			m, p := c.pointers()
			if atomic.LoadUint64(&r[wSeq]) == seq {
				dst.decode(&w)
				if w[wHealthAt] == 0 {
					*dh = hslot{}
				}
				dst.HBM2, dst.Problem = m, ""
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
	runtime.KeepAlive(c) // c keeps the slab mapped (records)
}

// loadWord is one word of c's record: a single atomic load, consistent by
// itself (the header word holds the state).
func (c *Check) loadWord(i int) uint64 {
	v := atomic.LoadUint64(&c.rec()[i])
	runtime.KeepAlive(c)
	return v
}

// own copies c's current snapshot into dst without the sequence lock:
// only the writer, which no one else races with, may.
func (c *Check) own(dst *Snapshot) {
	dst.decode(c.rec())
	*healthWords(&dst.Health) = *c.hs()
	var p *string
	dst.HBM2, p = c.pointers()
	dst.Problem = ""
	if p != nil {
		dst.Problem = *p
	}
	runtime.KeepAlive(c)
}

// readHead decodes r into dst without the ring's slots (left zero) and
// without the pointers: all that step reads when the result's push takes
// the in-place path (recInPlace). The meta words are decoded (one cache
// line), the slots' four lines not, but for the one the push overwrites,
// which is loaded now, with the other lines, not by write's locked store
// to it (which would wait for memory). Writer only.
func readHead(r *record, dst *Snapshot) {
	var w record
	copy(w[wHdr:wSlots], r[wHdr:wSlots])
	copy(w[wMeta:], r[wMeta:])
	head := int(uint8(w[wHdr]>>8)) % Window
	w[wSlots+head] = r[wSlots+head]
	dst.decode(&w)
}

// The pointers a write stores (write's ptrs).
const (
	setHealth = 1 << iota
	setHBM2
	setProblem
	setAll = setHealth | setHBM2 | setProblem
)

// publish makes s c's current snapshot, in place: the sequence lock's
// writer. Writer only.
func (c *Check) publish(s *Snapshot) { write(c, c.rec(), s, -1, setAll) }

// write makes s the current snapshot of c, whose record is r, in place:
// the sequence lock's writer. slot < 0: any word may have changed; else
// only the header words, ring slot slot and its meta words may have. It
// stores only the words that differ (an observation changes about six of
// the forty) and, of the pointers ptrs names, those that changed, so it
// allocates nothing unless the problem text is new (or c's first pointer
// is set). Writer only.
func write(c *Check, r *record, s *Snapshot, slot int, ptrs uint8) {
	var w record
	s.encode(&w)
	w[wTransitions] |= r[wTransitions] &^ math.MaxUint32 // the link (plain reads: only this goroutine writes r)
	seq := r[wSeq]
	atomic.StoreUint64(&r[wSeq], seq+1)
	if slot < 0 {
		storeChanged(r, &w, wHdr, recWords)
	} else {
		storeChanged(r, &w, wHdr, wSlots)
		atomic.StoreUint64(&r[wSlots+slot], w[wSlots+slot])
		storeChanged(r, &w, wMeta+3*slot/8, wMeta+(3*slot+2)/8+1)
	}
	if ptrs&setHealth != 0 {
		hs, h := c.hs(), healthWords(&s.Health)
		for i := range hWords {
			if h[i] != hs[i] {
				atomic.StoreUint64(&hs[i], h[i])
			}
		}
	}
	if ptrs&^setHealth != 0 {
		c.storePointers(s, ptrs)
	}
	atomic.StoreUint64(&r[wSeq], seq+2)
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

// storePointers replaces those of c's pointers named by ptrs that differ
// from s's: inside a write (odd sequence). Writer only.
func (c *Check) storePointers(s *Snapshot, ptrs uint8) {
	x := c.x.Load()
	if x == nil {
		if s.HBM2 == nil && s.Problem == "" {
			return
		}
		x = new(extra)
		c.x.Store(x)
	}
	if ptrs&setHBM2 != 0 && s.HBM2 != x.hbm2.Load() {
		x.hbm2.Store(s.HBM2)
	}
	if p := x.problem.Load(); ptrs&setProblem != 0 && ((p == nil && s.Problem != "") || (p != nil && *p != s.Problem)) {
		if s.Problem == "" {
			x.problem.Store(nil)
		} else {
			t := s.Problem
			x.problem.Store(&t)
		}
	}
}

// recInPlace reports whether a result at at takes the in-place push (see
// Snapshot.inPlace), from the record's header and base. Writer only.
func recInPlace(r *record, at UnixNano) bool {
	h := r[wHdr]
	s := Snapshot{n: uint8(h >> 16), unit: uint8(h >> 24), base: UnixNano(r[wBase])}
	return s.inPlace(at)
}

// copyFrom gives c (not yet published: build) o's record and pointers.
// Writer only.
func (c *Check) copyFrom(o *Check) {
	r := c.rec()
	seq, link := r[wSeq], r[wTransitions]&^math.MaxUint32
	*r = *o.rec()
	r[wSeq] = seq
	r[wTransitions] = r[wTransitions]&math.MaxUint32 | link
	*c.hs() = *o.hs()
	if m, p := o.pointers(); m != nil || p != nil {
		x := new(extra)
		x.hbm2.Store(m)
		x.problem.Store(p)
		c.x.Store(x)
	}
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

// records returns n zeroed records, outside the Go heap where the
// platform allows (internal/offheap: as huge pages when large, so random
// access over them costs a cache miss, not a cache miss and a page walk),
// and their size in bytes outside the heap (0 under the race detector).
// They are freed once owner, the first of the checks whose records they
// are, is unreachable: every path to a record goes through its Check or
// its View, which holds the checks, and the checks of a view are one
// allocation.
func records(n int, owner *Check) ([]record, int) { return slab[record](n, owner) }

// slab is records for any pointer-free T (the health slots too).
func slab[T any](n int, owner *Check) ([]T, int) {
	if n == 0 {
		return nil, 0
	}
	recs, free := offheap.Make[T](n)
	if !slabMapped {
		return recs, 0
	}
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	mappedBytes.Add(int64(size))
	runtime.AddCleanup(owner, func(size int) {
		free()
		mappedBytes.Add(-int64(size))
	}, size)
	return recs, size
}

// status is c's state, since and transitions, read consistently.
func (c *Check) status() HostStatus {
	r := c.rec()
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
