// SPDX-License-Identifier: MIT

// Package state is the in-memory view of every host and its checks: a
// table of per-check records updated in place under a sequence lock,
// written by one goroutine and copied out by readers without locks. Each check (any obs.Kind: the
// table's code knows no kind) has its own state machine (unknown, up,
// degraded, down), RTT and loss statistics over a window, and its most
// recent results; a host's state is derived from its checks' (Derive). It
// never touches a socket or reads the clock: times are passed in.
//
// One writer: the goroutine that owns the Table (monitor's writer) calls
// Apply for every observation, Reload for a new target list and Restore at
// start; nothing else writes. Readers call Table.View, then Check.Snapshot
// (or Load), Host.Status or Host.Snapshot: each returns a consistent copy,
// a Snapshot value, to keep for as long as they need that picture. Each Apply returns a Change (the check's and
// the host's state before and after), from which the core publishes events.
//
// Memory: about 750 bytes per host with its icmp check, one label and a
// health blob, of which the check's 320-byte record and the name index
// live outside the Go heap (record.go, index.go; BenchmarkMemoryPerHost;
// docs/api.md has the figures). The table's own part on the heap is a
// Host (64 bytes) and a Check (40) per check, plus what hosts and checks
// do not share (labels, a health pointer). Apply allocates nothing.
package state
