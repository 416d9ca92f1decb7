// SPDX-License-Identifier: MIT

package web

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/state"
)

// Change is one state change as the live stream carries it.
type Change struct {
	Seq      uint64 `json:"seq"`
	Host     string `json:"host"`
	Check    string `json:"check"`
	State    string `json:"state"`      // the check's new state
	HostOld  string `json:"host_old"`   // the host's derived state before
	HostNew  string `json:"host_state"` // and after
	AtMillis int64  `json:"at"`         // unix ms
}

// ringSize is how many changes the hub remembers for clients that
// reconnect (Last-Event-ID); older ones get a reset instead.
const ringSize = 1 << 16

// entry is a Change as the ring keeps it: the states as numbers (48
// bytes instead of 96: a full ring is 3 MiB instead of 6).
type entry struct {
	host, check          string
	atMillis             int64
	st, hostOld, hostNew state.State
}

// Hub turns the bus's state changes into a numbered ring that every
// stream client reads at its own pace: one subscription however many
// browsers are connected.
type Hub struct {
	mu sync.Mutex // guards ring, next
	// ring[seq%ringSize]: grown (doubling) as changes come until it has
	// ringSize, so a daemon that has seen few (a small fleet: one change
	// per check as it comes up) holds memory for those only.
	ring []entry
	next uint64 // seq of the next change; changes 1..next-1 exist

	done    chan struct{}
	clients atomic.Int64
	sent    atomic.Uint64 // bytes written to stream clients
	events  atomic.Uint64 // changes received
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{next: 1, done: make(chan struct{})}
}

// Run reads sub (from event.Bus.SubscribeBatch) until ctx ends, then
// releases every stream.
func (h *Hub) Run(ctx context.Context, sub *event.Sub) {
	defer close(h.done)
	var evs []event.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
			var ok bool
			evs, ok = sub.Take(evs)
			for i := range evs {
				if ev := &evs[i]; ev.Type == event.StateChange {
					h.Add(ev.Host, ev.Check, ev.New, ev.HostOld, ev.HostNew, ev.At)
				}
			}
			if !ok {
				return
			}
		}
	}
}

// Add appends a change (Run calls it; tests too).
func (h *Hub) Add(host, check string, st, hostOld, hostNew state.State, at time.Time) {
	h.events.Add(1)
	h.mu.Lock()
	seq := h.next
	h.next++
	i := seq % ringSize
	if i >= uint64(len(h.ring)) { // not full yet: seq < ringSize, nothing wrapped
		h.ring = append(h.ring, make([]entry, min(max(2*len(h.ring), 1024), ringSize)-len(h.ring))...)
	}
	h.ring[i] = entry{host: host, check: check, st: st, hostOld: hostOld, hostNew: hostNew, atMillis: at.UnixMilli()}
	h.mu.Unlock()
}

// Seq is the newest change's number (0: none yet).
func (h *Hub) Seq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next - 1
}

// since appends the changes after seq to dst, and returns it, the newest
// seq, and whether seq was too old (the ring has moved past it: the client
// must reload). Clients poll it four times a second.
func (h *Hub) since(seq uint64, dst []Change) ([]Change, uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := h.next - 1
	if seq > last {
		seq = last // a client from before a restart: start from now
	}
	if last-seq > ringSize-1 {
		return dst, last, true
	}
	for s := seq + 1; s <= last; s++ {
		e := &h.ring[s%ringSize]
		dst = append(dst, Change{Seq: s, Host: e.host, Check: e.check, State: e.st.String(),
			HostOld: e.hostOld.String(), HostNew: e.hostNew.String(), AtMillis: e.atMillis})
	}
	return dst, last, false
}
