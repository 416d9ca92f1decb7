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
	// and the check's snapshot after it was applied.
	Obs  *obs.Observation
	Snap *state.Snapshot
	// Result, StateChange, Problem from the table's writer: the check's
	// table generation (state.View.Gen, from 1) and index in it, which
	// name the check within that generation (see IDCache). Gen 0: unset.
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

// Sub is one subscriber's queue.
type Sub struct {
	name      string
	types     [NumTypes]bool
	mu        sync.RWMutex // Publish sends under RLock; Close closes c under Lock
	closed    bool         // guarded by mu
	c         chan Event
	delivered atomic.Uint64
	dropped   atomic.Uint64
	bus       *Bus
}

// Subscribe returns a subscription named name (for metrics) with a queue
// of size queue, receiving the given types (all types if none are given).
func (b *Bus) Subscribe(name string, queue int, types ...Type) *Sub {
	if queue < 1 {
		queue = 1
	}
	s := &Sub{name: name, c: make(chan Event, queue), bus: b}
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

// C is the subscriber's queue. It is closed by Close.
func (s *Sub) C() <-chan Event { return s.c }

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
		close(s.c)
	}
}

// Publish offers e to every subscriber of its type without blocking. Any
// number of goroutines may publish, also while subscribers close.
func (b *Bus) Publish(e Event) {
	b.published.Add(1)
	subs := b.subs.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if int(e.Type) >= NumTypes || !s.types[e.Type] {
			continue
		}
		s.offer(e)
	}
}

// offer queues e without blocking; a closed subscription takes nothing.
func (s *Sub) offer(e Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	select {
	case s.c <- e:
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
				Queued: len(s.c), Capacity: cap(s.c),
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
