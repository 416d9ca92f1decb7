// SPDX-License-Identifier: MIT

// Package web is hb-probe's dashboard: a single-page application embedded
// in the binary (go:embed; no CDN, works offline) served under /ui/ on the
// API listener, its JSON endpoints under /ui/api/, live changes over
// Server-Sent Events, the hbd-compatible /api/0/ endpoints, and the users,
// roles, sessions and API tokens that guard them (docs/web.md).
//
// It is a sink: it reads the lock-free state table, subscribes to the
// event bus for state changes and reads history through api.HistorySource;
// monitor/ wires it in (monitor/web.go).
package web
