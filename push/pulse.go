// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/cron"
	"github.com/hbmon/hb/obs"
)

// PulsesConfig configures Pulses.
type PulsesConfig struct {
	Push      config.Push
	Registrar obs.Registrar // creates pulse checks on first use; nil: only configured pulses
	Bus       *event.Bus    // pulse messages; nil: none
	Events    *EventLog     // watchtower's add-event/list-events; nil: those answer 503
	Log       *slog.Logger
	Now       func() time.Time
}

// Pulses is the obs.Source of pulse checks (dead-man's switches): a
// service pulses and says when the next pulse is due at the latest (next
// in, a cron schedule, or the check's interval); a pulse overdue by more
// than its grace is a Timeout observation, a failure pulse an Error.
// Cancelling stops the monitoring until the next pulse.
type Pulses struct {
	cfg  PulsesConfig
	log  *slog.Logger
	now  func() time.Time
	sink atomic.Pointer[obs.Sink]

	mu     sync.Mutex // guards pulses, auto, pend
	pulses map[string]*pulse
	auto   int
	pend   map[string]bool

	signals, overdue, failures, created atomic.Uint64
}

// pulse is one pulse check's live state. Guarded by Pulses.mu.
type pulse struct {
	name     string
	gen      uint64
	id       int
	hasCheck bool
	interval time.Duration // the check's configured period (0: none)
	grace    time.Duration
	auto     bool

	schedule    *cron.Schedule
	scheduleStr string
	period      time.Duration // how often an overdue pulse is reported again
	deadline    time.Time     // next pulse due by (zero: not armed)
	nextReport  time.Time
	started     time.Time // a /start signal, until the next pulse
	cancelled   bool
	last        time.Time
	lastStatus  string
	alertType   string // watchtower's, kept and listed
	alertTarget string
}

// NewPulses returns the pulse source.
func NewPulses(c PulsesConfig) *Pulses {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Pulses{cfg: c, log: c.Log, now: c.Now, pulses: map[string]*pulse{}, pend: map[string]bool{}}
}

// Name implements obs.Source.
func (p *Pulses) Name() string { return "pulse" }

// Kinds implements obs.Source.
func (p *Pulses) Kinds() []obs.Kind { return []obs.Kind{obs.KindPulse} }

// SetChecks implements obs.Source; live state survives reloads. A
// configured pulse with an interval is armed from now.
func (p *Pulses) SetChecks(gen uint64, checks []obs.Check) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.pulses
	p.pulses = make(map[string]*pulse, len(checks))
	p.auto = 0
	for _, c := range checks {
		if c.Spec.Kind != obs.KindPulse {
			continue
		}
		name := c.Spec.Host
		if n, ok := strings.CutPrefix(c.Spec.Target, "pulse://"); ok && n != "" {
			name = n
		}
		ps := old[name]
		if ps == nil {
			ps = &pulse{name: name}
		}
		ps.gen, ps.id, ps.hasCheck = gen, c.ID, true
		ps.interval = c.Spec.Interval
		ps.grace = time.Duration(p.cfg.Push.PulseGrace)
		if g, err := time.ParseDuration(c.Spec.Params["grace"]); err == nil && g >= 0 {
			ps.grace = g
		}
		if ps.deadline.IsZero() && ps.interval > 0 && !ps.cancelled {
			ps.deadline, ps.period = now.Add(ps.interval), ps.interval
		}
		p.pulses[name] = ps
		if c.Spec.Host != name {
			p.pulses[c.Spec.Host] = ps
		}
		if ps.auto {
			p.auto++
		}
	}
}

// Run implements obs.Source: it reports overdue pulses every second.
func (p *Pulses) Run(ctx context.Context, sink obs.Sink) error {
	p.sink.Store(&sink)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			p.Overdue(now)
		}
	}
}

// Overdue reports a Timeout for every armed pulse past deadline + grace,
// again every period (1 s to 1 min) while it stays overdue, so the state
// machine's failures_to_down is reached without waiting whole periods.
func (p *Pulses) Overdue(now time.Time) {
	sp := p.sink.Load()
	if sp == nil {
		return
	}
	type due struct {
		gen  uint64
		id   int
		text string
	}
	var out []due
	p.mu.Lock()
	for k, ps := range p.pulses {
		if k != ps.name || !ps.hasCheck || ps.cancelled || ps.deadline.IsZero() || now.Before(ps.deadline.Add(ps.grace)) || now.Before(ps.nextReport) {
			continue
		}
		out = append(out, due{ps.gen, ps.id, "pulse overdue: expected by " + ps.deadline.UTC().Format(time.RFC3339)})
		ps.nextReport = now.Add(min(max(ps.period, time.Second), time.Minute))
		ps.lastStatus = "overdue"
	}
	p.mu.Unlock()
	for _, d := range out {
		p.overdue.Add(1)
		(*sp).Observe(d.gen, d.id, obs.Observation{At: now, Outcome: obs.Timeout, Problem: d.text})
	}
}

// Signal kinds.
const (
	SignalOK     = "ok"
	SignalStart  = "start"
	SignalFail   = "fail"
	SignalCancel = "cancel"
)

// PulseRequest is one pulse: the signal and when the next is due.
type PulseRequest struct {
	Name     string
	Signal   string        // SignalOK, SignalStart, SignalFail, SignalCancel
	ExitCode int           // with SignalFail from …/{exit_code}: the code (…/0 is SignalOK)
	NextIn   time.Duration // next pulse due within this (0: the schedule or the check's interval)
	Schedule string        // cron: next pulse due at its next time
	Grace    time.Duration // 0: unchanged
	Create   bool          // create the pulse if it does not exist (auto-create, watchtower)

	AlertType, AlertTarget string // watchtower's, kept for GET /
}

// ErrNoPulse: a pulse for an unknown name when creating is not allowed.
var ErrNoPulse = errors.New("push: no such pulse")

// ErrTooMany: the auto-created pulse limit is reached.
var ErrTooMany = errors.New("push: too many pulses")

// Pulse applies one pulse signal.
func (p *Pulses) Pulse(ctx context.Context, r PulseRequest) error {
	if !validHostName(r.Name) {
		return fmt.Errorf("push: bad pulse name %q (letters, digits, '.', '-', '_')", r.Name)
	}
	var sched *cron.Schedule
	if r.Schedule != "" {
		var err error
		if sched, err = cron.Parse(r.Schedule); err != nil {
			return err
		}
	}
	ps, err := p.get(ctx, r.Name, r.Create)
	if err != nil {
		return err
	}
	now := p.now()
	p.signals.Add(1)
	var o *obs.Observation
	p.mu.Lock()
	if r.AlertType != "" || r.AlertTarget != "" {
		ps.alertType, ps.alertTarget = r.AlertType, r.AlertTarget
	}
	if r.Grace > 0 {
		ps.grace = r.Grace
	}
	switch r.Signal {
	case SignalStart:
		ps.started = now
		ps.lastStatus = "started"
	case SignalCancel:
		ps.cancelled, ps.deadline, ps.started = true, time.Time{}, time.Time{}
		ps.lastStatus = "cancelled"
		o = &obs.Observation{At: now, Outcome: obs.OK, Detail: "pulse cancelled"}
	default:
		ps.cancelled = false
		ps.last = now
		detail := "pulse"
		if !ps.started.IsZero() {
			detail = "pulse after " + now.Sub(ps.started).Round(time.Millisecond).String()
		}
		if r.Signal == SignalFail {
			problem := "pulse reported failure"
			if r.ExitCode != 0 {
				problem = fmt.Sprintf("pulse reported exit code %d", r.ExitCode)
			}
			o = &obs.Observation{At: now, Outcome: obs.Error, Detail: detail, Problem: problem}
			ps.lastStatus = "failed"
			p.failures.Add(1)
		} else {
			o = &obs.Observation{At: now, Outcome: obs.OK, Detail: detail}
			if !ps.started.IsZero() {
				o.RTT, o.Method = now.Sub(ps.started), obs.MethodUser
			}
			ps.lastStatus = "ok"
		}
		ps.started = time.Time{}
		if sched != nil {
			ps.schedule, ps.scheduleStr = sched, r.Schedule
		}
		switch {
		case r.NextIn > 0:
			ps.deadline, ps.period = now.Add(r.NextIn), r.NextIn
			ps.schedule, ps.scheduleStr = nil, ""
		case ps.schedule != nil:
			next := ps.schedule.Next(now)
			ps.deadline, ps.period = next, max(next.Sub(now), time.Minute)
		case ps.interval > 0:
			ps.deadline, ps.period = now.Add(ps.interval), ps.interval
		default:
			ps.deadline = time.Time{}
		}
		ps.nextReport = time.Time{}
	}
	gen, id := ps.gen, ps.id
	p.mu.Unlock()
	if o != nil {
		if sp := p.sink.Load(); sp != nil {
			(*sp).Observe(gen, id, *o)
		}
	}
	return nil
}

// get returns the pulse named name, registering it when create is set.
func (p *Pulses) get(ctx context.Context, name string, create bool) (*pulse, error) {
	p.mu.Lock()
	if ps := p.pulses[name]; ps != nil {
		p.mu.Unlock()
		return ps, nil
	}
	if !create || p.cfg.Registrar == nil {
		p.mu.Unlock()
		return nil, ErrNoPulse
	}
	if p.auto >= p.cfg.Push.MaxPulses || p.pend[name] {
		p.mu.Unlock()
		return nil, ErrTooMany
	}
	p.pend[name] = true
	p.mu.Unlock()
	c, gen, err := p.cfg.Registrar.Register(ctx, obs.CheckSpec{Host: name, Name: "pulse", Kind: obs.KindPulse, Target: "pulse://" + name})
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pend, name)
	if err != nil {
		return nil, fmt.Errorf("push: creating pulse %s: %w", name, err)
	}
	p.created.Add(1)
	ps := p.pulses[name]
	if ps == nil || ps.gen < gen {
		if ps == nil {
			ps = &pulse{name: name, grace: time.Duration(p.cfg.Push.PulseGrace)}
			p.pulses[name] = ps
		}
		ps.gen, ps.id, ps.hasCheck = gen, c.ID, true
	}
	if !ps.auto {
		ps.auto = true
		p.auto++
	}
	return ps, nil
}

// PulseInfo is one pulse as the APIs list it.
type PulseInfo struct {
	Name        string     `json:"name"`
	Status      string     `json:"status"` // new, ok, started, failed, overdue, cancelled
	LastPulse   *time.Time `json:"last_pulse"`
	Deadline    *time.Time `json:"next_due"`
	Grace       float64    `json:"grace_seconds"`
	Schedule    string     `json:"schedule,omitempty"`
	AlertType   string     `json:"alert_type,omitempty"`
	AlertTarget string     `json:"alert_target,omitempty"`
	Created     bool       `json:"created"` // auto-created
}

// List returns every pulse, sorted by name.
func (p *Pulses) List() []PulseInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PulseInfo, 0, len(p.pulses))
	for k, ps := range p.pulses {
		if k != ps.name {
			continue
		}
		i := PulseInfo{Name: ps.name, Status: ps.lastStatus, Grace: ps.grace.Seconds(), Schedule: ps.scheduleStr,
			AlertType: ps.alertType, AlertTarget: ps.alertTarget, Created: ps.auto}
		if i.Status == "" {
			i.Status = "new"
		}
		if !ps.last.IsZero() {
			t := ps.last.UTC()
			i.LastPulse = &t
		}
		if !ps.deadline.IsZero() {
			t := ps.deadline.UTC()
			i.Deadline = &t
		}
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// loggedCheck marks a bus message the event log already holds (written
// synchronously by add-event), so its consumer does not store it twice.
const loggedCheck = "pulse-event"

// Message publishes a pulse's message on the bus (the event log and the
// store record it); logged says the event log has it already.
func (p *Pulses) Message(service string, level event.Level, text string, logged bool) {
	if p.cfg.Bus == nil {
		return
	}
	check := "pulse"
	if logged {
		check = loggedCheck
	}
	p.cfg.Bus.Publish(event.Event{Type: event.Message, At: p.now().UTC(), Host: service, Check: check, Kind: obs.KindPulse,
		Text: text, Level: level, Source: service})
}
