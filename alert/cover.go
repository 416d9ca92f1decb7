// SPDX-License-Identifier: MIT

package alert

import (
	"strconv"
	"time"

	"github.com/hbmon/hb/alert/match"
)

// Silenced says what covers an alert now: an active silence (from the
// API, the dashboard or hb-probe alerts --silence, a recurring one
// included) or a maintenance window from the config. While it lasts the
// alert's notifications are held back (it is still evaluated, recorded
// and listed). It is decided when the alert is listed, from the silences
// and windows active at that moment; Muted, by contrast, records a
// notification the engine actually held back.
type Silenced struct {
	// ID is the silence's id (/api/v1/silences/{id}); 0 for a window
	// from the config ([[alerts.maintenance]], named by Maintenance).
	ID          int64  `json:"id,omitempty"`
	Maintenance string `json:"maintenance,omitempty"`
	// Until is when it stops covering: the silence's end, or the end of
	// the current window of a recurring one (never later than its end).
	Until time.Time `json:"until"`
	// By and Comment: the silence's author and comment (the window's
	// comment for a configured one). Matchers: its label selector.
	By       string `json:"by,omitempty"`
	Comment  string `json:"comment,omitempty"`
	Matchers string `json:"matchers,omitempty"`
	// Recurring: a window of a schedule (a maintenance window).
	Recurring bool `json:"recurring,omitempty"`
}

// Name is how the engine names it in Muted: "silence 3", "maintenance
// backups".
func (s *Silenced) Name() string {
	if s.ID != 0 || s.Maintenance == "" {
		return "silence " + strconv.FormatInt(s.ID, 10)
	}
	return "maintenance " + s.Maintenance
}

// Redacted is s without who made it, why and what it matches: what a
// caller who may see the alert but not the silence learns (the API's and
// dashboard's roles: a non-admin sees only silences pinned to a host of
// theirs).
func (s Silenced) Redacted() *Silenced {
	s.By, s.Comment, s.Matchers = "", "", ""
	return &s
}

// cover is one silence or maintenance window active at some moment.
type cover struct {
	sel match.Selector
	s   Silenced
}

// covers appends to buf the silences and maintenance windows active at
// now (the caller holds mu). This is the one place that decides what is
// active; coveredBy then decides what covers a given alert.
func (e *Engine) covers(now time.Time, buf []cover) []cover {
	for _, s := range e.silences {
		if !s.Active(now) {
			continue
		}
		until := s.EndsAt
		if s.sched != nil {
			start, _ := s.sched.Active(now, s.Duration)
			if end := start.Add(s.Duration); until.IsZero() || end.Before(until) {
				until = end
			}
		}
		buf = append(buf, cover{sel: s.sel, s: Silenced{ID: s.ID, Until: until, By: s.Author, Comment: s.Comment,
			Matchers: s.Matchers, Recurring: s.sched != nil}})
	}
	for i := range e.maint {
		m := &e.maint[i]
		if start, ok := m.sched.Active(now, m.dur); ok {
			buf = append(buf, cover{sel: m.sel, s: Silenced{Maintenance: m.name, Until: start.Add(m.dur), Comment: m.comment,
				Matchers: m.match, Recurring: true}})
		}
	}
	return buf
}

// coveredBy picks, of the active cs, the one covering the labels lv: the
// one that lasts longest when several do (so Until says when the alert is
// no longer muted by any of them, unless they chain), then a silence
// before a configured window, then the lowest id or name.
func coveredBy(cs []cover, lv *labelView) (Silenced, bool) {
	best := -1
	for i := range cs {
		c := &cs[i]
		if !c.sel.Match(lv) {
			continue
		}
		if best < 0 || better(&c.s, &cs[best].s) {
			best = i
		}
	}
	if best < 0 {
		return Silenced{}, false
	}
	return cs[best].s, true
}

func better(a, b *Silenced) bool {
	if !a.Until.Equal(b.Until) {
		return a.Until.After(b.Until)
	}
	if (a.ID != 0) != (b.ID != 0) {
		return a.ID != 0
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Maintenance < b.Maintenance
}

// Covering returns the active silence or maintenance window that covers
// alert a at now, or nil. a needs only Host, Check, Kind, Rule, Metric
// and Level (the labels matchers see, with the host's labels); an alert
// from List carries it already.
func (e *Engine) Covering(a *Alert, now time.Time) *Silenced {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := coveredBy(e.covers(now, nil), e.labelViewOf(a))
	if !ok {
		return nil
	}
	return &s
}

// Describe is s for people: "silenced until 14:05 (silence 3 by alice:
// kernel update)", the time in now's location, with the date when that is
// not today's.
func (s *Silenced) Describe(now time.Time) string {
	u := s.Until.In(now.Location())
	b := "silenced until " + u.Format("15:04")
	if u.Format(time.DateOnly) != now.Format(time.DateOnly) {
		b = "silenced until " + u.Format("2006-01-02 15:04")
	}
	b += " (" + s.Name()
	if s.By != "" {
		b += " by " + s.By
	}
	if s.Comment != "" {
		b += ": " + clip(s.Comment, 80)
	}
	return b + ")"
}
