// SPDX-License-Identifier: MIT

package prober

import (
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
type Wheel struct {
	origin   time.Time
	tick     int64 // ns per slot
	interval int64 // ns
	jitter   int64 // ns
	limit    int32 // fires per target; 0 = unlimited

	// head and ent are outside the Go heap (offheap: 2.4 MB at 100k
	// targets that the collector neither scans nor doubles); Free gives
	// them back.
	head []int32    // per slot: first target, -1 when empty
	ent  []wheelEnt // per target
	free func()
	cur  int64 // the next tick to process
	left int   // targets still scheduled
	rng  *rand.Rand
}

// wheelEnt is one target's schedule.
type wheelEnt struct {
	due   int64 // due time, ns since origin
	phase int64 // nominal offset in the interval
	next  int32 // the next target in its slot
	round int32 // how many times it has fired
}

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
		rng:      rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
	}
	var freeHead, freeEnt func()
	w.head, freeHead = offheap.Make[int32](nslots)
	w.ent, freeEnt = offheap.Make[wheelEnt](c.Targets)
	w.free = func() { freeHead(); freeEnt() }
	for i := range w.head {
		w.head[i] = -1
	}
	for i := range c.Targets {
		if c.Spread {
			w.ent[i].phase = int64(i) * w.interval / int64(c.Targets)
		}
		w.schedule(int32(i), w.ent[i].phase+w.jit())
	}
	w.left = c.Targets
	return w
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
	e := &w.ent[i]
	e.due = due
	s := (due / w.tick) % int64(len(w.head))
	e.next = w.head[s]
	w.head[s] = i
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
		var keep int32 = -1
		i := w.head[s]
		w.head[s] = -1
		for i >= 0 {
			e := &w.ent[i]
			nx := e.next
			if e.due <= t {
				dst = append(dst, int(i))
				e.round++
				if w.limit == 0 || e.round < w.limit {
					due := e.phase + int64(e.round)*w.interval + w.jit()
					w.pending(i, max(due, t+1))
				} else {
					w.left--
				}
			} else {
				e.next = keep
				keep = i
			}
			i = nx
		}
		for keep >= 0 { // put back the ones not due yet
			e := &w.ent[keep]
			nx := e.next
			e.next = w.head[s]
			w.head[s] = keep
			keep = nx
		}
	}
	// The current tick may still hold targets due later within it.
	w.cur = last
	return dst
}

// pending links a rescheduled target; its slot is never one being walked
// behind the cursor because due > now.
func (w *Wheel) pending(i int32, due int64) {
	e := &w.ent[i]
	e.due = due
	s := (due / w.tick) % int64(len(w.head))
	e.next = w.head[s]
	w.head[s] = i
}

// Next returns when the earliest scheduled target is due, and false when
// none is left.
func (w *Wheel) Next() (time.Time, bool) {
	if w.left == 0 {
		return time.Time{}, false
	}
	best := int64(-1)
	n := int64(len(w.head))
	for k := int64(0); k < n; k++ {
		for i := w.head[(w.cur+k)%n]; i >= 0; i = w.ent[i].next {
			if best < 0 || w.ent[i].due < best {
				best = w.ent[i].due
			}
		}
		if best >= 0 && best < (w.cur+k+1)*w.tick {
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
		w.free, w.head, w.ent, w.left = nil, nil, nil, 0
	}
}
