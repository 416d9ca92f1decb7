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
	// CommitInterval is how often the writer commits what it has gathered
	// (default and maximum useful value: 1s; a crash loses at most this much).
	CommitInterval time.Duration
	// Retention is how long rollups, state changes and problems are kept
	// (default 30 days; negative keeps them forever).
	Retention time.Duration
	// RetentionEvery is how often old rows are looked for (default 1m).
	RetentionEvery time.Duration
	// DeleteBatch is the number of rows one retention DELETE removes; each
	// batch is its own short transaction so readers and the writer are
	// never held up for long (default 1000).
	DeleteBatch int
	// QueueLen bounds the events waiting for the writer (default 65536).
	// When it is full, events are dropped and counted, never blocking the
	// prober.
	QueueLen int
	// OnCommit, if set, is called by the writer after every commit. Tests
	// and metrics use it; it must not block.
	OnCommit func(CommitInfo)
	// Now is the clock for retention (default time.Now).
	Now func() time.Time
	// Log receives commit and retention errors (nil: not logged; they are
	// in Stats either way).
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.CommitInterval <= 0 {
		o.CommitInterval = time.Second
	}
	if o.Retention == 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = time.Minute
	}
	if o.DeleteBatch <= 0 {
		o.DeleteBatch = 1000
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 1 << 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// CommitInfo describes one commit of the writer.
type CommitInfo struct {
	Events   uint64 // events committed by this commit
	Total    uint64 // events committed since Open
	Duration time.Duration
}

// Stats are the store's live counters.
type Stats struct {
	Queued     int    // events waiting for the writer
	Dropped    uint64 // events lost because the queue was full
	Committed  uint64 // events committed
	Commits    uint64
	Deleted    uint64 // rows removed by retention
	Errors     uint64 // failed commits (their events are lost)
	LastCommit time.Time
	LastError  string
}

// Store is hb-probe's history database. Record* methods never block: they
// queue an event for the single writer goroutine, which commits a batch
// every CommitInterval. Read methods use a separate pool of read-only
// connections; with WAL they never wait for the writer.
type Store struct {
	path string
	opts Options
	w    *sql.DB // exactly one connection, used only by the writer goroutine
	r    *sql.DB // readers

	in    chan event
	calls chan call
	stop  chan struct{}
	done  chan struct{}
	close sync.Once

	closed atomic.Bool // set by Close; later events are dropped

	dropped, committed, commits, deleted, errs atomic.Uint64
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
	q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	switch kind {
	case connReader:
		q += "&_pragma=query_only(1)"
	case connWriter:
		q += "&_txlock=immediate"
	}
	return "file:" + path + q, nil
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
	s := &Store{
		path:  path,
		opts:  o,
		w:     w,
		r:     r,
		in:    make(chan event, o.QueueLen),
		calls: make(chan call),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	wr, err := newWriter(s)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
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

// call asks the writer to commit what is queued and then run fn (may be
// nil) on its goroutine.
type call struct {
	fn   func(*writer) error
	done chan error
}

func (s *Store) do(ctx context.Context, fn func(*writer) error) error {
	c := call{fn: fn, done: make(chan error, 1)}
	select {
	case s.calls <- c:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush commits everything queued before the call and waits for it.
func (s *Store) Flush(ctx context.Context) error { return s.do(ctx, nil) }

// EnforceRetention commits what is queued, then deletes every row older
// than the retention period now (in the usual small batches) instead of
// waiting for the next periodic pass.
func (s *Store) EnforceRetention(ctx context.Context) error {
	return s.do(ctx, func(w *writer) error {
		w.retentionBusy = true
		for w.retentionBusy {
			w.retention()
		}
		return nil
	})
}

// Close commits what is queued, stops the writer and closes the database.
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
		Queued:    len(s.in),
		Dropped:   s.dropped.Load(),
		Committed: s.committed.Load(),
		Commits:   s.commits.Load(),
		Deleted:   s.deleted.Load(),
		Errors:    s.errs.Load(),
	}
	if ns := s.lastCommit.Load(); ns != 0 {
		st.LastCommit = time.Unix(0, ns).UTC()
	}
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

// enqueue hands ev to the writer without blocking.
func (s *Store) enqueue(ev event) {
	if s.closed.Load() {
		s.dropped.Add(1)
		return
	}
	select {
	case s.in <- ev:
	default:
		s.dropped.Add(1)
	}
}
