package prober

import "time"

// Pacer is the global token bucket behind --rate: it grants probes at rate
// per second, releasing whole batches (up to burst) rather than single
// packets, so the sender wakes once per batch. Pure: time is passed in.
type Pacer struct {
	rate   float64 // tokens per second; 0 = unlimited
	burst  float64
	tokens float64
	last   time.Time
}

// NewPacer returns a full bucket. rate <= 0 disables limiting.
func NewPacer(rate, burst int, now time.Time) *Pacer {
	burst = max(burst, 1)
	return &Pacer{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now}
}

func (p *Pacer) refill(now time.Time) {
	if d := now.Sub(p.last); d > 0 {
		p.tokens = min(p.burst, p.tokens+d.Seconds()*p.rate)
		p.last = now
	}
}

// Take grants up to want probes at now: all of them if the bucket holds a
// whole batch (min(want, burst) tokens), else none.
func (p *Pacer) Take(now time.Time, want int) int {
	if want <= 0 {
		return 0
	}
	if p.rate <= 0 {
		return want
	}
	p.refill(now)
	n := min(float64(want), p.burst)
	if p.tokens+1e-9 < n {
		return 0
	}
	p.tokens -= n
	return int(n)
}

// Wait returns how long until Take(now, want) would grant a batch.
func (p *Pacer) Wait(now time.Time, want int) time.Duration {
	if p.rate <= 0 || want <= 0 {
		return 0
	}
	p.refill(now)
	need := min(float64(want), p.burst) - p.tokens
	if need <= 0 {
		return 0
	}
	return time.Duration(need / p.rate * float64(time.Second))
}

// Backoff is the ENOBUFS back-off: it doubles from Min to Max on each
// failure and resets on success.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Fail returns how long to wait before retrying.
func (b *Backoff) Fail() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(b.cur*2, b.Max)
	}
	return b.cur
}

// OK resets the back-off after a successful send.
func (b *Backoff) OK() { b.cur = 0 }
