// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/state"
)

// Event is one event-log entry (event.LogEntry: the entry type lives in
// the event leaf so that sinks such as the dashboard read the log without
// importing this source package).
type Event = event.LogEntry

// EventFilter selects events (event.LogFilter).
type EventFilter = event.LogFilter

// EventLog stores events in SQLite, in its own table (push_events) of the
// history database or its own file; it trims entries older than the
// retention every hour. In the history database it writes through the
// store's writer (Writer: the database keeps one writer) and reads on its
// own read-only connection; in a file of its own it is that file's only
// writer.
type EventLog struct {
	db        *sql.DB // queries; all writes too when w is nil
	w         Writer  // nil: the log writes on db
	retention time.Duration
	log       *slog.Logger
	journal   *Journal

	// The events Consume took and its writer has not yet written (spare:
	// a written list kept for reuse).
	mu          sync.Mutex
	pend, spare []item

	Written, Trimmed, Failed atomic.Uint64
}

const eventSchema = `CREATE TABLE IF NOT EXISTS push_events (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,             -- unix ns, UTC
	host    TEXT NOT NULL DEFAULT '',
	check_name TEXT NOT NULL DEFAULT '',
	source  TEXT NOT NULL DEFAULT '',
	level   INTEGER NOT NULL,             -- 0 debug … 4 critical
	type    TEXT NOT NULL,                -- message, state_change
	message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS push_events_at ON push_events (at);
CREATE INDEX IF NOT EXISTS push_events_host ON push_events (host, at);`

// Writer is the one writer of a database the event log shares (the
// history store, store.Store.Exec): it runs fn in a transaction on its
// own connection and goroutine.
type Writer interface {
	Exec(ctx context.Context, fn func(tx *sql.Tx) error) error
}

// OpenEventLog opens (creating) the event table in the SQLite file at
// path, which nothing else writes: the log is its only writer. journal may
// be nil.
func OpenEventLog(path string, retention time.Duration, journal *Journal, log *slog.Logger) (*EventLog, error) {
	return openEventLog(path, nil, retention, journal, log)
}

// OpenSharedEventLog opens the event table in the SQLite file at path
// whose one writer is w (the history database and its store): the table
// is created, events written and old ones trimmed through w, and the log's
// own connection only reads (query_only).
func OpenSharedEventLog(path string, w Writer, retention time.Duration, journal *Journal, log *slog.Logger) (*EventLog, error) {
	if w == nil {
		return nil, errors.New("push: shared event log without a writer")
	}
	return openEventLog(path, w, retention, journal, log)
}

func openEventLog(path string, w Writer, retention time.Duration, journal *Journal, log *slog.Logger) (*EventLog, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("push: event log path %q must not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("push: event log: %w", err)
	}
	dsn := sqlitedb.DSN(path, "_txlock=immediate")
	if w != nil {
		dsn = sqlitedb.DSN(path, "_pragma=query_only(1)")
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("push: event log %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	l := &EventLog{db: db, w: w, retention: retention, journal: journal, log: log}
	if err := l.exec(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(eventSchema)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("push: event log %s: %w", path, err)
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l, nil
}

// exec runs fn in a write transaction: through the shared writer, or on
// the log's own connection.
func (l *EventLog) exec(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if l.w != nil {
		return l.w.Exec(ctx, fn)
	}
	return sqlitedb.InTx(ctx, l.db, fn)
}

// Close closes the database and the journal.
func (l *EventLog) Close() error {
	err := l.db.Close()
	if l.journal != nil {
		err = errors.Join(err, l.journal.Close())
	}
	return err
}

// FromBus converts a bus event to a log entry; ok is false for types the
// log does not keep.
func FromBus(e event.Event) (Event, bool) {
	it, ok := itemOf(&e)
	if !ok {
		return Event{}, false
	}
	return it.entry(), true
}

// item is an event taken from the bus and not yet written: what its entry
// is made of, without the formatted text (made as it is written), so that
// a burst waiting for its transaction (100k state changes at start-up)
// costs 96 bytes an event and no allocation. Its strings are the event's
// own (host and check names, texts), not copies: it holds nothing of the
// bus's batches.
type item struct {
	at                  int64 // unix ns
	host, check, source string
	text                string // message: its text; host change: the core's text (may be "")
	problem             string // state change: the observation's problem ("" none)
	kind                uint8  // itemMessage, itemChange, itemHostChange
	level               event.Level
	old, new            state.State // the check's (itemChange) or the host's (itemHostChange)
}

const (
	itemMessage = iota
	itemChange
	itemHostChange
)

// itemOf is FromBus without the formatting; ok is false for types the
// log does not keep.
func itemOf(e *event.Event) (item, bool) {
	it := item{at: e.At.UnixNano(), host: e.Host, check: e.Check, source: e.Source, level: e.Level}
	switch e.Type {
	case event.Message:
		if e.Check == loggedCheck {
			return item{}, false
		}
		it.kind, it.text = itemMessage, e.Text
		if it.source == "" {
			it.source = e.Host
		}
	case event.StateChange:
		it.kind, it.source = itemChange, "hb"
		it.old, it.new = e.Old, e.New
		if e.Old == e.New && e.HostOld != e.HostNew {
			// The host's derived state moved, not the check's (a reload
			// changed its checks): the text says so.
			it.kind, it.check, it.text = itemHostChange, "", e.Text
			it.old, it.new = e.HostOld, e.HostNew
		}
		it.level = changeLevel(it.new)
		if e.Obs != nil {
			it.problem = e.Obs.Problem
		}
	default:
		return item{}, false
	}
	return it, true
}

// changeLevel is a state change's level: by the new state.
func changeLevel(s state.State) event.Level {
	switch s {
	case state.Down:
		return event.LevelError
	case state.Degraded:
		return event.LevelWarning
	}
	return event.LevelInfo
}

// message is the entry's text.
func (it *item) message() string {
	var m string
	switch it.kind {
	case itemMessage:
		return it.text
	case itemChange:
		m = it.host + " " + it.check + ": " + it.old.String() + " -> " + it.new.String()
	default:
		m = it.text
		if m == "" {
			m = "host " + it.host + ": " + it.old.String() + " -> " + it.new.String()
		}
	}
	if it.problem != "" {
		m += " (" + it.problem + ")"
	}
	return m
}

// entry is the log entry of it.
func (it *item) entry() Event {
	e := Event{At: time.Unix(0, it.at).UTC(), Host: it.host, Check: it.check, Source: it.source,
		Level: it.level.String(), Type: "state_change", Message: it.message()}
	if it.kind == itemMessage {
		e.Type = "message"
	}
	return e
}

// maxPending is how many events taken from the bus may wait for their
// transaction (96 B each: 6 MiB): past it the reader leaves the rest in
// the bus's queue (where a full queue drops them, counted as
// hb_events_dropped_total{subscriber="events"}). Events are written as
// fast as the writer commits, so only a writer stalled for seconds
// reaches it: a 100k-check start-up's first round (10k state changes a
// second) keeps one to two seconds' worth.
const maxPending = 1 << 16

// Consume writes the events of sub (event.Bus.SubscribeBatch to
// event.Message and event.StateChange) until ctx ends, and trims old ones
// every hour. Its reader takes what the bus queued as soon as it is
// ready, so that the subscription's queue never fills and holds none of
// the bus's batches; a writer goroutine writes everything taken so far
// in one transaction at a time (through the shared writer: one a commit
// of the store's, within about a second), so a burst of any size costs a
// few transactions, not one per 256 events. On return (ctx ended, then
// what was queued is taken) every event taken is written.
func (l *EventLog) Consume(ctx context.Context, sub *event.Sub) {
	kick := make(chan struct{}, 1) // events wait: the writer goes
	room := make(chan struct{}, 1) // the writer took events: the reader may take more
	wdone := make(chan struct{})
	go func() { defer close(wdone); l.writeLoop(ctx, kick, room) }()
	var evs []event.Event
	ready := sub.Ready()
	take := func(evs []event.Event) {
		l.mu.Lock()
		n := len(l.pend)
		for i := range evs {
			if it, ok := itemOf(&evs[i]); ok {
				l.pend = append(l.pend, it)
			}
		}
		more := len(l.pend) > n
		l.mu.Unlock()
		if more {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
	for {
		rd := ready
		if l.pending() >= maxPending {
			rd = nil // full: wait for the writer to take them
		}
		select {
		case <-ctx.Done():
			// Take what is queued, have it written, then stop.
			for range 2 {
				evs, _ = sub.Take(evs)
				take(evs)
			}
			close(kick)
			<-wdone
			return
		case <-rd:
			// Take until the queue is empty: the last Take, empty,
			// releases the batches the events came from (they are
			// items now), so the log holds none while it is idle.
			for {
				var ok bool
				evs, ok = sub.Take(evs)
				if !ok {
					ready = nil // closed: wait for ctx
				}
				if len(evs) == 0 {
					break
				}
				take(evs)
				if l.pending() >= maxPending {
					break
				}
			}
		case <-room:
		}
	}
}

// pending is how many events wait to be written.
func (l *EventLog) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pend)
}

// writeLoop writes the pending events whenever kick says some wait, and
// trims old ones every hour, until kick is closed (then it writes the
// rest).
func (l *EventLog) writeLoop(ctx context.Context, kick <-chan struct{}, room chan<- struct{}) {
	trim := time.NewTicker(time.Hour)
	defer trim.Stop()
	l.Trim(ctx, time.Now())
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case _, ok := <-kick:
			for l.pending() > 0 {
				if !l.flush(wctx, room) {
					break
				}
			}
			if !ok {
				return
			}
		case now := <-trim.C:
			l.Trim(ctx, now)
		}
	}
}

// flush writes the events pending when its transaction starts (on the
// shared writer: they include those taken while it waited for its turn)
// in that transaction; false if none was started (the writer is closed:
// the events are counted as failed and dropped).
func (l *EventLog) flush(ctx context.Context, room chan<- struct{}) bool {
	var its []item
	started := false
	err := l.exec(ctx, func(tx *sql.Tx) error {
		if !started {
			started = true
			l.mu.Lock()
			its, l.pend = l.pend, l.spare[:0]
			l.spare = nil
			l.mu.Unlock()
			select {
			case room <- struct{}{}:
			default:
			}
		}
		return l.insert(tx, its)
	})
	if !started {
		// Never ran (the store is closed): drop what waits rather than
		// retry forever.
		l.mu.Lock()
		its, l.pend = l.pend, its
		l.mu.Unlock()
	}
	if err != nil {
		l.Failed.Add(uint64(len(its)))
		l.log.Warn("event log: write failed", "events", len(its), "err", err)
	} else {
		l.Written.Add(uint64(len(its)))
		l.toJournal(its)
	}
	clear(its)
	if cap(its) <= 4096 { // keep a small list for reuse; a burst's goes back to the GC
		l.mu.Lock()
		l.spare = its[:0]
		l.mu.Unlock()
	}
	return started
}

// insert writes its in tx, in statements of up to insertRows rows.
func (l *EventLog) insert(tx *sql.Tx, its []item) error {
	var st *sql.Stmt
	var args []any
	for len(its) > 0 {
		n := min(len(its), insertRows)
		args = args[:0]
		for i := range its[:n] {
			it := &its[i]
			typ := "state_change"
			if it.kind == itemMessage {
				typ = "message"
			}
			args = append(args, it.at, it.host, it.check, it.source, int64(it.level), typ, it.message())
		}
		if n == insertRows {
			if st == nil {
				var err error
				if st, err = tx.Prepare(insertQuery(insertRows)); err != nil {
					return err
				}
				defer st.Close()
			}
			if _, err := st.Exec(args...); err != nil {
				return err
			}
		} else if _, err := tx.Exec(insertQuery(n), args...); err != nil {
			return err
		}
		its = its[n:]
	}
	return nil
}

// insertRows is how many events one INSERT writes (7 values each, within
// SQLite's 32766 variables).
const insertRows = 256

// insertQuery is the INSERT of n events.
func insertQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO push_events (at, host, check_name, source, level, type, message) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?,?,?,?,?,?,?)`)
	}
	return b.String()
}

// toJournal appends the messages of its to the journal (if any).
func (l *EventLog) toJournal(its []item) {
	if l.journal == nil {
		return
	}
	for i := range its {
		if its[i].kind == itemMessage {
			if err := l.journal.Write(its[i].entry()); err != nil {
				l.log.Warn("journal: write failed", "err", err)
			}
		}
	}
}

// Write stores events in one transaction (and appends the messages to
// the journal).
func (l *EventLog) Write(ctx context.Context, evs []Event) error {
	if err := l.exec(ctx, func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO push_events (at, host, check_name, source, level, type, message) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, e := range evs {
			lvl, _ := event.ParseLevel(e.Level)
			if _, err := st.Exec(e.At.UnixNano(), e.Host, e.Check, e.Source, int(lvl), e.Type, e.Message); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	l.Written.Add(uint64(len(evs)))
	if l.journal != nil {
		for _, e := range evs {
			if e.Type == "message" {
				if err := l.journal.Write(e); err != nil {
					l.log.Warn("journal: write failed", "err", err)
				}
			}
		}
	}
	return nil
}

// Trim deletes events older than the retention (none when it is 0).
func (l *EventLog) Trim(ctx context.Context, now time.Time) {
	if l.retention <= 0 {
		return
	}
	// In slices, so that a shared writer gets back to its own commits
	// between them.
	const slice = 10000
	cutoff := now.Add(-l.retention).UnixNano()
	for {
		var n int64
		err := l.exec(ctx, func(tx *sql.Tx) error {
			r, err := tx.Exec(`DELETE FROM push_events WHERE id IN (SELECT id FROM push_events WHERE at < ? LIMIT ?)`, cutoff, slice)
			if err != nil {
				return err
			}
			n, _ = r.RowsAffected()
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("event log: trim failed", "err", err)
			}
			return
		}
		l.Trimmed.Add(uint64(n))
		if n < slice {
			return
		}
	}
}

// Query returns the events f selects, newest first.
func (l *EventLog) Query(ctx context.Context, f EventFilter) ([]Event, error) {
	var where []string
	var args []any
	if f.Source != "" {
		where = append(where, "(host = ? OR source = ?)")
		args = append(args, f.Source, f.Source)
	}
	if !f.From.IsZero() {
		where = append(where, "at > ?")
		args = append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.To.UnixNano())
	}
	if f.MinLevel > 0 {
		where = append(where, "level >= ?")
		args = append(args, int(f.MinLevel))
	}
	if f.Contains != "" {
		where = append(where, "instr(message, ?) > 0")
		args = append(args, f.Contains)
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 10000)
	q := `SELECT id, at, host, check_name, source, level, type, message FROM push_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(f.Limit)
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var at int64
		var lvl int
		if err := rows.Scan(&e.ID, &at, &e.Host, &e.Check, &e.Source, &lvl, &e.Type, &e.Message); err != nil {
			return nil, err
		}
		e.At, e.Level = time.Unix(0, at).UTC(), event.Level(lvl).String()
		out = append(out, e)
	}
	return out, rows.Err()
}

// filterFromArgs reads a filter from query arguments; source names the
// argument holding the source (watchtower: service).
func filterFromArgs(a *fasthttp.Args, source string) (EventFilter, error) {
	var f EventFilter
	var err error
	f.Source = string(a.Peek(source))
	if v := a.Peek("from"); len(v) > 0 {
		if f.From, err = api.ParseTime(string(v)); err != nil {
			return f, fmt.Errorf("from: %w", err)
		}
	}
	if v := a.Peek("to"); len(v) > 0 {
		if f.To, err = api.ParseTime(string(v)); err != nil {
			return f, fmt.Errorf("to: %w", err)
		}
	}
	if v := a.Peek("level"); len(v) > 0 {
		l, ok := event.ParseLevel(strings.ToLower(string(v)))
		if !ok {
			return f, fmt.Errorf("level: want debug, info, warning, error or critical, got %q", v)
		}
		f.MinLevel = l
	}
	f.Contains = string(a.Peek("message"))
	if v := a.Peek("limit"); len(v) > 0 {
		if f.Limit, err = strconv.Atoi(string(v)); err != nil || f.Limit < 1 {
			return f, fmt.Errorf("limit: want a positive number, got %q", v)
		}
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 10000)
	if v := a.Peek("before"); len(v) > 0 {
		if f.Before, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return f, fmt.Errorf("before: want an event id, got %q", v)
		}
	}
	return f, nil
}

// Routes returns GET /api/v1/events: ?source= (host or source is),
// from= (after), to= (before), level= (at or above), message=
// (contains), limit= and before= (paging: {"events": [...], "next": ID}).
func (l *EventLog) Routes() []api.Route {
	return []api.Route{{Prefix: "/api/v1/events", Handler: func(ctx *fasthttp.RequestCtx) {
		if !ctx.IsGet() {
			api.MethodNotAllowed(ctx, "GET")
			return
		}
		f, err := filterFromArgs(ctx.QueryArgs(), "source")
		if err != nil {
			api.WriteError(ctx, fasthttp.StatusBadRequest, err.Error())
			return
		}
		if f.Source == "" {
			f.Source = string(ctx.QueryArgs().Peek("host"))
		}
		evs, err := l.Query(ctx, f)
		if err != nil {
			api.WriteError(ctx, fasthttp.StatusInternalServerError, "event log: query failed")
			return
		}
		out := struct {
			Events []Event `json:"events"`
			Next   *int64  `json:"next"`
		}{Events: evs}
		if len(evs) > 0 && len(evs) == f.Limit {
			n := evs[len(evs)-1].ID
			out.Next = &n
		}
		ctx.SetContentType("application/json")
		json.NewEncoder(ctx).Encode(out)
	}}}
}
