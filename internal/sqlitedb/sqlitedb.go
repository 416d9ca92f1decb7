// SPDX-License-Identifier: MIT

// Package sqlitedb builds the one data source name every hb database is
// opened with (modernc.org/sqlite): the history store, the alert engine
// and outbox, and the push event log share a file and must agree on how
// it is used — WAL, a 10 s busy timeout for the writers that take turns
// (the store's writer, which makes the others' writes too, and dashboard
// sessions: docs/operations.md "Who writes the file"),
// synchronous=FULL so a commit survives a power cut. Pure: no I/O.
package sqlitedb

import (
	"context"
	"database/sql"
	"strings"
)

// Pragmas are the query parameters every hb connection carries.
const Pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"

// DSN returns the data source name for path — a file path, or a "file:"
// URI that may carry its own query (tests use in-memory databases) — with
// Pragmas, then each extra parameter ("_txlock=immediate",
// "_pragma=query_only(1)", …) in order.
func DSN(path string, extra ...string) string {
	var b strings.Builder
	if !strings.HasPrefix(path, "file:") {
		b.WriteString("file:")
	}
	b.WriteString(path)
	if strings.Contains(path, "?") {
		b.WriteByte('&')
	} else {
		b.WriteByte('?')
	}
	b.WriteString(Pragmas)
	for _, e := range extra {
		b.WriteByte('&')
		b.WriteString(e)
	}
	return b.String()
}

// InTx runs fn in a transaction on db and commits it; fn's error (or
// BeginTx's) rolls it back and is returned, else the commit's error.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
