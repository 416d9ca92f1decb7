// SPDX-License-Identifier: MIT

package prober

import (
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
