// SPDX-License-Identifier: MIT

// Package alert turns the monitoring event stream into alerts and
// notifications: state rules and thresholds (hbd semantics: warning and
// critical levels, operators, hysteresis, consecutive-breach counts,
// per-host profiles, generic metric matching), an alert state machine
// OK/WARNING/CRITICAL/UNKNOWN per (check, rule, metric), and the noise
// control around it: silences, maintenance windows, parent/child
// dependencies, heartbeat-versus-ping reasoning, flap detection and
// grouping. Notifications leave through notify's persistent outbox.
//
// The rule evaluation (rule.go, eval.go) is pure: values and time are
// passed in. Engine (engine.go) holds the alerts, is fed events and ticks,
// and persists alert state and silences in SQLite (db.go) so they survive
// restarts. docs/alerts.md is the user's documentation.
package alert
