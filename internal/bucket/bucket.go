// SPDX-License-Identifier: MIT

package bucket

import (
	"sync"
	"time"
)

// Bucket grants Rate tokens per second and holds at most Burst. It starts
// full. A rate <= 0 means no limit: every request is granted at once. The
// zero Bucket is therefore unlimited. Safe for concurrent use.
type Bucket struct {
	rate  float64
	burst float64

	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   time.Time // zero until the first request
}

// New returns a full bucket of rate tokens per second holding at most
// burst tokens (burst < 1 counts as 1). rate <= 0 means no limit.
func New(rate float64, burst int) *Bucket {
	b := float64(max(burst, 1))
	return &Bucket{rate: rate, burst: b, tokens: b}
}

// Rate returns the tokens per second (<= 0: no limit).
func (b *Bucket) Rate() float64 { return b.rate }

// Burst returns the bucket's depth in tokens.
func (b *Bucket) Burst() int { return int(b.burst) }

// Unlimited reports whether the bucket grants everything.
func (b *Bucket) Unlimited() bool { return b == nil || b.rate <= 0 }

// refill adds the tokens earned since the last request. Time going
// backwards earns nothing (and is not remembered).
func (b *Bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// Allow takes one token at now if there is one. A nil or unlimited bucket
// always allows.
func (b *Bucket) Allow(now time.Time) bool { return b.Take(now, 1) == 1 }

// eps absorbs float rounding in the refill so that a batch due at exactly
// Wait's answer is granted.
const eps = 1e-9

// Take grants a whole batch of up to want tokens at now, or nothing: it
// grants min(want, Burst) if the bucket holds that many, else 0. Granting
// whole batches lets a sender wake once per batch rather than per packet.
// A nil or unlimited bucket grants want.
func (b *Bucket) Take(now time.Time, want int) int {
	if want <= 0 {
		return 0
	}
	if b.Unlimited() {
		return want
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	n := min(float64(want), b.burst)
	if b.tokens+eps < n {
		return 0
	}
	b.tokens = max(0, b.tokens-n)
	return int(n)
}

// Wait returns how long after now Take(_, want) would grant a batch: 0 if
// it would now.
func (b *Bucket) Wait(now time.Time, want int) time.Duration {
	if want <= 0 || b.Unlimited() {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	need := min(float64(want), b.burst) - b.tokens
	if need <= eps {
		return 0
	}
	return time.Duration(need / b.rate * float64(time.Second))
}

// GCRA converts a rate (per second) and burst to the generic cell rate
// algorithm's parameters, as a kernel-side bucket (the XDP program's) keeps
// them: emission interval and tolerance, in nanoseconds. A request at time
// t is allowed if t >= tat - depth; then tat = max(tat, t) + interval. That
// admits burst back-to-back requests, then one per interval: the same
// limit as a Bucket of the same rate and burst. rate <= 0 gives (0, 0),
// meaning no limit.
func GCRA(rate float64, burst int) (interval, depth uint64) {
	if rate <= 0 {
		return 0, 0
	}
	interval = uint64(float64(time.Second) / rate)
	if interval == 0 {
		interval = 1
	}
	return interval, uint64(max(burst, 1)-1) * interval
}
