// SPDX-License-Identifier: MIT

// Package state is the prober's in-memory view of every host: a table of
// immutable per-host snapshots behind atomic pointers, written by one
// goroutine and read without locks, with each host's state machine
// (unknown, up, degraded, down), RTT and loss statistics and its most recent
// results. It never touches a socket or reads the clock: times are passed in.
//
// One writer: the goroutine that owns the Table calls Apply for every probe
// result and Reload for a new target list; nothing else writes. Readers call
// Table.View, then Host.Snapshot, and keep what they got for as long as they
// need a consistent picture. Each Apply returns a Change, the feed from which
// the store and the transition log learn about state changes.
//
// Memory: about 0.9 KiB per host with one label and a health blob
// (BenchmarkMemoryPerHost; docs/api.md has the figures).
package state
