// SPDX-License-Identifier: MIT

package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/hbmon/hb/internal/sqlitedb"
)

// Writer makes a database's writes, each fn in a transaction of its own:
// the history store (store.Store) when the alert engine and the outbox
// keep their tables in the history database, which has one writer; or
// the DB's own connection when they have a file to themselves (OpenDB).
type Writer interface {
	// Exec runs fn and waits until it is committed, returning fn's error
	// or the commit's. An error means nothing of fn is committed, now or
	// later (store.Store.Exec skips fn if ctx ends before it starts and
	// waits for it once started), so a caller changes its memory only on
	// nil.
	Exec(ctx context.Context, fn func(tx *sql.Tx) error) error
	// Queue runs fn after the writes queued before it, without waiting
	// for it: done (may be nil) is told fn's or the commit's error. It
	// returns nil exactly when fn was taken (then done is called once);
	// done must return quickly and must not write to the database.
	Queue(ctx context.Context, fn func(tx *sql.Tx) error, done func(error)) error
}

// DB is the database the alert engine and the outbox keep their tables in
// (alert_state, alert_silences, notify_outbox): Conn answers their
// queries, W makes every write.
type DB struct {
	// Conn is the connection pool for queries. Shared (OpenSharedDB) it
	// is read-only (query_only): a write on it fails, so nothing writes
	// the file beside its one writer. Own (OpenDB) it is also W's.
	Conn *sql.DB
	// W is the writer: the store's, or ownWriter on Conn.
	W Writer
	// Shared is whether W is another's writer (the history store's).
	Shared bool
}

// OpenDB opens the SQLite database at path for the alert engine and the
// outbox as its only writer: a file of their own (or an in-memory
// database, a daemon without a history store). Queries and writes share
// one connection, so they also take turns with each other.
func OpenDB(path string) (*DB, error) {
	db, err := sql.Open("sqlite", sqlitedb.DSN(path, "_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serializes anyway
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{Conn: db, W: ownWriter{db}}, nil
}

// OpenSharedDB opens the SQLite database at path whose one writer is w
// (the history database and its store, store.Store): every write of the
// alert engine and the outbox goes through w, and their own connection
// only reads.
func OpenSharedDB(path string, w Writer) (*DB, error) {
	if w == nil {
		return nil, errors.New("notify: shared database without a writer")
	}
	db, err := sql.Open("sqlite", sqlitedb.DSN(path, "_pragma=query_only(1)"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2) // the API's list and the outbox's due scan
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{Conn: db, W: w, Shared: true}, nil
}

// Close closes the query connection (the shared writer is its owner's to
// close, after this).
func (d *DB) Close() error { return d.Conn.Close() }

// ownWriter writes on the DB's own connection, at once: Queue runs fn
// before it returns, so writes keep the order they were made in.
type ownWriter struct{ db *sql.DB }

func (o ownWriter) Exec(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return sqlitedb.InTx(ctx, o.db, fn)
}

func (o ownWriter) Queue(ctx context.Context, fn func(tx *sql.Tx) error, done func(error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := o.Exec(context.WithoutCancel(ctx), fn)
	if done != nil {
		done(err)
	}
	return nil
}
