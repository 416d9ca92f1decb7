// SPDX-License-Identifier: MIT

package web

import (
	"strconv"
	"testing"
	"time"

	"github.com/hbmon/hb/state"
)

// TestHubRingGrows: the hub's ring holds memory for the changes it has
// seen (grown as they come), not for ringSize of them from the start, and
// reads the same across its growth and once full and wrapped.
func TestHubRingGrows(t *testing.T) {
	h := NewHub()
	at := time.Unix(1_800_000_000, 0)
	add := func(n int) {
		for range n {
			seq := h.Seq() + 1
			h.Add("h"+strconv.FormatUint(seq, 10), "icmp", state.Up, state.Down, state.Up, at)
		}
	}
	check := func(from uint64) {
		t.Helper()
		got, last, gone := h.since(from, nil)
		if gone || last != h.Seq() || uint64(len(got)) != last-from {
			t.Fatalf("since(%d): %d changes, last %d, gone %v; want %d, %d, false", from, len(got), last, gone, last-from, h.Seq())
		}
		for i, c := range got {
			if want := from + 1 + uint64(i); c.Seq != want || c.Host != "h"+strconv.FormatUint(want, 10) {
				t.Fatalf("since(%d)[%d] = seq %d host %s, want %d", from, i, c.Seq, c.Host, want)
			}
		}
	}
	add(10)
	if len(h.ring) > 1024 {
		t.Fatalf("ring of %d entries for 10 changes", len(h.ring))
	}
	check(0)
	add(5000)
	if len(h.ring) >= ringSize || len(h.ring) < 5010 {
		t.Fatalf("ring of %d entries for 5010 changes", len(h.ring))
	}
	check(0)
	check(3)
	add(ringSize)
	if len(h.ring) != ringSize {
		t.Fatalf("ring of %d entries, want %d once full", len(h.ring), ringSize)
	}
	check(h.Seq() - ringSize + 1)
	check(h.Seq() - 100)
	if _, _, gone := h.since(h.Seq()-ringSize, nil); !gone {
		t.Error("a change the ring has overwritten is still readable")
	}
}
