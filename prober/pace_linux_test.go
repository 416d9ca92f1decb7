// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRunPace runs the engine's continuous loop in the fake network's
// virtual time and counts the probes it sends: N targets every interval I
// must leave at N/I a second (or at the configured rate when that is
// lower), even when every sleep of the loop overshoots, as the poller's
// wake-ups do on a loaded machine. The daemon once sent 6,381 of the
// 10,000 probes/s that 100k targets every 10 s need at the default rate
// of 10,000: its pacer held one batch of tokens, so every late wake-up
// lost the tokens earned after the bucket was full. And the probes must
// leave in full batches: sent as they fell due, a few per millisecond,
// they cost a sendmmsg each; and the loop must wake about once a linger
// (25 ms at 100k targets every 10 s), not more.
func TestRunPace(t *testing.T) {
	cases := []struct {
		targets   int
		interval  time.Duration
		rate      int
		oversleep time.Duration
		stall     time.Duration // every 150th wait, on top of oversleep
		want      float64       // probes/s
	}{
		// 100k targets @10s at the default rate: a 25 ms linger.
		{100000, 10 * time.Second, 10000, 2 * time.Millisecond, 0, 10000},
		// Scaled down tenfold (100 ms of jitter: a 10 ms linger).
		{10000, time.Second, 10000, 2 * time.Millisecond, 0, 10000},
		{10000, time.Second, 10000, 0, 0, 10000},
		// 1M targets @60s at rate 20,000, scaled down.
		{16667, time.Second, 20000, 3 * time.Millisecond, 0, 16667},
		// The process not scheduled for 300 ms now and then.
		{16667, time.Second, 20000, time.Millisecond, 300 * time.Millisecond, 16667},
		// Unlimited rate.
		{5000, time.Second, -1, 5 * time.Millisecond, 0, 5000},
		// More than the rate allows: the rate holds.
		{20000, time.Second, 8000, 2 * time.Millisecond, 0, 8000},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n=%d,rate=%d,oversleep=%v,stall=%v", c.targets, c.rate, c.oversleep, c.stall), func(t *testing.T) {
			n := newFakeNet()
			e := n.engine(Config{Interval: c.interval, Rate: c.rate, Batch: 64, Timeout: 500 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const run = 6 * time.Second
			n.virtual(e, run, c.oversleep, time.Microsecond, cancel)
			n.virt.stall, n.virt.stallEvery = c.stall, 150
			e.SetTargets(fakeTargets(c.targets, 0))
			results := 0
			if err := e.Run(ctx, func(*Result) { results++ }); err != nil {
				t.Fatal(err)
			}
			// Count what left in [2s, 6s): past the first interval's start.
			from, to := 2*time.Second, run
			sent := 0
			for _, at := range n.virt.sentAt {
				if at >= from && at < to {
					sent++
				}
			}
			got := float64(sent) / (to - from).Seconds()
			t.Logf("sent %.0f probes/s of fake time (want %.0f), %d results, %d sendmmsg calls, %d sleeps", got, c.want, results, n.calls, n.sleeps)
			// A stall just before from is caught up after it (at catchUp
			// times the rate, not at once): up to a stall's probes more.
			hi := 1.02*c.want + c.stall.Seconds()*c.want/(to-from).Seconds()
			if got < 0.98*c.want || got > hi {
				t.Errorf("sent %.0f probes/s, want %.0f (-2%%, +%.0f)", got, c.want, hi-c.want)
			}
			// Full batches: due probes trickle out of the wheel a few per
			// millisecond; sent as they come, they took one sendmmsg each.
			if per := float64(len(n.virt.sentAt)) / float64(n.calls); per < 32 {
				t.Errorf("%.1f probes per sendmmsg, want at least half a batch (32)", per)
			}
			// About one wake-up per linger: the first due probe's linger is
			// slept through, not woken for and then waited out.
			linger := e.lingerFor(c.targets, c.interval, c.interval/20)
			if max := int(1.5 * float64(run/linger)); n.sleeps > max {
				t.Errorf("%d wake-ups in %v (linger %v), want at most %d", n.sleeps, run, linger, max)
			}
			if n.naps == 0 {
				t.Error("the loop never slept without watching its sockets (kernel-stamped replies can wait for the next batch)")
			}
		})
	}
}

// TestOncePaceFromFirst: a paced one-shot sweep (fping -i 10 is rate 100,
// batch 1) spaces its probes from the first; only the daemon's loop may
// burst to catch up.
func TestOncePaceFromFirst(t *testing.T) {
	n := newFakeNet()
	e := n.engine(Config{Rate: 100, Batch: 1, Timeout: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.virtual(e, time.Hour, 0, time.Microsecond, cancel)
	sums, err := e.Once(ctx, fakeTargets(200, 0), OnceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.virt.sentAt) != 200 || sums[199].Sent != 1 {
		t.Fatalf("sent %d probes, want 200", len(n.virt.sentAt))
	}
	early := 0
	for _, at := range n.virt.sentAt {
		if at < 500*time.Millisecond {
			early++
		}
	}
	if early > 51 {
		t.Errorf("%d probes in the first 500 ms at rate 100, want at most 51", early)
	}
}

// TestRunCatchUpBurst: after a stall, Run catches up on the probes it owes
// smoothly, not all at once. The daemon's pacer was one bucket a second
// deep: a loop that was not scheduled for 300 ms woke to 3,000 tokens and
// sent every due probe in a few milliseconds (~1,400 in 6 ms measured),
// overflowing the fleet's ICMP reply socket. Within any 10 ms the loop may
// send at most a burst window plus 10 ms at the catch-up rate (and a
// batch for rounding); over the run it must still keep the rate.
func TestRunCatchUpBurst(t *testing.T) {
	const (
		targets  = 10000
		rate     = 10000
		batch    = 64
		stall    = 300 * time.Millisecond
		run      = 6 * time.Second
		window   = 10 * time.Millisecond
		interval = time.Second
	)
	n := newFakeNet()
	e := n.engine(Config{Interval: interval, Rate: rate, Batch: batch, Timeout: 500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.virtual(e, run, time.Millisecond, time.Microsecond, cancel)
	n.virt.stall, n.virt.stallEvery = stall, 100
	e.SetTargets(fakeTargets(targets, 0))
	if err := e.Run(ctx, func(*Result) {}); err != nil {
		t.Fatal(err)
	}
	at := n.virt.sentAt
	// The most probes sent in any window (sentAt is in order).
	most, j := 0, 0
	for i := range at {
		for at[i]-at[j] >= window {
			j++
		}
		most = max(most, i-j+1)
	}
	limit := flowBurst(rate, batch, 2*batchLinger) + int(catchUp*rate*window.Seconds()) + batch
	t.Logf("at most %d probes in %v (limit %d); %d stalls of %v", most, window, limit, n.virt.waits/100, stall)
	if n.virt.waits < 100 {
		t.Fatal("no stall happened")
	}
	if most > limit {
		t.Errorf("%d probes sent within %v after a stall, want at most %d", most, window, limit)
	}
	sent := 0
	for _, a := range at {
		if a >= 2*time.Second {
			sent++
		}
	}
	if got := float64(sent) / (run - 2*time.Second).Seconds(); got < 0.97*rate {
		t.Errorf("sent %.0f probes/s after the first interval, want %d (the stalls' probes caught up)", got, rate)
	}
}

// TestPacerBounds checks the pacer alone in fake time: Run's holds a
// second of tokens but grants them no faster than catchUp times the rate,
// at most a burst window at once; Once's grants one batch.
func TestPacerBounds(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newRunPacer(10000, 64, 2*batchLinger)
	p.take(t0, 1) // starts the clock
	// Idle for 2 s: owed is full (10,000), flow too (200).
	now := t0.Add(2 * time.Second)
	got := 0
	for p.take(now, 64) > 0 {
		got += 64
	}
	if want := flowBurst(10000, 64, 2*batchLinger) / 64 * 64; got != want {
		t.Fatalf("granted %d at once after idling, want %d (one burst window)", got, want)
	}
	// Then twice the rate until owed's second is caught up: in the next
	// second ~19,800 (its 10,000 less the burst, and the 10,000 earned
	// meanwhile).
	sent := 0
	for range 1000 {
		now = now.Add(time.Millisecond)
		for p.take(now, 64) > 0 {
			sent += 64
		}
	}
	if sent < 19700 || sent > 20000+64 {
		t.Errorf("granted %d in the second after idling, want ~20,000 (catch-up at twice the rate)", sent)
	}
	// Owed spent: back to the rate.
	sent = 0
	for range 1000 {
		now = now.Add(time.Millisecond)
		for p.take(now, 64) > 0 {
			sent += 64
		}
	}
	if sent < 9900 || sent > 10100+64 {
		t.Errorf("granted %d in the next second, want ~10,000 (the rate)", sent)
	}
	if w := p.wait(now, 64, 64); w <= 0 || w > 7*time.Millisecond {
		t.Errorf("wait %v for a batch with the buckets empty, want (0, 6.4ms]", w)
	}
	// A new list's linger (setBurstWindow): the owed bucket is kept (spent:
	// no burst now), the flow bucket releases the new window after idling.
	p.setBurstWindow(50 * time.Millisecond)
	if n := p.take(now, 64); n != 0 {
		t.Errorf("granted %d right after a new burst window with owed spent, want 0 (owed kept)", n)
	}
	now = now.Add(2 * time.Second)
	got = 0
	for p.take(now, 64) > 0 {
		got += 64
	}
	if want := flowBurst(10000, 64, 50*time.Millisecond) / 64 * 64; got != want || want <= flowBurst(10000, 64, 2*batchLinger) {
		t.Errorf("granted %d at once after idling with a 50 ms window, want %d", got, want)
	}
	// Unlimited.
	if u := newRunPacer(0, 64, 2*batchLinger); u.take(now, 500) != 500 || u.wait(now, 500, 500) != 0 {
		t.Error("an unlimited pacer refused")
	}
	// Once's: one batch.
	o := newOncePacer(100, 1)
	if o.take(t0, 1) != 1 || o.take(t0, 1) != 0 {
		t.Error("once pacer: want one token, then none")
	}
}

// TestRunTurnsEndTurn: RunTurns calls endTurn after every turn that gave
// results, before the loop sleeps, never after a turn that gave none, and
// once more for the results of the last turn when Run returns: a caller
// gathering the results (the monitor's engine source) hands on all it got
// before the engine sleeps, once a turn. Run in fake time at 100k targets
// every 10 s scaled down tenfold, with some targets unanswered (their
// timeouts come from the loop's sweeps) and some unreachable.
func TestRunTurnsEndTurn(t *testing.T) {
	n := newFakeNet()
	e := n.engine(Config{Interval: time.Second, Rate: 10000, Batch: 64, Timeout: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.virtual(e, 3*time.Second, time.Millisecond, time.Microsecond, cancel)
	ts := fakeTargets(10000, 0)
	for i := 0; i < len(ts); i += 97 {
		n.drop[ts[i].Addr] = true
	}
	for i := 50; i < len(ts); i += 101 {
		n.unreach[ts[i].Addr] = true
	}
	e.SetTargets(ts)
	var results, pending, turns, empty, unflushed int
	outcomes := map[Outcome]int{}
	n.onSleep = func() {
		if pending > 0 {
			unflushed++
		}
	}
	err := e.RunTurns(ctx, func(r *Result) {
		results++
		pending++
		outcomes[r.Outcome]++
	}, func() {
		if pending == 0 {
			empty++
		}
		pending = 0
		turns++
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d results (%v) in %d turns, %d sleeps", results, outcomes, turns, n.sleeps)
	if outcomes[OutcomeOK] == 0 || outcomes[OutcomeTimeout] == 0 || outcomes[OutcomeICMPError] == 0 {
		t.Fatalf("outcomes %v: want replies, timeouts and ICMP errors", outcomes)
	}
	if unflushed > 0 {
		t.Errorf("the loop slept %d times with results endTurn had not followed", unflushed)
	}
	if pending > 0 {
		t.Errorf("RunTurns returned with %d results endTurn had not followed", pending)
	}
	if empty > 0 {
		t.Errorf("endTurn called %d times after turns without results", empty)
	}
	if turns > n.sleeps+1 {
		t.Errorf("%d endTurn calls for %d sleeps: want at most one a turn", turns, n.sleeps)
	}
	if turns == 0 || results/turns < 10 {
		t.Errorf("%d results in %d turns: want them handed on many a turn", results, turns)
	}
}

// TestLingerFor: Run's linger is a twentieth of the jitter, between
// batchLinger and maxLinger, and short enough that a turn collects at
// most turnProbes at the loop's rate (the targets' or the configured
// rate, the lower).
func TestLingerFor(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		rate, targets  int
		interval, want time.Duration
	}{
		{10000, 100000, 10 * time.Second, 25 * ms},   // the daemon's default rate: 100k @ 10 s
		{10000, 1000000, 60 * time.Second, 25 * ms},  // 1M @ 60 s, held to the rate
		{-1, 1000000, 60 * time.Second, 25 * ms},     // unlimited: 16,667/s, 512 in 30 ms
		{-1, 1000000, 40 * time.Second, 20 * ms},     // 25,000/s: 512 in 20.5 ms
		{-1, 1000000, 10 * time.Second, batchLinger}, // 100,000/s: 5 ms, not below 10
		{10000, 1000, time.Second, batchLinger},      // 50 ms of jitter: 2.5 ms, not below 10
		{10000, 1000, 4 * time.Second, batchLinger},  // 200 ms: 10 ms
		{10000, 1000, 6 * time.Second, 15 * ms},      // 300 ms: 15 ms
		{10000, 0, 10 * time.Second, 25 * ms},        // no targets yet
		{10000, 10, time.Hour, maxLinger},
	}
	for _, c := range cases {
		e := newEngine(Config{Rate: c.rate, Interval: c.interval})
		got := e.lingerFor(c.targets, c.interval, e.cfg.Jitter)
		if got.Round(ms) != c.want {
			t.Errorf("rate %d, %d targets every %v (jitter %v): linger %v, want %v", c.rate, c.targets, c.interval, e.cfg.Jitter, got, c.want)
		}
	}
}
