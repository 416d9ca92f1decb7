// SPDX-License-Identifier: MIT

package event

import "time"

// The event log's types (the log itself is push.EventLog: watchtower's
// events, heartbeat messages, state changes). They live here, in the
// leaf every sink imports, so a sink reads the log without importing a
// source package.

// LogEntry is one entry of the event log: a message from a pulse, a
// heartbeat or hb itself, or a state change. Times are UTC.
type LogEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"time"`
	Host    string    `json:"host,omitempty"`  // the host (or pulse) it concerns
	Check   string    `json:"check,omitempty"` // the check, for state changes
	Source  string    `json:"source"`          // who said it: a service, a host, "hb"
	Level   string    `json:"level"`           // debug, info, warning, error, critical
	Type    string    `json:"type"`            // "message" or "state_change"
	Message string    `json:"message"`
}

// LogFilter selects event-log entries (watchtower's list-events semantics).
type LogFilter struct {
	Source   string    // host or source is this
	From, To time.Time // after From, before To (zero: open)
	MinLevel Level     // level at or above
	Contains string    // message contains (case-sensitive substring)
	Limit    int       // at most (default 100, max 10000)
	Before   int64     // id below this (paging: the previous page's last id)
}
