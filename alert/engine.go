// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/alert/match"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Enqueuer takes finished messages; *notify.Outbox is one.
type Enqueuer interface {
	EnqueueAll([]notify.Queued) error
}

// HostInfo is what the engine needs to know of a host: its labels (owner,
// managers, monitors, threshold_configs, anything from the target list)
// and the host it depends on.
type HostInfo struct {
	Labels state.Labels
	Parent string // "" none; a "parent" label serves too
	// Host is the state table's host, when the engine runs beside one
	// (the daemon): the host's derived state and its checks' kinds and
	// states are then read from the table, and the engine keeps no copy
	// of them per check. nil: the engine caches them from the events.
	Host *state.Host
}

// ParentName is the host's parent: Parent, else its parent label.
func (h HostInfo) ParentName() string {
	if h.Parent != "" {
		return h.Parent
	}
	p, _ := h.Labels.Get("parent")
	return p
}

// HostLabels returns what the engine knows of a host and whether it
// exists.
type HostLabels func(host string) (HostInfo, bool)

// Options configures an Engine.
type Options struct {
	Config config.Alerts
	Users  []config.User
	// Channels: the built channels (for min_level); names only matter.
	Channels map[string]*notify.Spec
	Out      Enqueuer   // nil: notifications are counted and dropped
	Hosts    HostLabels // nil: no labels
	DB       *notify.DB // nil: nothing persists
	Log      *slog.Logger
}

// Alert is one (host, check, rule, metric)'s alert. The engine owns it;
// the API gets copies.
type Alert struct {
	ID        uint64   `json:"id"`
	Host      string   `json:"host"`
	Check     string   `json:"check"`
	Kind      obs.Kind `json:"-"`
	KindName  string   `json:"kind"`
	Rule      string   `json:"rule"`
	Metric    string   `json:"metric,omitempty"`     // full metric name (threshold rules)
	CheckName string   `json:"check_name,omitempty"` // {check_name}: the generic-matching prefix, or the check
	Track
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	Op        string    `json:"op,omitempty"`
	Text      string    `json:"text"`
	StartsAt  time.Time `json:"starts_at,omitzero"` // first left OK (this episode)

	Notified   Level     `json:"notified_level"` // level last notified; OK: none outstanding
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	Channels   []string  `json:"channels,omitempty"` // got this episode's notifications

	Acked      bool      `json:"acknowledged"`
	AckedBy    string    `json:"acknowledged_by,omitempty"`
	AckComment string    `json:"ack_comment,omitempty"`
	AckedAt    time.Time `json:"acknowledged_at,omitzero"`

	Held     string      `json:"held,omitempty"`  // "unreachable behind PARENT", "host down"
	Muted    string      `json:"muted,omitempty"` // held back a notification: "silence 3", "maintenance backups"
	Flapping bool        `json:"flapping,omitempty"`
	Changes  []time.Time `json:"changes,omitempty"` // level changes within the flap window

	// Silenced: what covers the alert at the time it was listed (List
	// fills it in on its copies; the engine's own alerts never carry it,
	// so it is not stored).
	Silenced *Silenced `json:"silenced,omitempty"`

	rule *Rule
	// dirty: a stored field changed since the last save (written at the
	// next one); stale: only the shown value, text or streak length did
	// (written by the next save after staleSaveInterval).
	dirty, stale bool
}

// akey is an alert's identity: a struct, so map lookups allocate nothing.
type akey struct{ host, check, rule, metric string }

func (a *Alert) mkey() akey { return akey{a.Host, a.Check, a.Rule, a.Metric} }

// key is the identity as one string (database key, id hash, sorting).
func (a *Alert) key() string { return alertKey(a.Host, a.Check, a.Rule, a.Metric) }

func alertKey(host, check, rule, metric string) string {
	return host + "\x00" + check + "\x00" + rule + "\x00" + metric
}

// alertID is a stable id for a key: FNV-64a folded into 53 bits, so it
// survives JSON numbers.
func alertID(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64() & (1<<53 - 1)
}

// note is one notification-worthy event waiting for the group flush.
type note struct {
	a     *Alert
	event string // firing, escalated, renotify, resolved, flapping
	level Level
	prev  Level
	at    time.Time
}

// checkInfo is what the engine knows of one check.
type checkInfo struct {
	kind  obs.Kind
	state state.State
}

// Engine evaluates rules on events and keeps the alerts. Its methods are
// safe for concurrent use; Handle and Tick take the time from their
// arguments, so tests drive it with a fake clock.
type Engine struct {
	mu       sync.Mutex // guards everything below
	cfg      config.Alerts
	users    map[string][]string // user -> channels
	rules    *Rules
	chans    map[string]*notify.Spec
	routes   []route
	maint    []maintenance
	silences map[int64]*Silence
	alerts   map[akey]*Alert
	byID     map[uint64]*Alert
	checks   map[string]map[string]checkInfo // host -> check -> info, for hosts without HostInfo.Host
	hostSt   map[string]state.State          // (same)
	pending  []note
	firstAt  time.Time // oldest pending note
	deleted  []string  // keys to delete from the db
	vals     []Value   // scratch
	lv       labelView // handle's scratch: a local one escapes (to the matchers), one allocation per event
	results  bool      // Result events arrive (StateChange ones then only update the caches)
	pruned   time.Time // last sweep of checks/hostSt for hosts that are gone
	out      Enqueuer
	hosts    HostLabels
	db       *notify.DB
	log      *slog.Logger
	stats    engineStats

	// saveMu orders saves: each collects the changed alerts and queues
	// their write before the next collects. It is taken before mu, and
	// neither is held while waiting for the writer.
	saveMu sync.Mutex
	// silenceMu serialises the API's silence writes (add, update,
	// delete): each reads the silence, waits for its write's commit and
	// updates silences before the next starts, so memory ends as the
	// database does. It is taken before mu and is never taken by
	// evaluation, which therefore does not wait for those commits.
	silenceMu sync.Mutex
	failMu    sync.Mutex // guards failed
	failed    []string   // keys of alerts whose write failed: written again

	saveErrors    atomic.Uint64 // failed writes of alert state
	rowsWritten   atomic.Uint64 // alert rows written (inserted, updated or deleted) by committed saves
	staleSaved    time.Time     // last tick whose save took the stale alerts (under saveMu)
	enqueueErrors atomic.Uint64 // failed EnqueueAll calls (their messages are lost)
}

type engineStats struct {
	events, evaluations, notes, dropped, held, muted, flaps, messages uint64
}

type route struct {
	sel      match.Selector
	channels []string
	users    []string
}

type maintenance struct {
	name    string
	match   string // the selector as written
	comment string
	sel     match.Selector
	sched   *match.Schedule
	dur     time.Duration
}

// New builds an engine, compiling the rules and restoring alerts and
// silences from the database.
func New(o Options) (*Engine, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		alerts: map[akey]*Alert{}, byID: map[uint64]*Alert{}, checks: map[string]map[string]checkInfo{},
		hostSt: map[string]state.State{}, silences: map[int64]*Silence{},
		out: o.Out, hosts: o.Hosts, db: o.DB, log: o.Log,
	}
	if err := e.Reload(o.Config, o.Users, o.Channels); err != nil {
		return nil, err
	}
	if e.db != nil {
		if err := e.restore(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Reload replaces rules, routes, channels and users, keeping every alert's
// state. On error nothing changes.
func (e *Engine) Reload(cfg config.Alerts, users []config.User, chans map[string]*notify.Spec) error {
	rules, err := Compile(&cfg)
	if err != nil {
		return err
	}
	var routes []route
	var errs []error
	for i, r := range cfg.Routes {
		sel, err := match.ParseSelector(r.Match)
		if err != nil {
			errs = append(errs, fmt.Errorf("%salerts.routes[%d].match: %w", cfg.Pos("routes", i), i, err))
		}
		routes = append(routes, route{sel: sel, channels: r.Channels, users: r.Users})
	}
	var maint []maintenance
	for i, m := range cfg.Maintenance {
		sel, err1 := match.ParseSelector(m.Match)
		sc, err2 := match.ParseSchedule(m.Schedule)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("%salerts.maintenance[%d]: %w", cfg.Pos("maintenance", i), i, err))
			continue
		}
		maint = append(maint, maintenance{name: m.Name, match: m.Match, comment: m.Comment, sel: sel, sched: sc, dur: m.Duration.D()})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	um := map[string][]string{}
	for _, u := range users {
		um[u.Name] = u.Channels
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg, e.rules, e.routes, e.maint, e.users, e.chans = cfg, rules, routes, maint, um, chans
	for _, a := range e.alerts {
		a.rule = nil // re-resolved on the next evaluation or tick
	}
	return nil
}

// Handle feeds one event to the engine (the sink loop calls it for every
// Result and StateChange event).
func (e *Engine) Handle(ev *event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handle(ev)
}

func (e *Engine) handle(ev *event.Event) {
	if ev.Host == "" {
		return
	}
	e.stats.events++
	now := ev.At
	if ev.Type != event.Result && ev.Type != event.StateChange {
		return
	}
	cs := ev.New
	if ev.Type == event.Result && ev.Snap != nil {
		cs = ev.Snap.State
	}
	hi, _ := e.hostLabels(ev.Host)
	if hi.Host == nil {
		// No table to read states from: cache them.
		if ev.Type == event.StateChange || ev.HostNew != state.Unknown {
			e.hostSt[ev.Host] = ev.HostNew
		}
		hc := e.checks[ev.Host]
		if hc == nil {
			hc = map[string]checkInfo{}
			e.checks[ev.Host] = hc
		}
		hc[ev.Check] = checkInfo{kind: ev.Kind, state: cs}
	}
	if ev.Type == event.Result {
		e.results = true
	} else if e.results {
		return // the Result before this StateChange was evaluated already
	}

	profiles, _ := hi.Labels.Get("threshold_configs")
	set := e.rules.For(profiles)
	lv := &e.lv
	*lv = labelView{labels: hi.Labels, parent: hi.Parent, host: ev.Host, check: ev.Check, kind: ev.Kind}
	defer func() { *lv = labelView{} }() // hold no host's labels

	for _, r := range set.State {
		if !r.MatchesKind(ev.Kind) || !r.Select.Match(lv) {
			continue
		}
		raw := OK
		if stateMeets(cs, r.State) {
			raw = r.Severity
		}
		e.evaluate(r, ev.Host, ev.Check, ev.Kind, "", ev.Check, raw, 0, 0, now, lv, nil)
	}
	if ev.Type != event.Result {
		return
	}
	e.vals = AppendValues(e.vals[:0], ev)
	for _, v := range e.vals {
		r, prefix := set.Lookup(v.Name, func(r *Rule) bool { return r.MatchesKind(ev.Kind) && r.Select.Match(lv) })
		if r == nil {
			continue
		}
		checkName := prefix
		if checkName == "" {
			checkName = ev.Check
		}
		key := akey{ev.Host, ev.Check, r.Name, v.Name}
		cur := OK
		if a := e.alerts[key]; a != nil {
			cur = a.Level
		}
		raw, thr := r.Assess(v.V, cur)
		e.evaluate(r, ev.Host, ev.Check, ev.Kind, v.Name, checkName, raw, v.V, thr, now, lv, e.vals)
	}
}

// stateMeets reports whether a check in state s meets a state rule for want
// (down meets degraded too).
func stateMeets(s, want state.State) bool {
	if want == state.Degraded {
		return s == state.Degraded || s == state.Down
	}
	return s == want
}

func (e *Engine) evaluate(r *Rule, host, check string, kind obs.Kind, metric, checkName string, raw Level, v, thr float64, now time.Time, lv *labelView, vals []Value) {
	e.stats.evaluations++
	key := akey{host, check, r.Name, metric}
	a := e.alerts[key]
	if a == nil {
		if raw == OK {
			return
		}
		a = &Alert{Host: host, Check: check, Kind: kind, KindName: kind.String(), Rule: r.Name, Metric: metric, dirty: true}
		a.ID = alertID(a.key())
		e.alerts[key], e.byID[a.ID] = a, a
	}
	a.rule = r
	shown, text := a.CheckName != checkName, a.Text
	a.CheckName = checkName
	if !r.IsState {
		shown = shown || a.Value != v || a.Threshold != thr || a.Op != r.Op.String()
		a.Value, a.Threshold, a.Op = v, thr, r.Op.String()
	}
	old, before := a.Level, a.Track
	if r.Step(&a.Track, raw, now) {
		a.Text = e.render(a, r, lv, vals)
		e.changed(a, old, now)
		a.dirty = true
		return
	}
	if a.Level != OK && !r.IsState {
		a.Text = e.render(a, r, lv, vals) // keep the shown value current
	}
	switch {
	case a.PendLevel != before.PendLevel || !a.PendSince.Equal(before.PendSince) || (a.PendN == 0) != (before.PendN == 0):
		a.dirty = true // a streak began, ended or changed level
	case shown || a.Text != text || a.PendN != before.PendN:
		// The value, text and streak length change at every evaluation
		// and matter little after a restart: saved at most every
		// staleSaveInterval (see tick), not every second.
		a.stale = true
	}
}

// render fills the rule's display template.
func (e *Engine) render(a *Alert, r *Rule, lv *labelView, vals []Value) string {
	return r.Display.Render(func(k string) (string, bool) {
		switch k {
		case "value":
			return FormatValue(a.Value), true
		case "threshold_value":
			return FormatValue(a.Threshold), true
		case "op_symbol":
			return a.Op, true
		case "check_name":
			return a.CheckName, true
		case "metric_name":
			return a.Metric, true
		case "host":
			return a.Host, true
		case "check":
			return a.Check, true
		case "kind":
			return a.KindName, true
		case "rule":
			return a.Rule, true
		case "level", "severity":
			return a.Level.String(), true
		case "state":
			if r.IsState {
				if a.Level == OK {
					return "up", true
				}
				return r.State.String(), true
			}
		}
		for _, v := range vals {
			if v.Name == k {
				return FormatValue(v.V), true
			}
		}
		if lv != nil {
			return lv.labels.Get(k)
		}
		return "", false
	})
}

// changed records a level change and queues the notification it earns.
func (e *Engine) changed(a *Alert, old Level, now time.Time) {
	fw := e.cfg.FlapWindow.D()
	a.Changes = append(a.Changes, now)
	for len(a.Changes) > 0 && now.Sub(a.Changes[0]) > fw {
		a.Changes = a.Changes[1:]
	}
	if old == OK {
		a.StartsAt = now
	}
	if e.cfg.FlapChanges > 0 && len(a.Changes) > e.cfg.FlapChanges {
		if !a.Flapping {
			a.Flapping = true
			e.stats.flaps++
			e.queue(a, "flapping", a.Level, old, now)
		}
		return
	}
	if a.Flapping {
		return // the tick ends flapping once the alert holds still
	}
	switch {
	case a.Level == OK:
		a.Acked, a.AckedBy, a.AckComment, a.AckedAt = false, "", "", time.Time{}
		a.Held, a.Muted = "", ""
		if a.Notified != OK || len(a.Channels) > 0 {
			e.queue(a, "resolved", OK, old, now)
		}
		a.Notified = OK
	case a.Level.rank() > a.Notified.rank():
		ev := "firing"
		if a.Notified != OK {
			ev = "escalated"
		}
		e.queue(a, ev, a.Level, old, now)
	default:
		// De-escalation: no notification; a later rise notifies again.
		a.Notified = a.Level
	}
}

func (e *Engine) queue(a *Alert, ev string, lvl, prev Level, now time.Time) {
	if len(e.pending) == 0 {
		e.firstAt = now
	}
	e.pending = append(e.pending, note{a: a, event: ev, level: lvl, prev: prev, at: now})
	e.stats.notes++
}

// staleSaveInterval bounds how often an alert whose only change is its
// shown value, text or streak length is written (a shutdown writes it
// too): during an outage every firing threshold alert's value changes at
// every evaluation, and nothing else about it needs the disk.
const staleSaveInterval = time.Minute

// Tick advances time: pending levels whose For elapsed, re-notification,
// dependency holds, the end of flapping, the group flush, and
// persistence. The daemon calls it every second.
func (e *Engine) Tick(now time.Time) { e.tickOut(now, false) }

// Flush is Tick that sends pending notifications without waiting for
// group_wait (shutdown).
func (e *Engine) Flush(now time.Time) { e.tickOut(now, true) }

func (e *Engine) tickOut(now time.Time, force bool) {
	// saveMu from the flush until the save is queued: no save (an
	// acknowledgement's) takes the alerts the flush marked notified
	// before their messages are committed (EnqueueAll waits for that), so
	// a restart never finds an alert marked notified whose message is
	// missing.
	e.saveMu.Lock()
	e.mu.Lock()
	msgs := e.tick(now)
	if force && len(e.pending) > 0 {
		msgs = append(msgs, e.flush(now)...)
	}
	e.mu.Unlock()
	if len(msgs) > 0 {
		if e.out == nil {
			e.mu.Lock()
			e.stats.dropped += uint64(len(msgs))
			e.mu.Unlock()
		} else if err := e.out.EnqueueAll(msgs); err != nil {
			e.enqueueErrors.Add(1)
			e.log.Error("alert: queueing notifications", "err", err)
		}
	}
	stale := force || now.Sub(e.staleSaved) >= staleSaveInterval
	if stale {
		e.staleSaved = now
	}
	e.saveLocked(force, stale) // waited for only at shutdown
}

func (e *Engine) tick(now time.Time) []notify.Queued {
	renotify := e.cfg.RenotifyInterval.D()
	if e.hosts != nil && now.Sub(e.pruned) > time.Minute {
		e.pruned = now
		for h := range e.checks {
			if _, ok := e.hosts(h); !ok {
				delete(e.checks, h)
				delete(e.hostSt, h)
			}
		}
	}
	for key, a := range e.alerts {
		r := e.ruleOf(a)
		if r == nil {
			// The rule is gone (reload): close the alert.
			if a.Level != OK {
				old := a.Level
				a.Level, a.Since, a.PendN = OK, now, 0
				a.Text += " (rule removed)"
				e.changed(a, old, now)
				a.dirty = true
			}
			if a.Level == OK {
				e.drop(key, a)
			}
			continue
		}
		if a.PendN > 0 {
			old := a.Level
			if r.Due(&a.Track, now) {
				a.Text = e.render(a, r, e.labelViewOf(a), nil)
				e.changed(a, old, now)
				a.dirty = true
			}
		}
		if a.Flapping && (len(a.Changes) == 0 || now.Sub(a.Changes[len(a.Changes)-1]) > e.cfg.FlapWindow.D()) {
			a.Flapping, a.Changes, a.dirty = false, nil, true
			switch {
			case a.Level == OK && (a.Notified != OK || len(a.Channels) > 0):
				e.queue(a, "resolved", OK, a.Notified, now)
				a.Notified = OK
			case a.Level != OK && a.Level != a.Notified:
				e.queue(a, "firing", a.Level, a.Notified, now)
			}
		}
		if a.Held != "" && a.Level != OK && !e.stillHeld(a) {
			a.Held, a.dirty = "", true
			e.queue(a, "firing", a.Level, OK, now)
		}
		if a.Muted != "" && a.Level != OK {
			switch m := e.muted(a, now); {
			case m == "":
				a.Muted, a.dirty = "", true
				e.queue(a, "firing", a.Level, OK, now)
			case m != a.Muted:
				a.Muted, a.dirty = m, true // another silence or window holds it now
			}
		}
		if renotify > 0 && a.Level != OK && a.Notified != OK && !a.Acked && !a.Flapping && a.Held == "" && a.Muted == "" &&
			!a.NotifiedAt.IsZero() && now.Sub(a.NotifiedAt) >= renotify {
			a.NotifiedAt, a.dirty = now, true // not again until the next interval, whatever the flush does
			e.queue(a, "renotify", a.Level, a.Level, now)
		}
		if a.Level == OK && a.PendN == 0 && len(a.Channels) == 0 && !a.Flapping &&
			(len(a.Changes) == 0 || now.Sub(a.Changes[len(a.Changes)-1]) > e.cfg.FlapWindow.D()) {
			e.drop(key, a)
		}
	}
	if len(e.pending) > 0 && e.firstAt.IsZero() { // queued by restore, before any tick
		e.firstAt = now
	}
	if len(e.pending) == 0 || now.Sub(e.firstAt) < e.cfg.GroupWait.D() {
		return nil
	}
	return e.flush(now)
}

func (e *Engine) drop(key akey, a *Alert) {
	delete(e.alerts, key)
	delete(e.byID, a.ID)
	e.deleted = append(e.deleted, a.key())
}

// ruleOf finds the alert's rule in the current rule set.
func (e *Engine) ruleOf(a *Alert) *Rule {
	if a.rule != nil {
		return a.rule
	}
	hi, ok := e.hostLabels(a.Host)
	if e.hosts != nil && !ok {
		return nil // the host is gone: its alerts close
	}
	profiles, _ := hi.Labels.Get("threshold_configs")
	set := e.rules.For(profiles)
	for _, r := range set.State {
		if r.Name == a.Rule {
			a.rule = r
			return r
		}
	}
	if a.Metric != "" {
		lv := labelView{labels: hi.Labels, parent: hi.Parent, host: a.Host, check: a.Check, kind: a.Kind}
		if r, _ := set.Lookup(a.Metric, func(r *Rule) bool { return r.Name == a.Rule && r.Select.Match(&lv) }); r != nil {
			a.rule = r
			return r
		}
	}
	return nil
}

func (e *Engine) hostLabels(host string) (HostInfo, bool) {
	if e.hosts == nil {
		return HostInfo{}, false
	}
	return e.hosts(host)
}

func (e *Engine) labelViewOf(a *Alert) *labelView {
	lv := new(labelView)
	e.fillLabelView(lv, a)
	return lv
}

// fillLabelView sets lv to the labels matchers see for a.
func (e *Engine) fillLabelView(lv *labelView, a *Alert) {
	hi, _ := e.hostLabels(a.Host)
	*lv = labelView{labels: hi.Labels, parent: hi.Parent, host: a.Host, check: a.Check, kind: a.Kind, alert: a}
}

// hostDown reports whether a host is down: its derived state if known,
// else all of its reachability checks are down.
func (e *Engine) hostDown(host string) bool {
	if hi, _ := e.hostLabels(host); hi.Host != nil {
		if s := hi.Host.Status().State; s != state.Unknown {
			return s == state.Down
		}
		any := false
		for i := range hi.Host.NumChecks() {
			c := hi.Host.Check(i)
			if reachability(c.Spec().Kind) {
				any = true
				if c.State() != state.Down {
					return false
				}
			}
		}
		return any
	}
	if s, ok := e.hostSt[host]; ok && s != state.Unknown {
		return s == state.Down
	}
	any := false
	for _, c := range e.checks[host] {
		if reachability(c.kind) {
			any = true
			if c.state != state.Down {
				return false
			}
		}
	}
	return any
}

// reachability reports whether checks of kind k say the host answers the
// network (as opposed to its agent pushing).
func reachability(k obs.Kind) bool {
	return k == obs.KindICMP || k == obs.KindUDP || k == obs.KindTCP || k == obs.KindHTTP
}

// reachableChecks: does the host have a reachability check, and is one up?
func (e *Engine) reachable(host string) (has, up bool) {
	if hi, _ := e.hostLabels(host); hi.Host != nil {
		for i := range hi.Host.NumChecks() {
			c := hi.Host.Check(i)
			if reachability(c.Spec().Kind) {
				has = true
				if s := c.State(); s == state.Up || s == state.Degraded {
					up = true
				}
			}
		}
		return
	}
	for _, c := range e.checks[host] {
		if reachability(c.kind) {
			has = true
			if c.state == state.Up || c.state == state.Degraded {
				up = true
			}
		}
	}
	return
}

// hold decides whether a firing alert is held by a dependency.
func (e *Engine) hold(a *Alert) string {
	hi, _ := e.hostLabels(a.Host)
	if p := hi.ParentName(); p != "" && p != a.Host && e.hostDown(p) {
		return "unreachable behind " + p
	}
	if !reachability(a.Kind) && a.rule != nil && a.rule.IsState {
		if has, up := e.reachable(a.Host); has && !up {
			return "host down"
		}
	}
	return ""
}

func (e *Engine) stillHeld(a *Alert) bool { return e.hold(a) != "" }

// muted names the silence or maintenance window muting a, or "".
func (e *Engine) muted(a *Alert, now time.Time) string {
	return e.mutedLabels(e.labelViewOf(a), now)
}

func (e *Engine) mutedLabels(lv *labelView, now time.Time) string {
	if s, ok := coveredBy(e.covers(now, nil), lv); ok {
		return s.Name()
	}
	return ""
}

// flush turns the pending notes into one message per channel.
func (e *Engine) flush(now time.Time) []notify.Queued {
	notes := e.pending
	e.pending = nil
	byChan := map[string][]notify.Item{}
	var order []string
	add := func(ch string, it notify.Item) {
		if _, ok := byChan[ch]; !ok {
			order = append(order, ch)
		}
		byChan[ch] = append(byChan[ch], it)
	}
	heldBy := map[string]int{}
	type sent struct {
		ch  string
		idx int
	}
	hostItems := map[string][]sent{}
	for _, n := range notes {
		a := n.a
		if n.event != "resolved" && e.alerts[a.mkey()] != a {
			continue // dropped meanwhile
		}
		var chans []string
		switch n.event {
		case "resolved":
			if a.Level != OK {
				continue // fired again before the flush
			}
			chans = a.Channels
			if a.Channels != nil {
				a.Channels, a.dirty = nil, true // the episode is over: a restart must not resend to them
			}
		default:
			if a.Level == OK && n.event != "flapping" {
				continue // recovered before the flush: nothing to say
			}
			if h := e.hold(a); h != "" {
				if a.Held == "" {
					e.stats.held++
				}
				if a.Held != h {
					a.Held, a.dirty = h, true
				}
				if p, ok := strings.CutPrefix(h, "unreachable behind "); ok {
					heldBy[p]++
				}
				continue
			}
			if m := e.muted(a, now); m != "" {
				if a.Muted == "" {
					e.stats.muted++
				}
				if a.Muted != m {
					a.Muted, a.dirty = m, true
				}
				continue
			}
			lvl := n.level
			if n.event == "flapping" && lvl == OK {
				lvl = Warning // flapping is news at every channel that takes warnings
			}
			chans = e.route(a, lvl)
			for _, c := range chans {
				if !slices.Contains(a.Channels, c) {
					a.Channels = append(a.Channels, c)
				}
			}
			if n.event != "flapping" {
				a.Notified = n.level
			}
			a.NotifiedAt, a.dirty = now, true
		}
		it := e.item(a, n)
		for _, c := range chans {
			add(c, it)
			hostItems[a.Host] = append(hostItems[a.Host], sent{c, len(byChan[c]) - 1})
		}
	}
	// Dependencies: name the parent and how many children it hides, on the
	// parent's own notification when it is in this flush, else alone.
	for p, n := range heldBy {
		if hs := hostItems[p]; len(hs) > 0 {
			for _, s := range hs {
				it := &byChan[s.ch][s.idx]
				it.Held += n
				it.Text += fmt.Sprintf(" (%d children held behind it)", n)
			}
			continue
		}
		phi, _ := e.hostLabels(p)
		lv := &labelView{host: p, labels: phi.Labels, parent: phi.Parent}
		if e.mutedLabels(lv, now) != "" {
			continue // the parent is silenced: so is what it holds
		}
		it := notify.Item{ID: alertID(p + "\x00held"), Event: "held", Status: "firing", Level: Critical.String(), Host: p, Rule: "parent_down",
			Text: fmt.Sprintf("%s is down: %d children held behind it", p, n), Held: n, Since: now, StartsAt: now, Labels: lv.labels.Map()}
		for _, c := range e.routeLabels(lv, Critical) {
			add(c, it)
		}
	}
	out := make([]notify.Queued, 0, len(order))
	for _, c := range order {
		m := &notify.Message{Channel: c, Time: now.UTC(), Alerts: byChan[c]}
		m.Finish(e.cfg.GroupNames)
		out = append(out, notify.Queued{Channel: c, Msg: m})
	}
	e.stats.messages += uint64(len(out))
	return out
}

func (e *Engine) item(a *Alert, n note) notify.Item {
	hi, _ := e.hostLabels(a.Host)
	labels := hi.Labels.Map()
	if hi.Parent != "" {
		labels["parent"] = hi.Parent
	}
	it := notify.Item{
		ID: a.ID, Event: n.event, Status: "firing", Level: n.level.String(),
		Host: a.Host, Check: a.Check, Kind: a.KindName, Rule: a.Rule, Metric: a.Metric, Op: a.Op,
		Text: a.Text, Labels: labels, Since: a.Since.UTC(), StartsAt: a.StartsAt.UTC(),
	}
	if n.prev != n.level {
		it.Prev = n.prev.String()
	}
	if a.Metric != "" {
		v, t := a.Value, a.Threshold
		it.Value, it.Threshold = &v, &t
	}
	if n.event == "resolved" {
		it.Status = "resolved"
		end := n.at.UTC()
		it.EndsAt = &end
	}
	if a.rule != nil && a.rule.Missing {
		if has, up := e.reachable(a.Host); has && up && n.event != "resolved" {
			it.Text += " (agent down on a reachable host)"
		}
	}
	if n.event == "flapping" {
		it.Text = fmt.Sprintf("%s is flapping (%d changes in %v); quiet until it holds still", a.key2(), len(a.Changes), e.cfg.FlapWindow.D())
	}
	return it
}

func (a *Alert) key2() string {
	s := a.Host
	if a.Check != "" {
		s += " " + a.Check
	}
	if a.Metric != "" {
		return s + " " + a.Metric
	}
	return s + " " + a.Rule
}

// route returns the channels an alert at level lvl goes to.
func (e *Engine) route(a *Alert, lvl Level) []string {
	return e.routeLabels(e.labelViewOf(a), lvl)
}

func (e *Engine) routeLabels(lv *labelView, lvl Level) []string {
	var chans []string
	addCh := func(cs ...string) {
		for _, c := range cs {
			if !slices.Contains(chans, c) {
				chans = append(chans, c)
			}
		}
	}
	for _, r := range e.routes {
		if r.sel.Match(lv) {
			addCh(r.channels...)
			for _, u := range r.users {
				addCh(e.users[u]...)
			}
		}
	}
	owner, ok := lv.labels.Get("owner")
	if !ok || owner == "" {
		owner = e.cfg.DefaultOwner
	}
	people := []string{owner}
	for _, k := range []string{"managers", "monitors"} {
		if v, ok := lv.labels.Get(k); ok {
			people = append(people, strings.Split(v, ",")...)
		}
	}
	for _, p := range people {
		addCh(e.users[strings.TrimSpace(p)]...)
	}
	if len(chans) == 0 {
		addCh(e.cfg.DefaultChannels...)
	}
	out := chans[:0]
	for _, c := range chans {
		min := Warning
		if s := e.chans[c]; s != nil {
			if l, err := ParseLevel(s.MinLevel); err == nil {
				min = l
			}
		}
		if lvl.AtLeast(min) {
			out = append(out, c)
		}
	}
	return out
}

// labelView is the label set matchers see: the host's labels plus host,
// check, kind and, for an alert, rule, metric and severity.
type labelView struct {
	labels state.Labels
	parent string
	host   string
	check  string
	kind   obs.Kind
	alert  *Alert
}

// Label implements match.Labels.
func (l *labelView) Label(k string) (string, bool) {
	switch k {
	case "host":
		return l.host, true
	case "check":
		return l.check, l.check != ""
	case "kind":
		return l.kind.String(), l.kind != obs.KindInvalid
	case "parent":
		if l.parent != "" {
			return l.parent, true
		}
	}
	if a := l.alert; a != nil {
		switch k {
		case "rule", "alertname":
			return a.Rule, true
		case "metric":
			return a.Metric, a.Metric != ""
		case "severity", "level":
			return strings.ToLower(a.Level.String()), true
		}
	}
	return l.labels.Get(k)
}

// Filter selects alerts for List.
type Filter struct {
	Host     string
	Check    string
	Level    string // OK, WARNING, CRITICAL, UNKNOWN, or "" for every non-OK level
	Acked    *bool
	Silenced *bool // covered by an active silence or maintenance window (at Now), or not
	All      bool  // include OK alerts still tracked (recent recoveries)
	Selector match.Selector
	// Now is the moment the silences are judged at (Alert.Silenced);
	// zero: time.Now().
	Now time.Time
}

// List returns copies of the matching alerts, most urgent first, then by
// host, check and rule, each with Silenced filled in.
func (e *Engine) List(f Filter) []Alert {
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Alert{}
	cs := e.covers(f.Now, nil)
	lv := new(labelView) // one for the whole list: matchers take it as an interface, so it escapes
	for _, a := range e.alerts {
		switch {
		case f.Host != "" && a.Host != f.Host, f.Check != "" && a.Check != f.Check:
			continue
		case f.Level != "" && !strings.EqualFold(a.Level.String(), f.Level):
			continue
		case f.Level == "" && !f.All && a.Level == OK:
			continue
		case f.Acked != nil && a.Acked != *f.Acked:
			continue
		}
		if len(f.Selector) > 0 || len(cs) > 0 {
			e.fillLabelView(lv, a)
		}
		if len(f.Selector) > 0 && !f.Selector.Match(lv) {
			continue
		}
		var sil *Silenced
		if len(cs) > 0 {
			if s, ok := coveredBy(cs, lv); ok {
				sil = new(Silenced)
				*sil = s
			}
		}
		if f.Silenced != nil && (sil != nil) != *f.Silenced {
			continue
		}
		c := *a
		c.Channels = slices.Clone(a.Channels)
		c.Changes = slices.Clone(a.Changes)
		c.Silenced = sil
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Level.rank() != b.Level.rank() {
			return a.Level.rank() > b.Level.rank()
		}
		return a.key() < b.key()
	})
	return out
}

// Summary counts non-OK alerts by level, and those acknowledged, held,
// muted and silenced. Silenced alerts are counted in their level and the
// total too (Silenced says how many of them are covered now): a muted
// outage is still an outage.
type Summary struct {
	Critical     int `json:"critical"`
	Warning      int `json:"warning"`
	Unknown      int `json:"unknown"`
	Acknowledged int `json:"acknowledged"`
	Held         int `json:"held"`
	Muted        int `json:"muted"`
	Silenced     int `json:"silenced"` // covered by an active silence or maintenance window now
	Flapping     int `json:"flapping"`
	Total        int `json:"total"`
}

// Summary returns the counts now.
func (e *Engine) Summary() Summary { return e.SummaryAt(time.Now()) }

// SummaryAt returns the counts, silences judged at now.
func (e *Engine) SummaryAt(now time.Time) Summary {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s Summary
	cs := e.covers(now, nil)
	lv := new(labelView)
	for _, a := range e.alerts {
		silenced := false
		if len(cs) > 0 && a.Level != OK {
			e.fillLabelView(lv, a)
			_, silenced = coveredBy(cs, lv)
		}
		s.add(a, silenced)
	}
	return s
}

// ErrNotFound is returned for an unknown alert id.
var ErrNotFound = errors.New("alert: not found")

// ErrSave wraps a database write that failed (the request itself was
// valid): the API answers it 500, not 400.
var ErrSave = errors.New("alert: database write failed")

// saveError is a failed database write of op: "alert: OP: ERR", both
// ErrSave and ERR.
type saveError struct {
	op  string
	err error
}

func (e saveError) Error() string   { return "alert: " + e.op + ": " + e.err.Error() }
func (e saveError) Unwrap() []error { return []error{ErrSave, e.err} }

// Ack acknowledges the alert with id: re-notification stops until it
// recovers. It returns once the acknowledgement is committed (with a
// database), or the error that kept it from being: it then holds in
// memory and the next tick writes it again.
func (e *Engine) Ack(id uint64, by, comment string, now time.Time) (Alert, error) {
	var out Alert
	found := false
	err := e.acking(func() int {
		a := e.byID[id]
		if a == nil {
			return 0
		}
		a.Acked, a.AckedBy, a.AckComment, a.AckedAt, a.dirty = true, by, comment, now.UTC(), true
		out, found = *a, true
		return 1
	})
	if err == nil && !found {
		return out, ErrNotFound
	}
	return out, err
}

// AckIDs acknowledges the alerts with the given ids (unknown ones are
// skipped) in one write; it returns how many, once committed.
func (e *Engine) AckIDs(ids []uint64, by, comment string, now time.Time) (int, error) {
	n := 0
	err := e.acking(func() int {
		for _, id := range ids {
			if a := e.byID[id]; a != nil {
				a.Acked, a.AckedBy, a.AckComment, a.AckedAt, a.dirty = true, by, comment, now.UTC(), true
				n++
			}
		}
		return n
	})
	return n, err
}

// AckWhere acknowledges every firing alert of host (and check, if given);
// it returns how many, once committed.
func (e *Engine) AckWhere(host, check, by, comment string, now time.Time) (int, error) {
	n := 0
	err := e.acking(func() int {
		for _, a := range e.alerts {
			if a.Level != OK && (host == "" || a.Host == host) && (check == "" || a.Check == check) && !a.Acked {
				a.Acked, a.AckedBy, a.AckComment, a.AckedAt, a.dirty = true, by, comment, now.UTC(), true
				n++
			}
		}
		return n
	})
	return n, err
}

// acking runs change (under mu; it returns how many alerts it changed)
// and, if it changed any, saves them and waits for the commit. saveMu is
// held from the change to the queueing, so no tick's save takes the
// changed alerts first (that one's commit would not be waited for).
func (e *Engine) acking(change func() int) error {
	e.saveMu.Lock()
	e.mu.Lock()
	n := change()
	e.mu.Unlock()
	if n == 0 || e.db == nil {
		e.saveMu.Unlock()
		return nil
	}
	return e.saveLocked(true, false)
}

// Run consumes sub (from event.Bus.SubscribeBatch: it takes what is
// queued at once) until ctx ends or sub closes, ticking every second on
// a goroutine of its own: a tick waits for its notifications' commit (on
// the history store's writer, up to about a second), and events keep
// being evaluated meanwhile. At the end it flushes and saves everything.
func (e *Engine) Run(ctx context.Context, sub *event.Sub) error {
	tctx, stop := context.WithCancel(ctx)
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case now := <-t.C:
				e.Tick(now)
			}
		}
	}()
	defer func() {
		stop()
		<-ticking
		e.Flush(time.Now())
	}()
	var evs []event.Event
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Ready():
			var ok bool
			evs, ok = sub.Take(evs)
			for i := range evs {
				e.Handle(&evs[i])
			}
			if !ok {
				return nil
			}
		}
	}
}

// collectDirty copies the dirty alerts for persist (caller holds e.mu).
// With staleDue it takes the stale ones too.
func (e *Engine) collectDirty(staleDue bool) ([]Alert, []string) {
	var out []Alert
	for _, a := range e.alerts {
		if a.dirty || a.stale && staleDue {
			a.dirty, a.stale = false, false
			c := *a
			c.Channels = slices.Clone(a.Channels)
			c.Changes = slices.Clone(a.Changes)
			out = append(out, c)
		}
	}
	del := e.deleted
	e.deleted = nil
	return out, del
}

func kindOf(s string) obs.Kind {
	k, _ := obs.ParseKind(s)
	return k
}
