// SPDX-License-Identifier: MIT

package bucket

import (
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestAllow(t *testing.T) {
	b := New(10, 3) // 10/s, burst 3
	for i := range 3 {
		if !b.Allow(t0) {
			t.Fatalf("request %d of the initial burst refused", i)
		}
	}
	if b.Allow(t0) {
		t.Fatal("4th request at the same instant allowed past burst 3")
	}
	if b.Allow(t0.Add(99 * time.Millisecond)) {
		t.Fatal("allowed before 100 ms had earned a token")
	}
	if !b.Allow(t0.Add(100 * time.Millisecond)) {
		t.Fatal("refused after 100 ms had earned a token")
	}
	// A long pause refills only up to the burst.
	n := 0
	for b.Allow(t0.Add(time.Hour)) {
		n++
	}
	if n != 3 {
		t.Fatalf("after an hour: %d granted, want burst 3", n)
	}
}

func TestUnlimited(t *testing.T) {
	for _, b := range []*Bucket{nil, New(0, 1), New(-1, 5), {}} {
		if !b.Unlimited() {
			t.Fatalf("%+v: not unlimited", b)
		}
		for range 1000 {
			if !b.Allow(t0) {
				t.Fatal("unlimited bucket refused")
			}
		}
		if n := b.Take(t0, 5000); n != 5000 {
			t.Fatalf("unlimited Take = %d, want 5000", n)
		}
		if w := b.Wait(t0, 5000); w != 0 {
			t.Fatalf("unlimited Wait = %v", w)
		}
	}
}

func TestTakeBatches(t *testing.T) {
	b := New(1000, 64) // 1000/s in batches of 64
	if n := b.Take(t0, 100); n != 64 {
		t.Fatalf("first Take = %d, want the burst 64", n)
	}
	if n := b.Take(t0, 10); n != 0 {
		t.Fatalf("empty bucket granted %d", n)
	}
	w := b.Wait(t0, 100)
	if w != 64*time.Millisecond {
		t.Fatalf("Wait = %v, want 64ms for a batch of 64 at 1000/s", w)
	}
	if n := b.Take(t0.Add(w-time.Millisecond), 100); n != 0 {
		t.Fatalf("granted %d before Wait elapsed", n)
	}
	if n := b.Take(t0.Add(w), 100); n != 64 {
		t.Fatalf("Take at Wait = %d, want 64", n)
	}
	// A small batch needs fewer tokens.
	if w := b.Wait(t0.Add(w), 8); w != 8*time.Millisecond {
		t.Fatalf("Wait(8) = %v, want 8ms", w)
	}
	if n := b.Take(t0, 0); n != 0 {
		t.Fatalf("Take(0) = %d", n)
	}
}

// Over a long run the grants follow the rate, whatever the batch size.
func TestLongRunRate(t *testing.T) {
	b := New(5000, 32)
	now, granted := t0, 0
	for now.Before(t0.Add(10 * time.Second)) {
		granted += b.Take(now, 1000)
		now = now.Add(b.Wait(now, 1000) + time.Microsecond)
	}
	if granted < 49_900 || granted > 50_100+32 {
		t.Fatalf("granted %d in 10 s at 5000/s", granted)
	}
}

func TestClockBackwards(t *testing.T) {
	b := New(1, 1)
	if !b.Allow(t0) {
		t.Fatal("first refused")
	}
	if b.Allow(t0.Add(-time.Hour)) {
		t.Fatal("clock going backwards earned tokens")
	}
	if !b.Allow(t0.Add(time.Second)) {
		t.Fatal("refused a second after the last grant")
	}
}

func TestConcurrent(t *testing.T) {
	b := New(1, 100) // nothing refills at a fixed instant
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if b.Allow(t0) {
					mu.Lock()
					got++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if got != 100 {
		t.Fatalf("granted %d concurrently, want exactly the burst 100", got)
	}
}

func TestGCRA(t *testing.T) {
	for _, c := range []struct {
		rate      float64
		burst     int
		iv, depth uint64
	}{
		{0, 10, 0, 0},
		{-5, 10, 0, 0},
		{1000, 1, 1_000_000, 0},
		{1000, 0, 1_000_000, 0},
		{1000, 5, 1_000_000, 4_000_000},
		{3e9, 2, 1, 1},
	} {
		iv, d := GCRA(c.rate, c.burst)
		if iv != c.iv || d != c.depth {
			t.Errorf("GCRA(%v, %d) = %d, %d; want %d, %d", c.rate, c.burst, iv, d, c.iv, c.depth)
		}
	}
}

// The kernel's GCRA with GCRA's parameters admits the same requests as a
// Bucket of the same rate and burst.
func TestGCRAMatchesBucket(t *testing.T) {
	const rate, burst = 200.0, 4
	iv, depth := GCRA(rate, burst)
	b := New(rate, burst)
	var tat uint64
	start := uint64(t0.UnixNano())
	// requests every 1.3 ms for 1 s, with a few gaps
	for i := range 770 {
		at := start + uint64(i)*1_300_000
		if i%97 == 0 {
			at += 20_000_000
			start += 20_000_000
		}
		g := at+depth >= tat
		if g {
			tat = max(tat, at) + iv
		}
		if bg := b.Allow(time.Unix(0, int64(at))); bg != g {
			t.Fatalf("request %d at +%dns: bucket %v, gcra %v", i, at-uint64(t0.UnixNano()), bg, g)
		}
	}
}
