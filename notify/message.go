// SPDX-License-Identifier: MIT

package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// SchemaVersion names the JSON schema of Message (docs/alerts.md,
// "Webhook schema"). It changes only when a field changes meaning or goes
// away; new fields may appear within a version.
const SchemaVersion = "hb.alert.v1"

// Message is one notification to one channel: one alert or a group of
// them. It is what a webhook receives, what an exec hook reads on stdin,
// and what the outbox stores.
type Message struct {
	Version string    `json:"version"` // SchemaVersion
	ID      string    `json:"id"`      // unique per message (outbox id); the same on every retry
	Channel string    `json:"channel"`
	Time    time.Time `json:"time"`  // when it was queued (UTC)
	Title   string    `json:"title"` // one line
	Text    string    `json:"text"`  // the full human text (title, then one line per alert)
	Test    bool      `json:"test,omitempty"`
	Counts  Counts    `json:"counts"`
	Alerts  []Item    `json:"alerts"`
	Omitted int       `json:"omitted,omitempty"` // alerts summarized in Counts but not listed
}

// Counts tallies a message's alerts.
type Counts struct {
	Firing   int `json:"firing"`
	Resolved int `json:"resolved"`
	Critical int `json:"critical"`
	Warning  int `json:"warning"`
	Unknown  int `json:"unknown"`
}

// Item is one alert in a message.
type Item struct {
	ID     uint64 `json:"id"`     // the alert's id (stable across restarts)
	Event  string `json:"event"`  // firing, escalated, renotify, resolved, flapping, held
	Status string `json:"status"` // firing or resolved
	Level  string `json:"level"`  // OK, WARNING, CRITICAL, UNKNOWN
	Prev   string `json:"previous_level,omitempty"`

	Host      string            `json:"host"`
	Check     string            `json:"check,omitempty"`
	Kind      string            `json:"kind,omitempty"`
	Rule      string            `json:"rule"`
	Metric    string            `json:"metric,omitempty"`
	Value     *float64          `json:"value,omitempty"`
	Threshold *float64          `json:"threshold,omitempty"`
	Op        string            `json:"op,omitempty"`
	Text      string            `json:"text"`
	Labels    map[string]string `json:"labels,omitempty"`
	Since     time.Time         `json:"since"`     // when the alert entered its level
	StartsAt  time.Time         `json:"starts_at"` // when it first left OK
	EndsAt    *time.Time        `json:"ends_at,omitempty"`
	Held      int               `json:"held_children,omitempty"` // children held behind this host
}

// Finish fills Version, Counts, Title and Text from the items, listing at
// most names items by name in the title ("and N more").
func (m *Message) Finish(names int) {
	m.Version = SchemaVersion
	m.Counts = Counts{}
	for _, it := range m.Alerts {
		if it.Status == "resolved" {
			m.Counts.Resolved++
			continue
		}
		m.Counts.Firing++
		switch it.Level {
		case "CRITICAL":
			m.Counts.Critical++
		case "WARNING":
			m.Counts.Warning++
		case "UNKNOWN":
			m.Counts.Unknown++
		}
	}
	if m.Test {
		m.Title = "hb test notification"
		if m.Text == "" {
			m.Text = m.Title + " to channel " + m.Channel
		}
		return
	}
	if len(m.Alerts) == 1 {
		it := m.Alerts[0]
		m.Title = fmt.Sprintf("[%s] %s", label(it), it.Text)
		m.Text = m.Title
		return
	}
	var parts []string
	if m.Counts.Firing > 0 {
		var lv []string
		for _, x := range []struct {
			n int
			s string
		}{{m.Counts.Critical, "critical"}, {m.Counts.Warning, "warning"}, {m.Counts.Unknown, "unknown"}} {
			if x.n > 0 {
				lv = append(lv, fmt.Sprintf("%d %s", x.n, x.s))
			}
		}
		parts = append(parts, fmt.Sprintf("%d firing (%s)", m.Counts.Firing, strings.Join(lv, ", ")))
	}
	if m.Counts.Resolved > 0 {
		parts = append(parts, fmt.Sprintf("%d resolved", m.Counts.Resolved))
	}
	items := m.Alerts
	sort.SliceStable(items, func(i, j int) bool {
		if a, b := rankOf(items[i]), rankOf(items[j]); a != b {
			return a > b
		}
		return items[i].Host < items[j].Host
	})
	hosts := make([]string, 0, names)
	seen := map[string]bool{}
	for _, it := range m.Alerts {
		if !seen[it.Host] {
			seen[it.Host] = true
			if len(hosts) < names {
				hosts = append(hosts, it.Host)
			}
		}
	}
	more := ""
	if len(seen) > len(hosts) {
		more = fmt.Sprintf(" and %d more", len(seen)-len(hosts))
	}
	m.Title = fmt.Sprintf("hb: %s on %d hosts: %s%s", strings.Join(parts, ", "), len(seen), strings.Join(hosts, ", "), more)
	var b strings.Builder
	b.WriteString(m.Title)
	b.WriteByte('\n')
	for i, it := range items {
		if i == names {
			fmt.Fprintf(&b, "… and %d more\n", len(items)-names)
			break
		}
		fmt.Fprintf(&b, "[%s] %s\n", label(it), it.Text)
	}
	m.Text = strings.TrimSuffix(b.String(), "\n")
}

func label(it Item) string {
	if it.Status == "resolved" {
		return "RESOLVED"
	}
	if it.Event == "flapping" {
		return "FLAPPING"
	}
	return it.Level
}

func rankOf(it Item) int {
	if it.Status == "resolved" {
		return 0
	}
	switch it.Level {
	case "CRITICAL":
		return 3
	case "UNKNOWN":
		return 2
	case "WARNING":
		return 1
	}
	return 0
}
