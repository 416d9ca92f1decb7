// SPDX-License-Identifier: MIT

package alert

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hbmon/hb/alert/match"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Op is a threshold rule's comparison.
type Op uint8

// Operators. OpNagios reads the value as a Nagios exit code.
const (
	OpInvalid Op = iota
	OpGT
	OpGE
	OpLT
	OpLE
	OpEQ
	OpNE
	OpNagios
)

var opSymbols = [...]string{"?", ">", ">=", "<", "<=", "==", "!=", "nagios"}

func (o Op) String() string {
	if int(o) < len(opSymbols) {
		return opSymbols[o]
	}
	return "?"
}

// ParseOp parses an operator symbol.
func ParseOp(s string) (Op, error) {
	for i, x := range opSymbols {
		if i > 0 && x == s {
			return Op(i), nil
		}
	}
	return OpInvalid, fmt.Errorf("unknown operator %q", s)
}

// Rule is one compiled rule.
type Rule struct {
	Name    string
	Profile string
	Select  match.Selector
	kinds   uint32 // bit per obs.Kind; 0: any

	// State rule.
	IsState  bool
	State    state.State // Degraded or Down
	Missing  bool        // state = "missing": Down of a heartbeat or pulse check
	Severity Level

	// Threshold rule.
	Metric     string
	Op         Op
	Warn, Crit float64
	HasWarn    bool
	HasCrit    bool
	Hysteresis float64
	Count      int

	For      time.Duration
	Display  Template
	Disabled bool
}

// MatchesKind reports whether the rule applies to checks of kind k.
func (r *Rule) MatchesKind(k obs.Kind) bool { return r.kinds == 0 || r.kinds&(1<<k) != 0 }

// compileRule builds a Rule from its config.
func compileRule(c *config.AlertRule) (*Rule, error) {
	r := &Rule{Name: c.RuleName(), Profile: c.Profile, Disabled: c.Disabled, For: c.For.D(), Count: c.Count, Hysteresis: c.Hysteresis}
	var err error
	if r.Select, err = match.ParseSelector(c.Select); err != nil {
		return nil, err
	}
	for _, k := range strings.Split(c.Kind, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		kind, ok := obs.ParseKind(k)
		if !ok {
			return nil, fmt.Errorf("unknown check kind %q", k)
		}
		r.kinds |= 1 << kind
	}
	switch {
	case c.State != "":
		r.IsState = true
		switch c.State {
		case "degraded":
			r.State = state.Degraded
		case "down":
			r.State = state.Down
		case "missing":
			r.State, r.Missing = state.Down, true
			if r.kinds == 0 {
				r.kinds = 1<<obs.KindHeartbeat | 1<<obs.KindPulse
			}
		default:
			return nil, fmt.Errorf("unknown state %q", c.State)
		}
		r.Severity = Critical
		if c.Severity != "" {
			if r.Severity, err = ParseLevel(c.Severity); err != nil {
				return nil, err
			}
		}
		if c.Display == "" {
			c.Display = "{host} {check} is {state}"
			if r.Missing {
				c.Display = "{host} {check}: heartbeat missing"
			}
		}
	case c.Metric != "" && c.Disabled:
		r.Metric = c.Metric // only removes the rule of that name
	case c.Metric != "":
		r.Metric = c.Metric
		if r.Op, err = ParseOp(c.Op); err != nil {
			return nil, err
		}
		if c.Warning != nil {
			r.Warn, r.HasWarn = *c.Warning, true
		}
		if c.Critical != nil {
			r.Crit, r.HasCrit = *c.Critical, true
		}
		if !r.HasWarn && !r.HasCrit && r.Op != OpNagios && !r.Disabled {
			return nil, errors.New("a threshold rule needs warning, critical or both")
		}
		if c.Display == "" {
			c.Display = "{host} {metric_name} = {value} ({op_symbol} {threshold_value})"
			if r.Op == OpNagios {
				c.Display = "{host} {metric_name}: exit code {value}"
			}
		}
	case !r.Disabled:
		return nil, errors.New("set state or metric")
	}
	if r.Display, err = ParseTemplate(c.Display); err != nil {
		return nil, err
	}
	return r, nil
}

// Assess returns the level value v warrants, given the alert's current
// level cur (hysteresis keeps a breached level until v recovers past the
// threshold by Hysteresis × |threshold|), and the threshold it compared
// against (the critical one when critical, else the warning one).
//
// For op ">" with critical 90 and hysteresis 0.1, a critical alert stays
// critical while v > 81 and falls back at 81.
func (r *Rule) Assess(v float64, cur Level) (Level, float64) {
	if r.Op == OpNagios {
		switch {
		case v == 0:
			return OK, v
		case v == 1:
			return Warning, v
		case v == 2:
			return Critical, v
		}
		return Unknown, v
	}
	if math.IsNaN(v) {
		return Unknown, math.NaN()
	}
	if r.HasCrit && r.breach(v, r.Crit, cur == Critical) {
		return Critical, r.Crit
	}
	if r.HasWarn && r.breach(v, r.Warn, cur == Critical || cur == Warning) {
		return Warning, r.Warn
	}
	if r.HasWarn {
		return OK, r.Warn
	}
	return OK, r.Crit
}

// breach compares v with t; held says the level is already breached, so
// the hysteresis band counts as a breach too.
func (r *Rule) breach(v, t float64, held bool) bool {
	band := 0.0
	if held {
		band = r.Hysteresis * math.Abs(t)
	}
	switch r.Op {
	case OpGT:
		return v > t-band
	case OpGE:
		return v >= t-band
	case OpLT:
		return v < t+band
	case OpLE:
		return v <= t+band
	case OpEQ:
		return v == t
	case OpNE:
		return v != t
	}
	return false
}

// Track is the part of an alert that the rule's timing works on: its
// level and the streak of evaluations worse than it.
type Track struct {
	Level     Level     `json:"level"`
	Since     time.Time `json:"since"`      // when Level was entered
	PendLevel Level     `json:"pend_level"` // newest level of the current worse streak
	PendN     int       `json:"pend_n"`     // evaluations in the streak
	PendSince time.Time `json:"pend_since"` // first evaluation of the streak
}

// Step applies one evaluation (raw, the level the newest value warrants)
// at now. A worse level is taken once it was seen Count times in a row and
// has lasted For; a better one at once. It returns whether Level changed.
func (r *Rule) Step(t *Track, raw Level, now time.Time) bool {
	if raw.rank() > t.Level.rank() {
		if t.PendN == 0 {
			t.PendSince = now
		}
		t.PendN++
		t.PendLevel = raw
		return r.Due(t, now)
	}
	t.PendN = 0
	if raw != t.Level {
		t.Level, t.Since = raw, now
		return true
	}
	return false
}

// Due takes a pending worse level whose count and duration are met; the
// engine calls it on every tick too, so For elapses without new values.
func (r *Rule) Due(t *Track, now time.Time) bool {
	if t.PendN == 0 || t.PendN < max(r.Count, 1) || now.Sub(t.PendSince) < r.For {
		return false
	}
	t.Level, t.Since = t.PendLevel, now
	t.PendN = 0
	return true
}

// Rules is a compiled rule configuration: the base rules and the named
// threshold profiles (hbd's threshold_configs).
type Rules struct {
	base     []*Rule
	profiles map[string][]*Rule
	sets     map[string]*RuleSet // by threshold_configs value
}

// RuleSet is the rules one host gets: the base rules overlaid, left to
// right, by the profiles its threshold_configs label names.
type RuleSet struct {
	State  []*Rule
	metric map[string][]*Rule // by metric name; several when selectors differ
}

// Compile builds the rules of cfg. Errors name FILE:LINE when the config
// was located.
func Compile(cfg *config.Alerts) (*Rules, error) {
	rs := &Rules{profiles: map[string][]*Rule{}, sets: map[string]*RuleSet{}}
	var errs []error
	for i := range cfg.Rules {
		c := cfg.Rules[i] // copy: compileRule fills in the default display
		r, err := compileRule(&c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%salerts.rules[%d]: %w", cfg.Pos("rules", i), i, err))
			continue
		}
		if r.Profile == "" {
			rs.base = append(rs.base, r)
		} else {
			rs.profiles[r.Profile] = append(rs.profiles[r.Profile], r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rs.sets[""] = rs.resolve("")
	return rs, nil
}

// Len is the number of rules.
func (rs *Rules) Len() int {
	n := len(rs.base)
	for _, p := range rs.profiles {
		n += len(p)
	}
	return n
}

// HasProfile reports whether a profile of that name exists.
func (rs *Rules) HasProfile(name string) bool { _, ok := rs.profiles[name]; return ok }

// For returns the rule set for a threshold_configs value ("web,db").
// Not safe for concurrent use (the engine holds its lock).
func (rs *Rules) For(profiles string) *RuleSet {
	if s, ok := rs.sets[profiles]; ok {
		return s
	}
	s := rs.resolve(profiles)
	rs.sets[profiles] = s
	return s
}

func (rs *Rules) resolve(profiles string) *RuleSet {
	order := []string{}
	byName := map[string]*Rule{}
	add := func(rules []*Rule) {
		for _, r := range rules {
			key := r.Name
			if r.Metric != "" && r.Name == r.Metric {
				key = "metric:" + r.Metric
			}
			if _, ok := byName[key]; !ok {
				order = append(order, key)
			}
			byName[key] = r
		}
	}
	add(rs.base)
	for _, p := range strings.Split(profiles, ",") {
		if p = strings.TrimSpace(p); p != "" {
			add(rs.profiles[p])
		}
	}
	set := &RuleSet{metric: map[string][]*Rule{}}
	for _, k := range order {
		r := byName[k]
		if r.Disabled {
			continue
		}
		if r.IsState {
			set.State = append(set.State, r)
		} else {
			set.metric[r.Metric] = append(set.metric[r.Metric], r)
		}
	}
	return set
}

// Lookup finds the rule for a metric named name with hbd's generic
// matching: the full name first, then with leading segments (separated by
// "." or "_") stripped one by one ("disk_srv_data_used_ratio",
// "srv_data_used_ratio", "data_used_ratio", "used_ratio", "ratio"). It
// returns the rule and the stripped prefix without its last separator,
// which becomes {check_name}. ok filters candidates (kind, selector).
func (s *RuleSet) Lookup(name string, ok func(*Rule) bool) (*Rule, string) {
	rest := name
	for {
		for _, r := range s.metric[rest] {
			if ok(r) {
				p := name[:len(name)-len(rest)]
				if p != "" {
					p = p[:len(p)-1]
				}
				return r, p
			}
		}
		i := strings.IndexAny(rest, "._")
		if i < 0 {
			return nil, ""
		}
		rest = rest[i+1:]
	}
}
