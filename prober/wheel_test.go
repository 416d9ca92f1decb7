// SPDX-License-Identifier: MIT

package prober

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestWheelSpreadsEvenly(t *testing.T) {
	start := time.Unix(1000, 0)
	const n = 1000
	w := NewWheel(WheelConfig{Targets: n, Interval: time.Second, Spread: true}, start)
	perTenth := make([]int, 10)
	var due []int
	seen := map[int]int{}
	for ms := 0; ms < 3000; ms++ {
		due = w.Due(start.Add(time.Duration(ms)*time.Millisecond), due[:0])
		for _, i := range due {
			seen[i]++
			if ms < 1000 {
				perTenth[ms/100]++
			}
		}
	}
	for i, c := range perTenth {
		if c != n/10 {
			t.Errorf("tenth %d of the interval fired %d targets, want %d", i, c, n/10)
		}
	}
	for i := range n {
		if seen[i] != 3 {
			t.Fatalf("target %d fired %d times in 3 intervals, want 3", i, seen[i])
		}
	}
}

func TestWheelJitterBounded(t *testing.T) {
	start := time.Unix(0, 0)
	jit := 20 * time.Millisecond
	w := NewWheel(WheelConfig{Targets: 50, Interval: 200 * time.Millisecond, Jitter: jit, Spread: true, Seed: 7}, start)
	var due []int
	last := map[int]time.Duration{}
	shifted := false
	for ms := 0; ms < 2000; ms++ {
		now := time.Duration(ms) * time.Millisecond
		due = w.Due(start.Add(now), due[:0])
		for _, i := range due {
			nominal := time.Duration(i) * 200 * time.Millisecond / 50
			k := (now - nominal + 100*time.Millisecond) / (200 * time.Millisecond)
			off := now - nominal - k*200*time.Millisecond
			if off < -jit-time.Millisecond || off > jit+time.Millisecond {
				t.Fatalf("target %d fired at %v, %v off its phase (jitter %v)", i, now, off, jit)
			}
			if off != 0 {
				shifted = true
			}
			if p, ok := last[i]; ok && now-p < 200*time.Millisecond-2*jit-time.Millisecond {
				t.Fatalf("target %d fired twice within %v", i, now-p)
			}
			last[i] = now
		}
	}
	if !shifted {
		t.Error("jitter never moved a firing")
	}
}

func TestWheelLimitAndNext(t *testing.T) {
	start := time.Unix(0, 0)
	w := NewWheel(WheelConfig{Targets: 3, Interval: 100 * time.Millisecond, Limit: 2}, start)
	if nx, ok := w.Next(); !ok || !nx.Equal(start) {
		t.Fatalf("Next = %v %v, want start", nx, ok)
	}
	due := w.Due(start, nil)
	if len(due) != 3 {
		t.Fatalf("at start %v due, want all 3", due)
	}
	if nx, ok := w.Next(); !ok || nx.Sub(start) != 100*time.Millisecond {
		t.Fatalf("Next = %v, want +100ms", nx.Sub(start))
	}
	if d := w.Due(start.Add(99*time.Millisecond), nil); len(d) != 0 {
		t.Fatalf("early: %v", d)
	}
	if d := w.Due(start.Add(100*time.Millisecond), nil); len(d) != 3 {
		t.Fatalf("second round: %v", d)
	}
	if w.Remaining() != 0 {
		t.Fatalf("remaining %d after the limit", w.Remaining())
	}
	if _, ok := w.Next(); ok {
		t.Fatal("Next after the limit")
	}
	// A long pause fires each target once, not once per missed interval.
	w = NewWheel(WheelConfig{Targets: 4, Interval: 10 * time.Millisecond}, start)
	if d := w.Due(start.Add(time.Hour), nil); len(d) != 4 {
		t.Fatalf("after a pause: %v", d)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: 8 * time.Millisecond}
	for _, want := range []time.Duration{1, 2, 4, 8, 8} {
		if got := b.Fail(); got != want*time.Millisecond {
			t.Fatalf("backoff %v, want %v", got, want*time.Millisecond)
		}
	}
	b.OK()
	if b.Fail() != time.Millisecond {
		t.Fatal("backoff not reset")
	}
}

// TestWheelCrowdedSlots: slots holding many chunks' worth of targets
// (all due at start, then a few slots each), read at irregular times with
// pauses: every target fires once a round, Next is exact (nothing is due
// a nanosecond before it, something at it), and the chunks never run out.
func TestWheelCrowdedSlots(t *testing.T) {
	for _, c := range []WheelConfig{
		{Targets: 10000, Interval: 16 * time.Millisecond, Jitter: 4 * time.Millisecond, Seed: 3},
		{Targets: 3000, Interval: 100 * time.Millisecond, Jitter: 25 * time.Millisecond, Spread: true, Seed: 4},
		{Targets: 500, Interval: 50 * time.Millisecond, Limit: 7, Seed: 5},
	} {
		start := time.Unix(0, 0)
		w := NewWheel(c, start)
		fired := make([]int, c.Targets)
		now, rounds := start, 0
		r := rand.New(rand.NewPCG(c.Seed, 9))
		for step := 0; step < 3000 && w.Remaining() > 0; step++ {
			switch r.IntN(10) {
			case 0: // a pause of up to two intervals
				now = now.Add(time.Duration(r.Int64N(int64(2 * c.Interval))))
			case 1, 2: // exactly at Next, checking it
				nx, ok := w.Next()
				if !ok {
					t.Fatalf("%+v: Next false with %d left", c, w.Remaining())
				}
				if nx.After(now) {
					if d := w.Due(nx.Add(-1), nil); len(d) != 0 {
						t.Fatalf("%+v: %d due before Next %v", c, len(d), nx)
					}
					now = nx
				}
				d := w.Due(now, nil)
				if len(d) == 0 {
					t.Fatalf("%+v: nothing due at Next %v", c, nx)
				}
				for _, i := range d {
					fired[i]++
				}
				continue
			default:
				now = now.Add(time.Duration(r.Int64N(int64(3 * time.Millisecond))))
			}
			for _, i := range w.Due(now, nil) {
				fired[i]++
			}
			rounds = int(now.Sub(start) / c.Interval)
		}
		lo, hi := fired[0], fired[0]
		for _, f := range fired {
			lo, hi = min(lo, f), max(hi, f)
		}
		if c.Limit > 0 && (lo != c.Limit || hi != c.Limit || w.Remaining() != 0) {
			t.Fatalf("%+v: fired %d..%d times, %d left, want %d each", c, lo, hi, w.Remaining(), c.Limit)
		}
		// Pauses fire a target once, not once per interval missed: at
		// most the rounds elapsed, and every target alike within two.
		if c.Limit == 0 && (hi > rounds+2 || hi-lo > 2 || lo == 0) {
			t.Fatalf("%+v: fired %d..%d times in %d intervals", c, lo, hi, rounds)
		}
		w.Free()
	}
}
