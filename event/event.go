// SPDX-License-Identifier: MIT

// Package event is the stream from the state table to the sinks (store,
// alert engine, live dashboard, journal): typed events fanned out to
// subscribers through bounded queues. Publishing never blocks: a
// subscriber whose queue is full loses the event, and the loss is counted.
//
// The core (monitor/) is the only publisher; sinks import this package and
// state/, never monitor/.
package event

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Type says what an Event reports. The zero value is invalid.
type Type uint8

const (
	TypeInvalid Type = iota
	// Result: one observation was applied to a check (every probe result).
	// High volume: at 100k checks every 10 s, 10k events a second.
	Result
	// StateChange: a check's state changed (Old -> New); HostOld/HostNew
	// carry the host's derived state, equal when the host did not change.
	StateChange
	// Problem: a failed observation worth recording (timeout, ICMP error,
	// failed HTTP check, overdue heartbeat).
	Problem
	// Message: a line of text from a host, a service or hb itself (pulse
	// events, heartbeat messages, alert notifications, reloads).
	Message

	NumTypes = 5
)

var typeNames = [NumTypes]string{"invalid", "result", "state_change", "problem", "message"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// Level is a Message's severity (watchtower's and hbd's levels).
type Level uint8

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarning
	LevelError
	LevelCritical
)

var levelNames = [...]string{"debug", "info", "warning", "error", "critical"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "invalid"
}

// ParseLevel returns the level named s ("warn" is LevelWarning).
func ParseLevel(s string) (Level, bool) {
	if s == "warn" {
		return LevelWarning, true
	}
	for i, n := range levelNames {
		if n == s {
			return Level(i), true
		}
	}
	return 0, false
}

// Event is one item of the stream. It is passed by value; the pointers in
// it point at immutable data (snapshots, observations) and must not be
// modified by subscribers.
type Event struct {
	// The one-byte fields first, together (an event is 128 bytes, not
	// 144: the bus queues hold tens of thousands).
	Type Type
	Kind obs.Kind // the check's kind (KindInvalid for messages)
	// StateChange: the check's old and new state, and the host's derived
	// state before and after.
	Old, New         state.State
	HostOld, HostNew state.State
	Level            Level // Message: its level

	At time.Time // UTC

	Host  string // host name ("" for hb's own messages)
	Check string // check name within the host ("" for host-level messages)

	// Result, StateChange, Problem: the observation that caused the event
	// and the check's snapshot after it was applied. A Result whose
	// observation neither failed nor changed the check's state has Snap
	// only when the publisher was asked for it (monitor: when the alert
	// engine has rules); the store and the histograms read Obs alone.
	Obs  *obs.Observation
	Snap *state.Snapshot
	// Result, StateChange, Problem from the table's writer: the check's
	// table generation (state.View.Gen, from 1) and index in it, which
	// name the check within that generation (sinks index their per-check
	// data by it and re-index on a new generation). Gen 0: unset.
	Gen uint64
	ID  int

	// Message and Problem: the text; Message: who said it (a service, a
	// host, "hb").
	Text   string
	Source string
}

// Stats are a Bus's counters, totals since it was made.
type Stats struct {
	Published uint64
	// Per subscriber, by name.
	Subscribers []SubStats
}

// SubStats are one subscriber's counters.
type SubStats struct {
	Name      string
	Delivered uint64 // events queued for it
	Dropped   uint64 // events lost because its queue was full
	Queued    int    // events waiting now
	Capacity  int
}

// Bus fans events out to subscribers. Publish is called by one goroutine
// (the table's writer) or several; Subscribe may be called at any time.
type Bus struct {
	mu        sync.Mutex // guards subs (copy-on-write; Publish reads the atomic)
	subs      atomic.Pointer[[]*Sub]
	published atomic.Uint64
}

// Sub is one subscriber's queue. A Sub from Subscribe is a channel (C)
// holding up to its queue size; one from SubscribeBatch is a list that
// grows up to its queue size and is taken whole (Ready, Take), for the
// high-volume sinks: the table's writer publishes each batch of results
// at once (PublishBatch), and such a subscriber wakes once per batch
// instead of once per event, and holds memory for the events waiting
// rather than for its whole capacity.
type Sub struct {
	name    string
	types   [NumTypes]bool
	batched bool
	max     int          // queue size
	mu      sync.RWMutex // Publish sends under RLock, Close closes c under Lock; batched: guards q under Lock
	closed  bool         // guarded by mu
	c       chan Event   // Subscribe's queue
	// SubscribeBatch's queue and its doorbell: ready holds a token while
	// q is not empty (or the Sub is closed).
	q     []Event
	ready chan struct{}
	// The Holds of the events in q (held: one reference each, in order,
	// no two neighbours equal) and of those the last Take returned
	// (taken): released by the next Take, when the reader is done with
	// them.
	held, taken []*Hold
	roomy       int // Takes in a row that used little of the list (minKeep)
	delivered   atomic.Uint64
	dropped     atomic.Uint64
	bus         *Bus
}

// Subscribe returns a subscription named name (for metrics) with a queue
// of size queue, receiving the given types (all types if none are given).
// Read it with C.
func (b *Bus) Subscribe(name string, queue int, types ...Type) *Sub {
	return b.subscribe(name, queue, false, types)
}

// SubscribeBatch is Subscribe for a reader that takes what is queued at
// once (Ready, Take) rather than one event at a time from C (which is nil
// for it). Use it for the results: one wake-up per batch the table's
// writer publishes rather than one per probe result. Its queue takes
// memory only for the events waiting.
func (b *Bus) SubscribeBatch(name string, queue int, types ...Type) *Sub {
	return b.subscribe(name, queue, true, types)
}

func (b *Bus) subscribe(name string, queue int, batched bool, types []Type) *Sub {
	if queue < 1 {
		queue = 1
	}
	s := &Sub{name: name, max: queue, batched: batched, bus: b}
	if batched {
		s.ready = make(chan struct{}, 1)
	} else {
		s.c = make(chan Event, queue)
	}
	if len(types) == 0 {
		for i := range s.types {
			s.types[i] = true
		}
	}
	for _, t := range types {
		if int(t) < NumTypes {
			s.types[t] = true
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var next []*Sub
	if cur := b.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	b.subs.Store(&next)
	return s
}

// C is the subscriber's queue (nil for SubscribeBatch's). It is closed by
// Close.
func (s *Sub) C() <-chan Event { return s.c }

// Ready receives a value when events are waiting for Take, and always
// once the subscription is closed (SubscribeBatch's; nil for
// Subscribe's).
func (s *Sub) Ready() <-chan struct{} { return s.ready }

// maxKeep is the largest list (in events, 128 KiB) Take keeps for reuse
// as the queue: a burst's bigger one (100k checks coming up at start)
// goes back to the GC. The writer's batches are a few hundred events; a
// list that stays far bigger than the batches is let go too (minKeep).
// Not more: a subscriber that the startup's state changes filled and
// that sees none since (the hub, the event log) holds two such lists
// (its own and the reader's) for good.
const maxKeep = 1024

// A list of more than minKeep events is also let go after roomyTakes
// Takes in a row that returned at most a quarter of its room (about a
// second of the writer's batches): a burst's list (a few hundred state
// changes, a backlog) does not stay for good in each subscriber (two
// lists each) once the batches are small again.
const (
	minKeep    = 256
	roomyTakes = 100
)

// Take returns every event waiting (SubscribeBatch's), oldest first, and
// false once the subscription is closed and nothing waits. buf, the list
// the previous Take returned (or nil), is reused as the queue: the caller
// must be done with its events (Take clears them, so that they hold no
// observation or snapshot).
func (s *Sub) Take(buf []Event) ([]Event, bool) {
	clear(buf)
	if cap(buf) > maxKeep {
		buf = nil
	}
	s.mu.Lock()
	q := s.q
	if cap(buf) > minKeep {
		if len(q) > cap(buf)/4 {
			s.roomy = 0
		} else if s.roomy++; s.roomy >= roomyTakes {
			buf, s.roomy = nil, 0
		}
	}
	s.q = buf[:0]
	// The reader is done with the events of the last Take: release their
	// memory; those of q are its now.
	// (Released under the lock: done becomes the list add appends to.)
	done := s.taken
	for i, h := range done {
		h.Release()
		done[i] = nil
	}
	s.taken, s.held = s.held, done[:0]
	closed := s.closed
	if closed {
		s.ring() // closed: Ready stays ready, so the reader comes back for the false
	}
	s.mu.Unlock()
	return q, len(q) > 0 || !closed
}

// Len is the number of events waiting.
func (s *Sub) Len() int {
	if !s.batched {
		return len(s.c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// Dropped is how many events this subscriber lost to a full queue.
func (s *Sub) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes the queue (events still queued can be
// read). It is safe to call more than once and concurrently with Publish.
func (s *Sub) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.subs.Load()
	if cur == nil {
		return
	}
	next := make([]*Sub, 0, len(*cur))
	for _, x := range *cur {
		if x != s {
			next = append(next, x)
		}
	}
	b.subs.Store(&next)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		if s.batched {
			s.ring()
		} else {
			close(s.c)
		}
	}
}

// Publish offers e to every subscriber of its type without blocking. Any
// number of goroutines may publish, also while subscribers close.
func (b *Bus) Publish(e Event) {
	b.published.Add(1)
	subs := b.subs.Load()
	if subs == nil || int(e.Type) >= NumTypes {
		return
	}
	for _, s := range *subs {
		if !s.types[e.Type] {
			continue
		}
		if s.batched {
			s.add([]Event{e}, nil)
		} else {
			s.offer(e, nil)
		}
	}
}

// PublishBatch is Publish of every event of es, in order: each
// SubscribeBatch subscriber gets them in one step (one lock, at most one
// wake-up). es is not kept.
func (b *Bus) PublishBatch(es []Event) { b.PublishHeld(es, nil) }

// PublishHeld is PublishBatch of events whose pointers (Obs, Snap) point
// into memory h stands for: every SubscribeBatch subscriber that queues
// any of them holds a reference on h until its reader is done with them
// (its next Take), so the publisher learns (h's release function) when
// it may reuse that memory; one that gets only a few of them (it takes
// no Results) or that already holds maxHeld batches gets copies instead
// and holds nothing (Sub.detach). A Subscribe subscriber that takes one of them
// pins h: it is never released (the memory goes to the GC). h nil: as
// PublishBatch.
func (b *Bus) PublishHeld(es []Event, h *Hold) {
	if len(es) == 0 {
		return
	}
	b.published.Add(uint64(len(es)))
	subs := b.subs.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if s.batched {
			s.add(es, h)
			continue
		}
		for i := range es {
			if t := es[i].Type; int(t) < NumTypes && s.types[t] {
				s.offer(es[i], h)
			}
		}
	}
}

// add queues the events of es of s's types, up to s's size, and rings if
// the queue was empty; it takes a reference on h (if not nil) when it
// queued any. SubscribeBatch's.
func (s *Sub) add(es []Event, h *Hold) {
	var in, out uint64
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	was := len(s.q)
	for i := range es {
		if t := es[i].Type; int(t) >= NumTypes || !s.types[t] {
			continue
		}
		if len(s.q) >= s.max {
			out++
			continue
		}
		s.q = append(s.q, es[i])
		in++
	}
	if h != nil && in > 0 && (len(s.held) == 0 || s.held[len(s.held)-1] != h) {
		if s.detach(in) {
			detach(s.q[was:])
		} else {
			h.n.Add(1)
			s.held = append(s.held, h)
		}
	}
	if was == 0 && len(s.q) > 0 {
		s.ring()
	}
	s.mu.Unlock()
	if in > 0 {
		s.delivered.Add(in)
	}
	if out > 0 {
		s.dropped.Add(out)
	}
}

// A batch subscriber holds a PublishHeld batch's memory (all of a
// drain's copies, tens of KiB) only for a share of it worth that: one
// that does not take Results (state changes, problems, messages: a few
// events a batch, and a reader that may keep them queued for seconds,
// the event log writing them to disk) gets its events of a batch of at
// most rareMax copied out instead (a few hundred bytes each), and so does
// one that already holds maxHeld batches not yet taken (a reader that fell
// behind): held memory stays bounded by the subscribers, not by how long
// a reader takes.
const (
	rareMax = 64
	maxHeld = 4
)

// detach reports whether s should copy out the in events of a held batch
// it queues rather than hold the batch (caller holds s.mu).
func (s *Sub) detach(in uint64) bool {
	return len(s.held) >= maxHeld || !s.types[Result] && in <= rareMax
}

// detach points the events of es at copies of their observations and
// snapshots of their own (events sharing one share the copy), so that
// they no longer need their batch's Hold.
func detach(es []Event) {
	var o, oc *obs.Observation
	var sn, snc *state.Snapshot
	for i := range es {
		e := &es[i]
		if e.Obs != nil {
			if e.Obs != o {
				o, oc = e.Obs, new(obs.Observation)
				*oc = *o
			}
			e.Obs = oc
		}
		if e.Snap != nil {
			if e.Snap != sn {
				sn, snc = e.Snap, new(state.Snapshot)
				*snc = *sn
			}
			e.Snap = snc
		}
	}
}

// ring leaves a token in ready (at most one waits).
func (s *Sub) ring() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// offer queues e without blocking; a closed subscription takes nothing.
// h (if not nil) is e's Hold: pinned if e is queued (a channel's reader
// says not when it is done).
func (s *Sub) offer(e Event, h *Hold) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	select {
	case s.c <- e:
		if h != nil {
			h.pinned.Store(true)
		}
		s.delivered.Add(1)
	default:
		s.dropped.Add(1)
	}
}

// Stats returns the bus's counters.
func (b *Bus) Stats() Stats {
	st := Stats{Published: b.published.Load()}
	if subs := b.subs.Load(); subs != nil {
		for _, s := range *subs {
			st.Subscribers = append(st.Subscribers, SubStats{
				Name: s.name, Delivered: s.delivered.Load(), Dropped: s.dropped.Load(),
				Queued: s.Len(), Capacity: s.max,
			})
		}
	}
	return st
}

// Wants reports whether any subscriber takes events of type t now, so the
// publisher can skip building events nobody reads (a Result per probe).
func (b *Bus) Wants(t Type) bool {
	subs := b.subs.Load()
	if subs == nil || int(t) >= NumTypes {
		return false
	}
	for _, s := range *subs {
		if s.types[t] {
			return true
		}
	}
	return false
}

// Hold stands for memory that the events of one or more PublishHeld
// calls point to (their observations and snapshots): a count of the
// references to it, the publisher's own and one per batch subscriber
// whose queue (or whose reader) has some of those events. When the last
// is released, release is called (on the goroutine that released it) and
// the publisher may reuse the memory. A Hold is reusable after that
// (Reset).
type Hold struct {
	n       atomic.Int32
	pinned  atomic.Bool // a Subscribe queue got an event: never released
	release func()
}

// Reset readies h for a new batch of events: the caller holds the one
// reference; release is called when it and every subscriber's have been
// released (not if h is pinned).
func (h *Hold) Reset(release func()) {
	h.release = release
	h.pinned.Store(false)
	h.n.Store(1)
}

// Release drops one reference to h.
func (h *Hold) Release() {
	if n := h.n.Add(-1); n == 0 && !h.pinned.Load() && h.release != nil {
		h.release()
	} else if n < 0 {
		panic("event: Hold released more often than held")
	}
}
