// SPDX-License-Identifier: MIT

package prober

import (
	"time"

	"github.com/hbmon/hb/internal/bucket"
)

// pacer is the loop's global rate limit (Config.Rate), granted in whole
// batches. Run's pacer is two buckets: owed holds pacerWindow of tokens at
// the rate, so a loop that wakes late or is not scheduled for a while (a
// loaded machine, the GC, the store's minute write) still sends what it
// owes rather than losing the tokens earned while the bucket was full;
// flow lets them leave no faster than catchUp times the rate, in bursts of
// at most two lingers of the rate (the loop's longest nap). With owed alone, a loop stalled
// for a few hundred milliseconds sent ~1,400 probes in 6 ms when it woke:
// their replies overflowed the simulated fleet's per-CPU ICMP reply socket
// (0.1–0.3 % loss in the steered row) and would a small NIC ring. Now
// the same stall is caught up over about as long again as it lasted.
// Once's pacer is one bucket of one batch (flow nil), so that a paced
// sweep (fping -i) spaces its probes from the first.
type pacer struct {
	owed  *bucket.Bucket
	flow  *bucket.Bucket // nil: no burst limit beyond owed's
	batch int
}

// pacerWindow is how much sending time Run's owed bucket holds. With one
// batch of tokens (6.4 ms at 10,000/s) the daemon sent 6,381 of the
// 10,000 probes/s that 100k targets every 10 s need at that rate on a
// loaded machine; with 100 ms, 13,594 of the 16,667 that 1M targets every
// minute need.
const pacerWindow = time.Second

// The flow bucket's depth is the most sending time Run releases at once:
// the loop's longest nap (two lingers, Engine.lingerFor), so a normal
// wake-up (which collects up to a linger of due probes, two at most) is
// never split by it.

// catchUp is how much faster than the rate owed probes leave.
const catchUp = 2

// pacerBurst is the owed bucket's depth: pacerWindow of probes at rate,
// at least one batch.
func pacerBurst(rate, batch int) int {
	return max(batch, int(float64(rate)*pacerWindow.Seconds()))
}

// flowBurst is the flow bucket's depth: window of probes at rate, at
// least one batch.
func flowBurst(rate, batch int, window time.Duration) int {
	return max(batch, int(float64(rate)*window.Seconds()))
}

// newRunPacer is Run's pacer for rate (<= 0: unlimited) and batch,
// releasing at most window of the rate at once.
func newRunPacer(rate, batch int, window time.Duration) *pacer {
	return &pacer{
		owed:  bucket.New(float64(rate), pacerBurst(rate, batch)),
		flow:  bucket.New(float64(rate)*catchUp, flowBurst(rate, batch, window)),
		batch: batch,
	}
}

// setBurstWindow makes Run's pacer release at most window of the rate at
// once (a new list changed the loop's linger); the probes owed are kept.
func (p *pacer) setBurstWindow(window time.Duration) {
	if p.flow == nil || p.owed.Unlimited() {
		return
	}
	rate := p.owed.Rate()
	p.flow = bucket.New(rate*catchUp, flowBurst(int(rate), p.batch, window))
}

// newOncePacer is Once's pacer: one batch deep.
func newOncePacer(rate, batch int) *pacer {
	return &pacer{owed: bucket.New(float64(rate), batch)}
}

// size is the batch a request for want tokens is granted as.
func (p *pacer) size(want int) int {
	n := min(want, p.owed.Burst())
	if p.flow != nil {
		n = min(n, p.flow.Burst())
	}
	return n
}

// take grants a whole batch of min(want, the buckets' depths) tokens at
// now, or 0.
func (p *pacer) take(now time.Time, want int) int {
	if want <= 0 {
		return 0
	}
	if p.owed.Unlimited() {
		return want
	}
	n := p.size(want)
	if p.flow == nil {
		return p.owed.Take(now, n)
	}
	if p.owed.Wait(now, n) > 0 || p.flow.Wait(now, n) > 0 {
		return 0
	}
	p.owed.Take(now, n)
	p.flow.Take(now, n)
	return n
}

// wait is how long after now take(_, want) would grant a batch: 0 if it
// would now. While the flow bucket holds the loop back (catching up), it
// waits for up to a full flow bucket of the queued probes rather than for
// one batch, so that catching up wakes the loop about as often as normal
// sending does (once per burst window), not once per batch.
func (p *pacer) wait(now time.Time, want, queued int) time.Duration {
	if want <= 0 || p.owed.Unlimited() {
		return 0
	}
	n := p.size(want)
	w := p.owed.Wait(now, n)
	if p.flow != nil {
		if f := p.flow.Wait(now, n); f > 0 {
			w = max(w, p.flow.Wait(now, max(n, min(queued, p.flow.Burst()))))
		}
	}
	return w
}
