// SPDX-License-Identifier: MIT

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/hbmon/hb/alert/match"
	"github.com/hbmon/hb/obs"
)

// Alerts configures alert rules, channels, routing and maintenance
// windows (alert/, notify/; docs/alerts.md). Silences are made at run time
// through the API and live in the database.
type Alerts struct {
	// RenotifyInterval repeats a firing, unacknowledged alert's
	// notification this often; 0 never repeats.
	RenotifyInterval Duration `toml:"renotify_interval"`
	// GroupWait collects notifications this long before sending, so a
	// mass outage leaves as one grouped message per channel.
	GroupWait Duration `toml:"group_wait"`
	// GroupNames is how many alert names a grouped message lists before
	// "and N more".
	GroupNames int `toml:"group_names"`
	// FlapWindow and FlapChanges: an alert that changes level more than
	// FlapChanges times within FlapWindow is flapping: one "flapping"
	// notification, then silence until it holds still for a window.
	// FlapChanges 0 turns flap detection off.
	FlapWindow  Duration `toml:"flap_window"`
	FlapChanges int      `toml:"flap_changes"`
	// DefaultOwner owns hosts without an owner label (a user name).
	DefaultOwner string `toml:"default_owner"`
	// DefaultChannels get alerts that no route, owner or user claims.
	DefaultChannels []string `toml:"default_channels"`

	Outbox AlertOutbox `toml:"outbox"`

	Rules       []AlertRule        `toml:"rules,omitempty"`
	Channels    []AlertChannel     `toml:"channels,omitempty"`
	Routes      []AlertRoute       `toml:"routes,omitempty"`
	Maintenance []AlertMaintenance `toml:"maintenance,omitempty"`

	// where each [[alerts.X]] table starts in the file, for errors
	// (filled by Locate; not configuration).
	file      string
	lines     map[string][]int
	chanNames map[string]bool // set by validate, for validateUsers
}

// AlertOutbox tunes delivery retries.
type AlertOutbox struct {
	RetryMin    Duration `toml:"retry_min"`     // first retry after this, doubling
	RetryMax    Duration `toml:"retry_max"`     // longest wait between two attempts
	GiveUpAfter Duration `toml:"give_up_after"` // a message still failing after this is marked failed
	Timeout     Duration `toml:"timeout"`       // one delivery attempt's deadline (channels may override)
}

// AlertRule is one state rule (State set) or threshold rule (Metric set).
type AlertRule struct {
	Name    string `toml:"name"`    // unique per profile; default: the metric or kind:state
	Profile string `toml:"profile"` // "" base rules; else part of that threshold profile
	Select  string `toml:"select"`  // label selector the host must match
	Kind    string `toml:"kind"`    // check kinds, comma-separated; "" any

	// State rule: fire when the check's state is State ("degraded",
	// "down"; "missing" is down for heartbeat and pulse checks) for For.
	State    string `toml:"state"`
	Severity string `toml:"severity"` // warning or critical (state rules)

	// Threshold rule on a numeric field or a pushed metric.
	Metric     string   `toml:"metric"`
	Op         string   `toml:"op"` // > >= < <= == != nagios
	Warning    *float64 `toml:"warning"`
	Critical   *float64 `toml:"critical"`
	Hysteresis float64  `toml:"hysteresis"` // fraction of the threshold to recover past (0.1)
	Count      int      `toml:"count"`      // consecutive breaches before the level rises

	For      Duration `toml:"for"`
	Display  string   `toml:"display"` // message template
	Disabled bool     `toml:"disabled"`
}

// AlertChannel is one notification destination.
type AlertChannel struct {
	Name string `toml:"name"`
	// Type: shoutrrr (URL is a shoutrrr service URL), alertmanager (URL is
	// Alertmanager's base URL), webhook (URL gets JSON POSTs) or exec
	// (Command runs with JSON on stdin).
	Type      string            `toml:"type"`
	URL       string            `toml:"url"`
	URLFile   string            `toml:"url_file"` // read URL from this file (keeps secrets out of the config)
	Headers   map[string]string `toml:"headers"`
	Command   []string          `toml:"command"` // exec: absolute path, then arguments
	Timeout   Duration          `toml:"timeout"`
	MinLevel  string            `toml:"min_level"`  // warning (default), critical, unknown
	RateLimit int               `toml:"rate_limit"` // messages per minute; 0 unlimited
}

// AlertRoute sends alerts whose labels match to channels and users.
type AlertRoute struct {
	Match    string   `toml:"match"`
	Channels []string `toml:"channels"`
	Users    []string `toml:"users"`
}

// AlertMaintenance is a recurring window that mutes notifications for
// matching alerts (they are still recorded).
type AlertMaintenance struct {
	Name     string   `toml:"name"`
	Match    string   `toml:"match"`
	Schedule string   `toml:"schedule"` // cron, UTC: "0 2 * * 0"
	Duration Duration `toml:"duration"`
	Comment  string   `toml:"comment"`
}

// User is one person who can log in, be notified, and own hosts (hbd's
// users). Hosts name their people with the owner, managers and monitors
// labels; alerts for a host go to their channels.
type User struct {
	Name     string   `toml:"name"`
	Channels []string `toml:"channels"`
	// Login (web/; config/web.go): a password hash made by `hb-probe
	// passwd NAME`, "pbkdf2:sha256:ITERATIONS$SALT$HASH"; "" cannot log in.
	Password string `toml:"password,omitempty"`
	// Admin sees and manages every host and the settings; other users see
	// the hosts whose owner, managers or monitors labels name them.
	Admin bool `toml:"admin,omitempty"`
	// Tokens are the user's API tokens as "sha256:HEX" of the token
	// (`hb-probe passwd --token NAME` makes one), sent as a bearer token.
	Tokens []string `toml:"tokens,omitempty"`
}

// DefaultAlerts returns the alerting defaults.
func DefaultAlerts() Alerts {
	return Alerts{
		RenotifyInterval: Duration(time.Hour),
		GroupWait:        Duration(5 * time.Second),
		GroupNames:       10,
		FlapWindow:       Duration(10 * time.Minute),
		FlapChanges:      6,
		Outbox: AlertOutbox{
			RetryMin:    Duration(5 * time.Second),
			RetryMax:    Duration(10 * time.Minute),
			GiveUpAfter: Duration(24 * time.Hour),
			Timeout:     Duration(10 * time.Second),
		},
	}
}

// Ops are the threshold operators.
var Ops = []string{">", ">=", "<", "<=", "==", "!=", "nagios"}

// AlertLevels are the levels min_level and severity accept.
var AlertLevels = []string{"warning", "critical", "unknown"}

// ChannelTypes are the channel types.
var ChannelTypes = []string{"shoutrrr", "alertmanager", "webhook", "exec"}

// ChannelType returns c's type: Type, or inferred from URL/Command.
func (c *AlertChannel) ChannelType() string {
	if c.Type != "" {
		return c.Type
	}
	if len(c.Command) > 0 {
		return "exec"
	}
	if strings.HasPrefix(c.URL, "http://") || strings.HasPrefix(c.URL, "https://") {
		return "webhook"
	}
	return "shoutrrr"
}

// Locate records where each [[alerts.rules]], [[alerts.channels]], …
// table starts in the config file at path, so validation errors can name
// FILE:LINE. A file that does not parse is left to the decoder to report.
func (a *Alerts) Locate(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	a.locate(path, b)
}

func (a *Alerts) locate(path string, b []byte) {
	a.file = path
	a.lines = map[string][]int{}
	var p unstable.Parser
	p.Reset(b)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.ArrayTable {
			continue
		}
		k, line := exprKey(&p, e)
		if strings.HasPrefix(k, "alerts.") {
			a.lines[k[len("alerts."):]] = append(a.lines[k[len("alerts."):]], line)
		}
	}
}

// Pos returns "FILE:LINE: " for the i-th entry of the list named key
// ("rules", "channels", "routes", "maintenance"), or "" when unknown.
func (a *Alerts) Pos(key string, i int) string {
	if ls := a.lines[key]; i < len(ls) && ls[i] > 0 {
		return fmt.Sprintf("%s:%d: ", a.file, ls[i])
	}
	return ""
}

func (a *Alerts) validate() []error {
	var errs []error
	bad := func(pos, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%salerts.%s: "+format, append([]any{pos, key}, args...)...))
	}
	if a.RenotifyInterval < 0 {
		bad("", "renotify_interval", "must be >= 0 (0: never), got %v", a.RenotifyInterval)
	}
	if a.GroupWait < 0 || a.GroupWait.D() > 10*time.Minute {
		bad("", "group_wait", "must be 0-10m, got %v", a.GroupWait)
	}
	if a.GroupNames < 1 || a.GroupNames > 1000 {
		bad("", "group_names", "must be 1-1000, got %d", a.GroupNames)
	}
	if a.FlapChanges < 0 {
		bad("", "flap_changes", "must be >= 0 (0: off), got %d", a.FlapChanges)
	}
	if a.FlapChanges > 0 && a.FlapWindow <= 0 {
		bad("", "flap_window", "must be positive, got %v", a.FlapWindow)
	}
	o := a.Outbox
	if o.RetryMin <= 0 || o.RetryMax < o.RetryMin {
		bad("", "outbox.retry_min", "want 0 < retry_min <= retry_max, got %v and %v", o.RetryMin, o.RetryMax)
	}
	if o.GiveUpAfter <= 0 {
		bad("", "outbox.give_up_after", "must be positive, got %v", o.GiveUpAfter)
	}
	if o.Timeout <= 0 {
		bad("", "outbox.timeout", "must be positive, got %v", o.Timeout)
	}

	chans := map[string]bool{}
	for i := range a.Channels {
		c := &a.Channels[i]
		pos, key := a.Pos("channels", i), fmt.Sprintf("channels[%d]", i)
		switch {
		case c.Name == "":
			bad(pos, key+".name", "is required")
		case chans[c.Name]:
			bad(pos, key+".name", "%q is used twice", c.Name)
		}
		chans[c.Name] = true
		t := c.ChannelType()
		if !contains(ChannelTypes, t) {
			bad(pos, key+".type", "want one of %s, got %q", strings.Join(ChannelTypes, ", "), t)
		}
		if t == "exec" {
			if len(c.Command) == 0 || !filepath.IsAbs(c.Command[0]) {
				bad(pos, key+".command", "exec needs an absolute path first, got %q", c.Command)
			}
		} else if (c.URL == "") == (c.URLFile == "") {
			bad(pos, key+".url", "set exactly one of url and url_file")
		}
		if (t == "webhook" || t == "alertmanager") && c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			bad(pos, key+".url", "%s wants an http(s) URL", t)
		}
		if c.MinLevel != "" && !contains(AlertLevels, c.MinLevel) {
			bad(pos, key+".min_level", "want warning, critical or unknown, got %q", c.MinLevel)
		}
		if c.Timeout < 0 || c.RateLimit < 0 {
			bad(pos, key, "timeout and rate_limit must be >= 0")
		}
	}
	chanRef := func(pos, key string, names []string) {
		for _, n := range names {
			if !chans[n] {
				bad(pos, key, "no channel named %q", n)
			}
		}
	}
	chanRef("", "default_channels", a.DefaultChannels)

	rules := map[string]bool{}
	for i := range a.Rules {
		r := &a.Rules[i]
		pos, key := a.Pos("rules", i), fmt.Sprintf("rules[%d]", i)
		name := r.RuleName()
		if rules[r.Profile+"\x00"+name] {
			bad(pos, key+".name", "rule %q is defined twice in profile %q", name, r.Profile)
		}
		rules[r.Profile+"\x00"+name] = true
		if _, err := match.ParseSelector(r.Select); err != nil {
			bad(pos, key+".select", "%v", err)
		}
		for _, k := range SplitList(r.Kind) {
			if !validKind(k) {
				bad(pos, key+".kind", "unknown check kind %q", k)
			}
		}
		if r.For < 0 || r.Count < 0 || r.Hysteresis < 0 || r.Hysteresis >= 1 {
			bad(pos, key, "for and count must be >= 0, hysteresis in [0, 1)")
		}
		if r.Disabled {
			continue
		}
		switch {
		case r.State != "" && r.Metric != "":
			bad(pos, key, "set state (a state rule) or metric (a threshold rule), not both")
		case r.State != "":
			switch r.State {
			case "degraded", "down", "missing":
			default:
				bad(pos, key+".state", "want degraded, down or missing, got %q", r.State)
			}
			if r.Severity != "" && !contains(AlertLevels, r.Severity) {
				bad(pos, key+".severity", "want warning, critical or unknown, got %q", r.Severity)
			}
		case r.Metric != "":
			if !contains(Ops, r.Op) {
				bad(pos, key+".op", "want one of %s, got %q", strings.Join(Ops, " "), r.Op)
			}
			if r.Op != "nagios" && r.Warning == nil && r.Critical == nil {
				bad(pos, key, "a threshold rule needs warning, critical or both")
			}
		default:
			bad(pos, key, "set state (a state rule) or metric (a threshold rule)")
		}
		if err := checkTemplate(r.Display); err != nil {
			bad(pos, key+".display", "%v", err)
		}
	}

	for i := range a.Routes {
		r := &a.Routes[i]
		pos, key := a.Pos("routes", i), fmt.Sprintf("routes[%d]", i)
		if _, err := match.ParseSelector(r.Match); err != nil {
			bad(pos, key+".match", "%v", err)
		}
		chanRef(pos, key+".channels", r.Channels)
		if len(r.Channels) == 0 && len(r.Users) == 0 {
			bad(pos, key, "a route needs channels or users")
		}
	}
	for i := range a.Maintenance {
		m := &a.Maintenance[i]
		pos, key := a.Pos("maintenance", i), fmt.Sprintf("maintenance[%d]", i)
		if m.Name == "" {
			bad(pos, key+".name", "is required")
		}
		if _, err := match.ParseSelector(m.Match); err != nil {
			bad(pos, key+".match", "%v", err)
		}
		if _, err := match.ParseSchedule(m.Schedule); err != nil {
			bad(pos, key+".schedule", "%v", err)
		}
		if m.Duration <= 0 || m.Duration.D() > 7*24*time.Hour {
			bad(pos, key+".duration", "must be in (0, 168h], got %v", m.Duration)
		}
	}
	a.chanNames = chans
	return errs
}

// RuleName is the rule's name, or the one derived from its metric or state.
func (r *AlertRule) RuleName() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Metric != "":
		return r.Metric
	case r.Kind != "":
		return r.Kind + ":" + r.State
	}
	return r.State
}

// checkTemplate rejects unbalanced braces in a display template.
func checkTemplate(s string) error {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
			if depth > 1 {
				return fmt.Errorf("nested { at byte %d", i)
			}
		case '}':
			depth--
			if depth < 0 {
				return fmt.Errorf("unmatched } at byte %d", i)
			}
		}
	}
	if depth != 0 {
		return fmt.Errorf("unclosed {")
	}
	return nil
}

// validKind: the check kinds obs names (obs.ParseKind, "https" included).
func validKind(k string) bool {
	_, ok := obs.ParseKind(k)
	return ok
}

// SplitList splits a comma-separated list, trimming blanks and dropping
// empty items (config values and --flag lists alike).
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateUsers checks users and their channel references.
func validateUsers(us []User, a *Alerts) []error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range us {
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("users[%d].name: is required", i))
		}
		if seen[u.Name] {
			errs = append(errs, fmt.Errorf("users[%d].name: %q is used twice", i, u.Name))
		}
		seen[u.Name] = true
		for _, c := range u.Channels {
			if !a.chanNames[c] {
				errs = append(errs, fmt.Errorf("users[%d].channels: no channel named %q", i, c))
			}
		}
	}
	for i := range a.Routes {
		for _, n := range a.Routes[i].Users {
			if !seen[n] {
				errs = append(errs, fmt.Errorf("%salerts.routes[%d].users: no user named %q", a.Pos("routes", i), i, n))
			}
		}
	}
	if a.DefaultOwner != "" && !seen[a.DefaultOwner] {
		errs = append(errs, fmt.Errorf("alerts.default_owner: no user named %q", a.DefaultOwner))
	}
	return errs
}
