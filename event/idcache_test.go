// SPDX-License-Identifier: MIT

package event

import "testing"

func TestIDCache(t *testing.T) {
	var c IDCache[string]
	a, b := "a", "b"
	e := func(gen uint64, id int) *Event { return &Event{Gen: gen, ID: id} }
	if c.Get(e(1, 0)) != nil {
		t.Fatal("empty cache hit")
	}
	c.Put(e(1, 5), &a)
	if got := c.Get(e(1, 5)); got != &a {
		t.Fatalf("gen 1 id 5: %v", got)
	}
	if c.Get(e(1, 4)) != nil || c.Get(e(1, 6)) != nil || c.Get(e(1, 1000)) != nil || c.Get(e(1, -1)) != nil {
		t.Fatal("hit for an id never put")
	}
	// A reload: ids name other checks now.
	if c.Get(e(2, 5)) != nil {
		t.Fatal("gen 2 hit on gen 1's entry")
	}
	c.Put(e(2, 7), &b)
	if c.Get(e(2, 5)) != nil {
		t.Fatal("gen 1's entry survived the new generation")
	}
	if c.Get(e(2, 7)) != &b {
		t.Fatal("gen 2 id 7 lost")
	}
	// An older generation's event is neither served nor cached.
	c.Put(e(1, 7), &a)
	if c.Get(e(2, 7)) != &b || c.Get(e(1, 7)) != nil {
		t.Fatal("an older generation's Put changed the cache")
	}
	// Events not from the table's writer (no generation) are never cached.
	c.Put(e(0, 1), &a)
	if c.Get(e(0, 1)) != nil {
		t.Fatal("gen 0 cached")
	}
}
