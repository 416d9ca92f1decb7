// SPDX-License-Identifier: MIT

package prober

import (
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/hbmon/hb/internal/offheap"
)

// Wheel is a hashed timer wheel that says which targets are due. Every
// target is due once per interval, at its own phase: targets are spread
// evenly over the interval (target i at i·interval/n), each firing moved by
// a uniform jitter in [-jitter, +jitter] that does not accumulate. It is
// pure: time is passed in; it allocates only in NewWheel (Free gives that
// back).
//
// A slot holds its targets' schedules (wheelItem) in chunks of
// wheelChunk, read in order: a slot's ten-odd targets at the daemon's
// cadence are two or three cache lines, where a list linked through a
// per-target array (as it was) cost a dependent cache miss a target
// (~270 ns a due target with the caches cold, BenchmarkWheelDaemon).
type Wheel struct {
	origin   time.Time
	tick     int64 // ns per slot
	interval int64 // ns
	jitter   int64 // ns
	limit    int32 // fires per target; 0 = unlimited
	targets  uint64
	spread   bool

	// items, next, head and fill are outside the Go heap (offheap: the
	// collector neither scans them nor doubles them); Free gives them
	// back.
	items []wheelItem // chunk k is items[k*wheelChunk:][:wheelChunk]
	next  []int32     // per chunk: the slot's next (full) chunk, or the next free one; -1 none
	head  []int32     // per slot: the chunk being filled, -1 when empty
	fill  []uint8     // per slot: items in its head chunk
	freeC int32       // first free chunk, -1 none
	free  func()
	cur   int64 // the next tick to process
	left  int   // targets still scheduled
	rng   *rand.Rand
}

// wheelItem is one target's schedule: 16 bytes.
type wheelItem struct {
	due   int64 // due time, ns since origin
	i     int32 // the target
	round int32 // how many times it has fired
}

// wheelChunk is a chunk's items: 128 bytes, two cache lines.
const wheelChunk = 8

// WheelConfig configures a Wheel.
type WheelConfig struct {
	Targets  int
	Interval time.Duration // period between two probes of one target (> 0)
	Tick     time.Duration // wheel resolution; 0: 1ms
	Jitter   time.Duration // max shift of a firing, clamped to Interval/4
	Spread   bool          // spread first firings over the interval; false: all due at start
	Limit    int           // fires per target, then it drops out; 0 = forever
	Seed     uint64
}

// NewWheel schedules every target from start.
func NewWheel(c WheelConfig, start time.Time) *Wheel {
	if c.Tick <= 0 {
		c.Tick = time.Millisecond
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	c.Jitter = min(max(c.Jitter, 0), c.Interval/4)
	nslots := int(c.Interval/c.Tick) + 1
	nslots = min(max(nslots, 16), 1<<16)
	w := &Wheel{
		origin:   start,
		tick:     int64(c.Tick),
		interval: int64(c.Interval),
		jitter:   int64(c.Jitter),
		limit:    int32(c.Limit),
		targets:  uint64(c.Targets),
		spread:   c.Spread,
		rng:      rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
	}
	// Every slot's chain is its items' count in chunks, rounded up; while
	// Due walks a chunk, its (at most wheelChunk) items may be scheduled
	// again before it is freed, and the chain being walked is one more.
	nchunks := nslots + (c.Targets+wheelChunk)/wheelChunk + 2
	var freeItems, freeNext, freeHead, freeFill func()
	w.items, freeItems = offheap.Make[wheelItem](nchunks * wheelChunk)
	w.next, freeNext = offheap.Make[int32](nchunks)
	w.head, freeHead = offheap.Make[int32](nslots)
	w.fill, freeFill = offheap.Make[uint8](nslots)
	w.free = func() { freeItems(); freeNext(); freeHead(); freeFill() }
	for i := range w.head {
		w.head[i] = -1
	}
	for k := range w.next {
		w.next[k] = int32(k + 1)
	}
	w.next[nchunks-1] = -1
	for i := range c.Targets {
		w.schedule(int32(i), w.phase(int32(i))+w.jit())
	}
	w.left = c.Targets
	return w
}

// phase is target i's nominal offset in the interval.
func (w *Wheel) phase(i int32) int64 {
	if !w.spread {
		return 0
	}
	// i·interval/targets < interval: the quotient fits.
	hi, lo := bits.Mul64(uint64(i), uint64(w.interval))
	q, _ := bits.Div64(hi, lo, w.targets)
	return int64(q)
}

func (w *Wheel) jit() int64 {
	if w.jitter == 0 {
		return 0
	}
	return w.rng.Int64N(2*w.jitter+1) - w.jitter
}

func (w *Wheel) schedule(i int32, due int64) {
	if t := w.cur * w.tick; due < t {
		due = t // never schedule into a slot already processed
	}
	w.push(wheelItem{due: due, i: i})
}

// push adds it to the slot of its due time.
func (w *Wheel) push(it wheelItem) {
	s := (it.due / w.tick) % int64(len(w.head))
	h := w.head[s]
	if h < 0 || w.fill[s] == wheelChunk {
		k := w.freeC
		w.freeC = w.next[k]
		w.next[k] = h
		w.head[s], w.fill[s] = k, 0
		h = k
	}
	w.items[int(h)*wheelChunk+int(w.fill[s])] = it
	w.fill[s]++
}

// Due appends to dst the targets due at or before now, reschedules each
// for its next firing, and returns dst.
func (w *Wheel) Due(now time.Time, dst []int) []int {
	t := int64(now.Sub(w.origin))
	if t < 0 {
		return dst
	}
	last := t / w.tick
	n := int64(len(w.head))
	first := max(w.cur, last-n+1) // a long pause visits every slot once
	for tk := first; tk <= last; tk++ {
		s := tk % n
		k, f := w.head[s], int(w.fill[s])
		w.head[s], w.fill[s] = -1, 0 // what is pushed from here on is a new chain
		for k >= 0 {
			for _, it := range w.items[int(k)*wheelChunk:][:f] {
				if it.due > t {
					w.push(it) // not due yet: back into its slot
					continue
				}
				dst = append(dst, int(it.i))
				it.round++
				if w.limit == 0 || it.round < w.limit {
					it.due = max(w.phase(it.i)+int64(it.round)*w.interval+w.jit(), t+1)
					w.push(it) // due > now: never a slot behind the cursor
				} else {
					w.left--
				}
			}
			nx := w.next[k]
			w.next[k], w.freeC = w.freeC, k
			k, f = nx, wheelChunk
		}
	}
	// The current tick may still hold targets due later within it.
	w.cur = last
	return dst
}

// Next returns when the earliest scheduled target is due, and false when
// none is left.
func (w *Wheel) Next() (time.Time, bool) {
	if w.left == 0 {
		return time.Time{}, false
	}
	best := int64(-1)
	n := int64(len(w.head))
	for d := int64(0); d < n; d++ {
		s := (w.cur + d) % n
		for k, f := w.head[s], int(w.fill[s]); k >= 0; k, f = w.next[k], wheelChunk {
			for _, it := range w.items[int(k)*wheelChunk:][:f] {
				if best < 0 || it.due < best {
					best = it.due
				}
			}
		}
		if best >= 0 && best < (w.cur+d+1)*w.tick {
			break
		}
	}
	if best < 0 {
		return time.Time{}, false
	}
	return w.origin.Add(time.Duration(best)), true
}

// Remaining is how many targets are still scheduled (Limit not reached).
func (w *Wheel) Remaining() int { return w.left }

// Free gives back the wheel's tables; the wheel must not be used after.
// It may be called more than once.
func (w *Wheel) Free() {
	if w.free != nil {
		w.free()
		w.free, w.items, w.next, w.head, w.fill, w.left = nil, nil, nil, nil, nil, 0
	}
}
