// SPDX-License-Identifier: MIT

package pingstate

import (
	"math"
	"sync"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Tracker is the one target's state: pingstate's state machine and its
// last RecentLen results. Safe for concurrent use.
type Tracker struct {
	fsm   state.Config
	probe string

	mu          sync.Mutex // guards everything below
	st          state.State
	since       time.Time
	started     time.Time
	transitions uint32
	fails, oks  int
	last        *entry
	recent      [RecentLen]entry
	n           int // results kept in recent (ring: oldest at (next-n))
	next        int
}

type entry struct {
	at     time.Time
	failed bool
	state  state.State
	detail string
	rtt    time.Duration
}

// NewTracker returns a tracker in state unknown since now. probe is the
// status object's "probe" text.
func NewTracker(probe string, now time.Time) *Tracker {
	return &Tracker{fsm: state.Config{FailuresToDown: state.DefaultFailuresToDown, SuccessesToUp: state.DefaultSuccessesToUp},
		probe: probe, since: now, started: now}
}

// Observe applies one result and returns the states before and after.
func (t *Tracker) Observe(o obs.Observation) (old, cur state.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	failed := o.Outcome.Failed()
	if failed {
		t.fails, t.oks = t.fails+1, 0
	} else {
		t.oks, t.fails = t.oks+1, 0
	}
	old = t.st
	t.st = state.Step(t.fsm, t.st, failed, t.fails, t.oks)
	if t.st != old {
		t.transitions++
		t.since = o.At
	}
	d := o.Detail
	if failed && o.Problem != "" {
		d = o.Problem
	}
	e := entry{at: o.At, failed: failed, state: t.st, detail: d, rtt: o.RTT}
	t.recent[t.next] = e
	t.next = (t.next + 1) % RecentLen
	if t.n < RecentLen {
		t.n++
	}
	t.last = &t.recent[(t.next+RecentLen-1)%RecentLen]
	return old, t.st
}

// State is the current state.
func (t *Tracker) State() state.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// RecentJSON is one entry of the status object's recent list.
type RecentJSON struct {
	TS     float64 `json:"ts"`    // unix seconds
	Event  string  `json:"event"` // "ok" or "fail"
	State  string  `json:"state"` // the state after this result
	Detail string  `json:"detail"`
}

// StatusJSON is pingstate's status object (/ and /status). The keys are
// those of hb-probe's /api/v1/hosts/{name}/status, plus the per-entry
// state pingstate has in recent.
type StatusJSON struct {
	State         string       `json:"state"`
	LastEvent     *string      `json:"last_event"`
	LastDetail    *string      `json:"last_detail"`
	LastLatencyMS *float64     `json:"last_latency_ms"`
	UptimeInState float64      `json:"uptime_in_state_s"`
	LastCheckTS   *float64     `json:"last_check_ts"`
	LastCheckAge  *float64     `json:"last_check_age_s"`
	Transitions   uint32       `json:"transitions"`
	Recent        []RecentJSON `json:"recent"`
	Probe         string       `json:"probe"`
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func event(failed bool) string {
	if failed {
		return "fail"
	}
	return "ok"
}

func unix(t time.Time) float64 { return math.Round(float64(t.UnixNano())/1e6) / 1e3 }

// Status returns the status object at now.
func (t *Tracker) Status(now time.Time) StatusJSON {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := StatusJSON{
		State:         t.st.String(),
		UptimeInState: round1(now.Sub(t.since).Seconds()),
		Transitions:   t.transitions,
		Recent:        make([]RecentJSON, 0, t.n),
		Probe:         t.probe,
	}
	if l := t.last; l != nil {
		ev, d := event(l.failed), l.detail
		s.LastEvent, s.LastDetail = &ev, &d
		if !l.failed {
			ms := float64(l.rtt.Microseconds()) / 1e3
			s.LastLatencyMS = &ms
		}
		ts, age := unix(l.at), round1(now.Sub(l.at).Seconds())
		s.LastCheckTS, s.LastCheckAge = &ts, &age
	}
	for i := t.n; i > 0; i-- {
		e := t.recent[(t.next-i+RecentLen)%RecentLen]
		s.Recent = append(s.Recent, RecentJSON{TS: unix(e.at), Event: event(e.failed), State: e.state.String(), Detail: e.detail})
	}
	return s
}
