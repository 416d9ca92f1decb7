// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// FileName is the database's file name in the default directories.
const FileName = "hb-probe.db"

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("store: closed")

// DefaultPath is where the database lives unless --db says otherwise:
// $STATE_DIRECTORY/hb-probe.db (systemd's StateDirectory=; the first entry
// if it lists several), else $XDG_DATA_HOME/hb/hb-probe.db, else
// ~/.local/share/hb/hb-probe.db.
func DefaultPath() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return filepath.Join(first, FileName), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "hb", FileName), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("store: no $STATE_DIRECTORY, $XDG_DATA_HOME or home directory for the database; pass --db")
	}
	return filepath.Join(home, ".local", "share", "hb", FileName), nil
}

// Options tune a Store. The zero value means the defaults.
type Options struct {
	// CommitInterval is how often the writer commits the state changes,
	// problems and messages it has gathered (default and maximum useful
	// value: 1s; a crash loses at most this much of them).
	CommitInterval time.Duration
	// RollupGrace is how long after a minute ends its rollups are written
	// (default 2s), so results decided at the minute's end but delivered a
	// little later still count in it. A result for a minute already
	// written is added to the row later; nothing is lost either way.
	RollupGrace time.Duration
	// RollupBatch bounds the rollup rows one commit writes (default
	// 50,000), so a large fleet's minute is spread over a few commits
	// instead of one long transaction that would hold up state changes.
	RollupBatch int
	// Retention is how long rollups, state changes, problems and messages
	// are kept; 0 (or negative) keeps them forever, as config's
	// store.retention = 0 (whose default, 30 days, is config's).
	Retention time.Duration
	// RetentionEvery is how often old rows are looked for (default 1m).
	RetentionEvery time.Duration
	// DeleteBatch is the number of rows one retention DELETE removes; each
	// batch is its own short transaction so readers and the writer are
	// never held up for long (default 1000).
	DeleteBatch int
	// QueueLen bounds the events Record queues for the writer (default
	// 4096: the writer only sums results and lists events, it never waits
	// on the database). When it is full, events are dropped and counted, never
	// blocking the caller. (Consume reads the subscription's own queue.)
	QueueLen int
	// OnCommit, if set, is called by the writer after every commit. Tests
	// and metrics use it; it must not block.
	OnCommit func(CommitInfo)
	// Now is the clock for retention and for deciding that a minute has
	// ended (default time.Now).
	Now func() time.Time
	// Table, if set, is the table whose results the store records: the
	// writer indexes its per-check records by the table's check ids (the
	// events' Gen and ID) and finds checks by name through the table's own
	// index, instead of keeping a map of every check by host and check
	// name. Without it, checks are found by name.
	Table *state.Table
	// Log receives commit and retention errors (nil: not logged; they are
	// in Stats either way).
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.CommitInterval <= 0 {
		o.CommitInterval = time.Second
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = time.Minute
	}
	if o.RollupGrace <= 0 {
		o.RollupGrace = 2 * time.Second
	}
	if o.RollupBatch <= 0 {
		o.RollupBatch = 50000
	}
	if o.DeleteBatch <= 0 {
		o.DeleteBatch = 1000
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// CommitInfo describes one commit of the writer.
type CommitInfo struct {
	Events   uint64 // events (state changes, problems, messages) committed by this commit
	Total    uint64 // events committed since Open
	Rollups  uint64 // rollup rows written by this commit
	Results  uint64 // results those rows sum up
	Duration time.Duration
}

// Stats are the store's live counters.
type Stats struct {
	Queued        int    // events waiting for the writer (Record's queue and the subscription's)
	Dropped       uint64 // events lost because a queue was full (or the store was closed)
	Results       uint64 // results aggregated into rollups
	Committed     uint64 // events (state changes, problems, messages) committed
	RollupRows    uint64 // rollup rows written
	Commits       uint64
	CommitSeconds float64 // time spent committing, total
	Deleted       uint64  // rows removed by retention
	Errors        uint64  // failed commits (their rows are lost) and retention errors
	Checks        int     // checks the writer knows
	Pending       int     // finished minutes' rollup rows not yet written
	LastCommit    time.Time
	LastError     string
}

// Store is hb-probe's history database and an event sink. One writer
// goroutine owns the database: it reads events (from Consume's
// subscription, or queued by Record), adds every Result to its check's
// rollup for the minute in memory and writes each check's row once per
// minute, and commits state changes, problems and messages every
// CommitInterval. Record never blocks. Read methods use a separate pool of
// read-only connections; with WAL they never wait for the writer.
type Store struct {
	path string
	opts Options
	w    *sql.DB // exactly one connection, used only by the writer goroutine
	r    *sql.DB // readers

	in    chan event.Event
	ctl   chan func(*writer) // configuration (SetHosts, SetChecks)
	calls chan call
	// execTaken, if set (by tests), is called by Exec once the writer
	// has taken its job.
	execTaken func()
	sub       atomic.Pointer[event.Sub] // attached by Consume
	stop      chan struct{}
	done      chan struct{}
	close     sync.Once

	closed atomic.Bool // set by Close; later events are dropped

	dropped, committed, commits, deleted, errs atomic.Uint64
	results, rollupRows                        atomic.Uint64
	commitNanos                                atomic.Int64
	commitHist                                 [len(commitBounds) + 1]atomic.Uint64 // by commitBounds, then +Inf
	checks, pending                            atomic.Int64
	lastCommit                                 atomic.Int64 // unix ns
	lastErr                                    atomic.Pointer[string]
}

type connKind uint8

const (
	connWriter connKind = iota // the writer: BEGIN IMMEDIATE
	connReader                 // API reads: query_only
	connBackup                 // VACUUM INTO: reads this file, writes another
)

func dsn(path string, kind connKind) (string, error) {
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("store: database path %q must not contain '?' or '#'", path)
	}
	// synchronous=FULL: one fsync per commit, at most one commit a second;
	// committed data survives a power cut too, not only a crash.
	// (internal/sqlitedb.Pragmas, shared with the alert and event tables.)
	switch kind {
	case connReader:
		return sqlitedb.DSN(path, "_pragma=foreign_keys(1)", "_pragma=query_only(1)"), nil
	case connWriter:
		// temp_store=MEMORY: the statement journal of each multi-row
		// upsert (a few pages) in memory rather than written to a
		// temporary file. wal_autocheckpoint(10000): the minute's rollup
		// commits (thousands of pages) are checkpointed once rather than
		// after each commit of the minute, and a page written by several
		// is copied once (the WAL may reach ~40 MB on disk).
		return sqlitedb.DSN(path, "_pragma=foreign_keys(1)", "_pragma=temp_store(2)", "_pragma=wal_autocheckpoint(10000)", "_txlock=immediate"), nil
	}
	return sqlitedb.DSN(path, "_pragma=foreign_keys(1)"), nil
}

// Open opens (creating it, and its directory, if needed) the database at
// path and starts the writer.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.defaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	wdsn, err := dsn(path, connWriter)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	rdsn, _ := dsn(path, connReader)
	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	// An idle reader is closed after a minute, and at most one is kept:
	// each holds its own page cache (up to 2 MB of SQLite's memory,
	// outside the Go heap) that reads of the API fill and nothing
	// empties.
	r.SetMaxIdleConns(1)
	r.SetConnMaxIdleTime(time.Minute)
	s := &Store{
		path:  path,
		opts:  o,
		w:     w,
		r:     r,
		in:    make(chan event.Event, o.QueueLen),
		ctl:   make(chan func(*writer), 16),
		calls: make(chan call),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	wr, sq, err := newWriter(s)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	go sq.run()
	go wr.run()
	return s, nil
}

func migrate(db *sql.DB) error {
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("database schema version %d is newer than this hb-probe (%d)", v, schemaVersion)
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if v == 1 {
		for _, q := range migrateV1 {
			if _, err := tx.Exec(q); err != nil {
				return fmt.Errorf("migrating schema 1 to 2: %w", err)
			}
		}
	}
	if v == 1 || v == 2 {
		for _, q := range migrateV2 {
			if _, err := tx.Exec(q); err != nil {
				return fmt.Errorf("migrating schema 2 to 3: %w", err)
			}
		}
	}
	for _, q := range schema {
		if _, err := tx.Exec(q); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// call asks the writer to take what is queued and then run fn (may be
// nil) on its goroutine.
type call struct {
	fn   func(*writer) error
	done chan error
}

func (s *Store) do(ctx context.Context, fn func(*writer) error) error {
	c := call{fn: fn, done: make(chan error, 1)}
	if err := s.send(ctx, c); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exec runs fn in a transaction of its own on the store's writer
// connection, from the goroutine that makes every write of the database,
// so that another part of hb keeping a table in the history database (the
// push event log, the alert engine, the notification outbox) adds no
// second writer to contend with this one for SQLite's write lock. fn runs
// after the events queued before the call are committed (within about
// CommitInterval, or the end of a rollup write in progress). fn must only
// use tx and must not call the store.
//
// Its result is exact, so a caller may act on it (update its memory only
// on success):
//   - If ctx ends before the writer starts fn, fn is skipped (it never
//     runs, nothing is written) and Exec returns ctx.Err().
//   - Once the writer has started fn, ctx no longer counts: Exec waits for
//     fn and its commit and returns fn's error or the commit's (nil: it is
//     committed). fn's run is bounded only by the writer (fn itself and
//     SQLite's busy timeout), not by ctx.
//   - After Close it returns ErrClosed, except that a job the writer took
//     before Close runs and Exec returns its outcome.
func (s *Store) Exec(ctx context.Context, fn func(tx *sql.Tx) error) error {
	done := make(chan error, 1)
	claim := new(atomic.Int32)
	if err := s.queue(ctx, fn, func(err error) { done <- err }, claim); err != nil {
		return err
	}
	if s.execTaken != nil {
		s.execTaken()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if claim.CompareAndSwap(jobPending, jobSkipped) {
			return ctx.Err() // fn will never run
		}
		return <-done // started: its outcome comes
	case <-s.done:
		// Close runs the last batch's jobs, this one included, before done.
		select {
		case err := <-done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Queue is Exec without the wait: it returns once the writer has taken fn
// (after the events queued before it), and fn runs as Exec's do, in the
// order jobs were queued (Exec's and Queue's alike), so a caller that
// queues its writes one after another finds them committed in that order.
// done, if not nil, is called with fn's error or the commit's once it is
// committed (or not); it runs on the writer's SQL goroutine, so it must
// return quickly and must not call the store or wait for anything that
// does. Queue returns nil exactly when the job was taken, and then done
// is called once: a job taken before Close still runs (Close commits it).
// Otherwise (ctx ended before the writer took it, or the store is closed:
// ErrClosed) it returns the error and done is never called.
func (s *Store) Queue(ctx context.Context, fn func(tx *sql.Tx) error, done func(error)) error {
	return s.queue(ctx, fn, done, nil)
}

func (s *Store) queue(ctx context.Context, fn func(tx *sql.Tx) error, done func(error), claim *atomic.Int32) error {
	c := call{fn: func(w *writer) error {
		w.cur.jobs = append(w.cur.jobs, job{fn: fn, done: done, claim: claim})
		return nil
	}, done: make(chan error, 1)}
	if err := s.send(ctx, c); err != nil {
		return err
	}
	return <-c.done // the writer answers a call it took at once
}

// send hands c to the writer: ErrClosed once the store is closed, ctx's
// error if it ends first.
func (s *Store) send(ctx context.Context, c call) error {
	select {
	case s.calls <- c:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush commits everything queued before the call, including the rollups
// of the current minute so far (later results of that minute are added to
// the row), and waits for it.
func (s *Store) Flush(ctx context.Context) error {
	return s.do(ctx, func(w *writer) error {
		w.finishAll()
		return w.sync(nil)
	})
}

// EnforceRetention commits what is queued, then deletes every row older
// than the retention period now (in the usual small batches) instead of
// waiting for the next periodic pass.
func (s *Store) EnforceRetention(ctx context.Context) error {
	return s.do(ctx, func(w *writer) error {
		return w.sync(func(q *sqlw) error {
			if err := q.commitAll(); err != nil {
				return err
			}
			if q.s.opts.Retention <= 0 {
				return nil // kept forever
			}
			q.retentionBusy = true
			for q.retentionBusy {
				q.retention()
			}
			return nil
		})
	})
}

// Close commits what is queued (and the current minute's rollups so far),
// stops the writer and closes the database. Stop Consume first so the
// subscription's queue is drained.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		// Fold the WAL back into the main file so a copied .db is complete.
		_, _ = s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		err = errors.Join(s.w.Close(), s.r.Close())
	})
	return err
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Queued:        len(s.in),
		Dropped:       s.dropped.Load(),
		Results:       s.results.Load(),
		Committed:     s.committed.Load(),
		RollupRows:    s.rollupRows.Load(),
		Commits:       s.commits.Load(),
		CommitSeconds: float64(s.commitNanos.Load()) / 1e9,
		Deleted:       s.deleted.Load(),
		Errors:        s.errs.Load(),
		Checks:        int(s.checks.Load()),
		Pending:       int(s.pending.Load()),
	}
	if sub := s.sub.Load(); sub != nil {
		st.Queued += sub.Len()
		st.Dropped += sub.Dropped()
	}
	if ns := s.lastCommit.Load(); ns != 0 {
		st.LastCommit = time.Unix(0, ns).UTC()
	}
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

// Record hands e to the writer without blocking: Result events go to the
// rollups, StateChange, Problem and Message events are stored. Other
// types are ignored. A full queue or a closed store drops e (counted).
// Callers with an *event.Bus use Consume instead.
func (s *Store) Record(e event.Event) {
	if s.closed.Load() {
		s.dropped.Add(1)
		return
	}
	select {
	case s.in <- e:
	default:
		s.dropped.Add(1)
	}
}

// Types are the event types the daemon's store subscription carries:
// results (rollups), state changes and problems. Messages are the push
// event log's (push.EventLog, table push_events), so the daemon does not
// store them twice; the store still keeps the Message events it is given
// (Record, or a subscription that includes event.Message) in its events
// table, readable with Messages.
var Types = []event.Type{event.Result, event.StateChange, event.Problem}

// Consume makes the writer read sub's events (event.Bus.SubscribeBatch
// with Types: the writer takes what is queued in one step) until
// ctx ends or sub's queue is closed. When ctx ends it takes what is still
// queued, then returns; it does not Close sub (the caller does, once the
// publisher has stopped). One subscription at a time.
func (s *Store) Consume(ctx context.Context, sub *event.Sub) error {
	if sub.Ready() == nil {
		return errors.New("store: Consume needs a subscription from event.Bus.SubscribeBatch")
	}
	if !s.sub.CompareAndSwap(nil, sub) {
		return errors.New("store: Consume is already running")
	}
	defer s.sub.Store(nil)
	if err := s.do(ctx, func(w *writer) error { w.sub, w.subRdy = sub, sub.Ready(); return nil }); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.done:
		return ErrClosed
	}
	// Detach, taking what the publisher queued before we were told to stop.
	err := s.do(context.Background(), func(w *writer) error {
		w.drainSub()
		w.detach()
		return nil
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// SetHosts records the configured hosts: new ones are added, existing ones
// get their address and labels updated. Hosts missing from the list are
// kept (their history stays until retention removes it). Call it at start
// and after every reload.
func (s *Store) SetHosts(hosts []Host) {
	cp := make([]Host, len(hosts))
	copy(cp, hosts)
	s.configure(func(w *writer) { w.cur.hosts = append(w.cur.hosts, cp...) })
}

// SetChecks records the configured checks (kind and target), like
// SetHosts. Checks are also created when their first event arrives.
func (s *Store) SetChecks(specs []obs.CheckSpec) {
	cp := make([]obs.CheckSpec, len(specs))
	copy(cp, specs)
	s.configure(func(w *writer) {
		for i := range cp {
			w.check(cp[i].Host, cp[i].Name, cp[i].Kind, cp[i].Target)
		}
	})
}

func (s *Store) configure(fn func(*writer)) {
	select {
	case s.ctl <- fn:
	case <-s.done:
	}
}
