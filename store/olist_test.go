// SPDX-License-Identifier: MIT

package store

import "testing"

// TestOlist: values added survive every move (on the heap while small,
// mapped past offMin), take moves a list and empties its source, and
// release empties.
func TestOlist(t *testing.T) {
	var a olist[pend]
	const n = 3 * offMin / 64 // pend is 64 bytes: the list moves off the heap on the way
	for i := range n {
		a.add(pend{id: int64(i + 1)})
		if i == 10 {
			a.reserve(5000) // a jump, then adds by one again
		}
	}
	if len(a.s) != n {
		t.Fatalf("%d values, want %d", len(a.s), n)
	}
	if offheapMapped && a.free == nil {
		t.Errorf("%d bytes of values still on the Go heap", n*64)
	}
	for i, p := range a.s {
		if p.id != int64(i+1) {
			t.Fatalf("value %d: id %d, want %d", i, p.id, i+1)
		}
	}
	var b olist[pend]
	b.add(pend{id: -1})
	b.take(&a)
	if a.s != nil || a.free != nil || len(b.s) != n || b.s[n-1].id != n {
		t.Fatalf("take: source %d values, destination %d", len(a.s), len(b.s))
	}
	b.release()
	if b.s != nil || b.free != nil {
		t.Fatal("release left values")
	}
	var small olist[uint32]
	small.add(7)
	if small.free != nil || cap(small.s) != 16 || small.s[0] != 7 {
		t.Fatalf("a small list: cap %d, mapped %v", cap(small.s), small.free != nil)
	}
}
