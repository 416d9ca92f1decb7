// Package store keeps hb-probe's history in SQLite (modernc.org/sqlite, no
// cgo, WAL): hosts, per-minute rollups, state changes and problems, all times
// UTC, with retention and online backup. One writer goroutine commits
// batches at most once a second.
package store
