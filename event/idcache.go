// SPDX-License-Identifier: MIT

package event

// IDCache maps the check of an event (its table generation and index,
// Event.Gen and Event.ID) to what a sink keeps for that check, so that a
// sink handling every probe result looks the check up by host and check
// name once per table generation instead of once per result (a map
// lookup by two strings over 100k checks was most of the RTT
// histograms' and the history store's CPU). One goroutine uses it; the
// zero value is empty. A new generation empties it: ids change at a
// reload.
type IDCache[T any] struct {
	gen  uint64
	vals []*T
}

// Get returns the value cached for e's check, or nil.
func (c *IDCache[T]) Get(e *Event) *T {
	if e.Gen == 0 || e.Gen != c.gen || e.ID < 0 || e.ID >= len(c.vals) {
		return nil
	}
	return c.vals[e.ID]
}

// Put caches v for e's check. Events without a generation (not from the
// table's writer) and those of an older generation are not cached.
func (c *IDCache[T]) Put(e *Event, v *T) {
	if e.Gen == 0 || e.ID < 0 || e.Gen < c.gen {
		return
	}
	if e.Gen != c.gen {
		c.gen = e.Gen
		clear(c.vals)
	}
	if e.ID >= len(c.vals) {
		c.vals = append(c.vals, make([]*T, max(e.ID+1, 2*len(c.vals))-len(c.vals))...)
	}
	c.vals[e.ID] = v
}
