// SPDX-License-Identifier: MIT

// Package state is the in-memory view of every host and its checks: a
// table of immutable per-check snapshots behind atomic pointers, written by
// one goroutine and read without locks. Each check (any obs.Kind: the
// table's code knows no kind) has its own state machine (unknown, up,
// degraded, down), RTT and loss statistics over a window, and its most
// recent results; a host's state is derived from its checks' (Derive). It
// never touches a socket or reads the clock: times are passed in.
//
// One writer: the goroutine that owns the Table (monitor's writer) calls
// Apply for every observation, Reload for a new target list and Restore at
// start; nothing else writes. Readers call Table.View, then Check.Snapshot,
// Host.Status or Host.Snapshot, and keep what they got for as long as they
// need a consistent picture. Each Apply returns a Change (the check's and
// the host's state before and after), from which the core publishes events.
//
// Memory: about 1 KiB per host with its icmp check, one label and a health
// blob (BenchmarkMemoryPerHost; docs/api.md has the figures).
package state
