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
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/sqlitedb"
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
	ev := Event{At: e.At.UTC(), Host: e.Host, Check: e.Check, Source: e.Source, Level: e.Level.String(), Message: e.Text}
	switch e.Type {
	case event.Message:
		if e.Check == loggedCheck {
			return Event{}, false
		}
		ev.Type = "message"
		if ev.Source == "" {
			ev.Source = e.Host
		}
	case event.StateChange:
		ev.Type, ev.Source = "state_change", "hb"
		lvl := event.LevelInfo
		switch e.New.String() {
		case "down":
			lvl = event.LevelError
		case "degraded":
			lvl = event.LevelWarning
		}
		ev.Message = fmt.Sprintf("%s %s: %s -> %s", e.Host, e.Check, e.Old, e.New)
		if e.Old == e.New && e.HostOld != e.HostNew {
			// The host's derived state moved, not the check's (a reload
			// changed its checks): the text says so.
			ev.Check, ev.Message = "", e.Text
			if ev.Message == "" {
				ev.Message = fmt.Sprintf("host %s: %s -> %s", e.Host, e.HostOld, e.HostNew)
			}
			switch e.HostNew.String() {
			case "down":
				lvl = event.LevelError
			case "degraded":
				lvl = event.LevelWarning
			default:
				lvl = event.LevelInfo
			}
		}
		ev.Level = lvl.String()
		if e.Obs != nil && e.Obs.Problem != "" {
			ev.Message += " (" + e.Obs.Problem + ")"
		}
	default:
		return Event{}, false
	}
	return ev, true
}

// Consume writes the events of sub (event.Bus.SubscribeBatch to
// event.Message and event.StateChange) until ctx ends, in transactions of up to 256 events
// or 1 s, and trims old ones every hour.
func (l *EventLog) Consume(ctx context.Context, sub *event.Sub) {
	batch := make([]Event, 0, 256)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	trim := time.NewTicker(time.Hour)
	defer trim.Stop()
	l.Trim(ctx, time.Now())
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := l.Write(context.WithoutCancel(ctx), batch); err != nil {
			l.Failed.Add(uint64(len(batch)))
			l.log.Warn("event log: write failed", "events", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	var evs []event.Event
	ready := sub.Ready()
	take := func(evs []event.Event) {
		for i := range evs {
			if ev, ok := FromBus(evs[i]); ok {
				batch = append(batch, ev)
			}
			if len(batch) == cap(batch) {
				flush()
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			// Drain what is queued, then stop.
			evs, _ = sub.Take(evs)
			take(evs)
			flush()
			return
		case <-ready:
			var ok bool
			evs, ok = sub.Take(evs)
			take(evs)
			if !ok {
				ready = nil // closed: wait for ctx
			}
		case <-tick.C:
			flush()
		case now := <-trim.C:
			l.Trim(ctx, now)
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
			l.log.Warn("event log: trim failed", "err", err)
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
