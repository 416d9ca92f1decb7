// SPDX-License-Identifier: MIT

// Package store keeps hb-probe's history in SQLite (modernc.org/sqlite, no
// cgo, WAL), per check: hosts, checks (host + check name, kind), per-minute
// rollups, state changes, problems and messages, all times UTC, with
// retention in batches and online backup (VACUUM INTO).
//
// The store is a sink of the event stream (package event): Consume reads a
// subscription (Record queues single events). One goroutine reads events:
// it adds every Result to its check's rollup for the minute in memory and
// hands finished minutes, state changes, problems and messages to a second
// goroutine, the database's one writer, every CommitInterval (1 s). So a
// long minute write never backs the event queue up. Each check's rollup
// row is written once per minute; the other events are committed within
// about a second. A kill -9 therefore loses at
// most a second of those and the minute in progress of the rollups.
// Checks returns what restore needs: each check's last recorded state.
package store
