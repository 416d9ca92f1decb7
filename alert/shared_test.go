// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
)

// dbModes are the two ways the engine's database is written: "own" (a
// file of its own, notify.OpenDB) and "store" (the history database,
// through a real store's single writer, as the daemon does).
var dbModes = []string{"own", "store"}

// testDB is an engine database opened in one of dbModes.
type testDB struct {
	db    *notify.DB
	st    *store.Store // "store" mode
	close func()       // closes db, then the store (committing its queue); once
}

func openDB(t *testing.T, path, mode string) *testDB {
	t.Helper()
	d := &testDB{}
	var err error
	switch mode {
	case "own":
		d.db, err = notify.OpenDB(path)
	case "store":
		if d.st, err = store.Open(path, &store.Options{CommitInterval: 50 * time.Millisecond}); err == nil {
			if d.db, err = notify.OpenSharedDB(path, d.st); err != nil {
				d.st.Close()
			}
		}
	default:
		t.Fatalf("mode %q", mode)
	}
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	d.close = func() {
		once.Do(func() {
			d.db.Close()
			if d.st != nil {
				if err := d.st.Close(); err != nil {
					t.Errorf("store close: %v", err)
				}
			}
		})
	}
	t.Cleanup(d.close)
	return d
}

// readRows runs a one-column query on a connection of its own, as another
// process would see the file.
func readRows(t *testing.T, path, q string, args ...any) []string {
	t.Helper()
	db, err := sql.Open("sqlite", sqlitedb.DSN(path, "_pragma=query_only(1)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestAPIWritesCommitted: an acknowledgement or silence the API answers
// for is already in the database file (read on a separate connection right
// after the answer, before any tick), in both modes.
func TestAPIWritesCommitted(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hb.db")
			d := openDB(t, path, mode)
			fx := newFixtureDB(t, nil, d.db)
			fx.host("web1")
			fx.host("db1")
			fx.check("web1", "icmp", obs.KindICMP, state.Down)
			fx.check("db1", "icmp", obs.KindICMP, state.Down)
			fx.advance(3 * time.Second)
			fx.sent()
			now = func() time.Time { return fx.now }
			defer func() { now = time.Now }()
			l := fx.e.List(Filter{Host: "web1"})
			if len(l) != 1 {
				t.Fatalf("alerts %+v", l)
			}
			key := l[0].key()

			if code, body := call(t, fx.e, "POST", fmt.Sprintf("/api/v1/alerts/%d/ack", l[0].ID), `{"by":"alice"}`); code != 200 {
				t.Fatalf("ack: %d %s", code, body)
			}
			got := readRows(t, path, `SELECT body FROM alert_state WHERE key = ?`, key)
			if len(got) != 1 || !strings.Contains(got[0], `"acknowledged":true`) || !strings.Contains(got[0], `"acknowledged_by":"alice"`) {
				t.Fatalf("after the ack answered, the row is %q", got)
			}

			if code, body := call(t, fx.e, "POST", "/api/0/alerts/acknowledge", `{"hostname":"db1","user":"bob"}`); code != 200 || !strings.Contains(body, `"acknowledged":1`) {
				t.Fatalf("hbd ack: %d %s", code, body)
			}
			got = readRows(t, path, `SELECT body FROM alert_state WHERE body LIKE '%"host":"db1"%'`)
			if len(got) != 1 || !strings.Contains(got[0], `"acknowledged_by":"bob"`) {
				t.Fatalf("after the hbd ack answered, the row is %q", got)
			}

			code, body := call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=web1","comment":"reboot","for":"1h"}`)
			if code != 201 {
				t.Fatalf("silence: %d %s", code, body)
			}
			var sil Silence
			json.Unmarshal([]byte(body), &sil)
			got = readRows(t, path, `SELECT body FROM alert_silences WHERE id = ?`, sil.ID)
			if len(got) != 1 || !strings.Contains(got[0], `"comment":"reboot"`) || !strings.Contains(got[0], fmt.Sprintf(`"id":%d`, sil.ID)) {
				t.Fatalf("after the silence was answered, the row is %q", got)
			}
			if code, body := call(t, fx.e, "DELETE", fmt.Sprintf("/api/v1/silences/%d", sil.ID), ""); code != 200 {
				t.Fatalf("delete silence: %d %s", code, body)
			}
			if got = readRows(t, path, `SELECT body FROM alert_silences`); len(got) != 0 {
				t.Fatalf("after the delete was answered, silences %q", got)
			}
		})
	}
}

// TestSharedConnectionCannotWrite: in the history database the engine's
// and the outbox's own connection only reads: a write on it fails, so the
// store's writer is the file's only one. Their writes go through it.
func TestSharedConnectionCannotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	d := openDB(t, path, "store")
	fx := newFixtureDB(t, nil, d.db)
	if _, err := notify.NewOutbox(d.db, notify.OutboxOptions{Config: config.DefaultAlerts().Outbox}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO alert_state(key, body, updated) VALUES('k', '{}', 1)`,
		`INSERT INTO alert_silences(body) VALUES('{}')`,
		`INSERT INTO notify_outbox(channel, created_ns, next_ns, body) VALUES('c', 1, 1, '{}')`,
		`DELETE FROM alert_state`,
		`CREATE TABLE intruder (x)`,
	} {
		_, err := d.db.Conn.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("%s on the shared connection: %v, want a read-only error", q, err)
		}
	}
	if _, err := notify.OpenSharedDB(path, nil); err == nil {
		t.Error("a shared database without a writer was opened")
	}
	// The same writes through the engine land.
	fx.host("web1")
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	if _, err := fx.e.AddSilence(Silence{Matchers: "host=web1", EndsAt: fx.now.Add(time.Hour)}, fx.now); err != nil {
		t.Fatal(err)
	}
	if err := d.st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(readRows(t, path, `SELECT key FROM alert_state`)); n != 1 {
		t.Errorf("%d alert rows, want 1", n)
	}
	// Once the store is closed, writes fail as such.
	d.st.Close()
	if _, err := fx.e.AddSilence(Silence{Matchers: "host=web1", EndsAt: fx.now.Add(time.Hour)}, fx.now); err == nil || !strings.Contains(err.Error(), store.ErrClosed.Error()) {
		t.Errorf("silence after the store closed: %v", err)
	}
}

// TestConcurrentWritesThroughStore: the store commits its own events
// (state changes, problems, messages) while the engine saves alert state
// every tick, the API acknowledges and adds and removes silences, and the
// outbox queues and delivers notifications to a real HTTP receiver — all
// at once, on one writer. No write fails (no SQLITE_BUSY, no lock
// errors), and everything written is there.
func TestConcurrentWritesThroughStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	d := openDB(t, path, "store")
	var delivered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
	}))
	defer srv.Close()
	cfg := config.DefaultAlerts()
	chans := map[string]*notify.Spec{"hook": {Name: "hook", Timeout: 5 * time.Second, MinLevel: "warning",
		Channel: &notify.Webhook{URL: srv.URL, Client: http.DefaultClient}}}
	ob, err := notify.NewOutbox(d.db, notify.OutboxOptions{Config: cfg.Outbox, Channels: chans})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	obDone := make(chan struct{})
	go func() { ob.Run(ctx); close(obDone) }()
	fx := newFixtureDB(t, nil, d.db)

	const hosts, rounds = 20, 30
	for i := range hosts {
		fx.host(fmt.Sprint("h", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	// The store's own events.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range rounds * 20 {
			at := time.Now().UTC()
			h := fmt.Sprint("h", i%hosts)
			d.st.Record(event.Event{Type: event.StateChange, At: at, Host: h, Check: "icmp", Kind: obs.KindICMP, Old: state.Up, New: state.Down})
			d.st.Record(event.Event{Type: event.Problem, At: at, Host: h, Check: "icmp", Kind: obs.KindICMP, Obs: &obs.Observation{At: at, Outcome: obs.Timeout}})
			d.st.Record(event.Event{Type: event.Message, At: at, Host: h, Source: "t", Level: event.LevelInfo, Text: "m"})
			if i%50 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	// The engine: events and ticks (alert state saved without waiting).
	var mu sync.Mutex // the fixture's clock and host map
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range rounds {
			mu.Lock()
			for i := range hosts {
				st := state.Down
				if r%2 == 1 && i%3 == 0 {
					st = state.Up
				}
				fx.check(fmt.Sprint("h", i), "icmp", obs.KindICMP, st)
			}
			fx.now = fx.now.Add(time.Second)
			fx.e.Tick(fx.now)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// The API: acknowledgements and silences, each waiting for its commit.
	var silences atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range rounds {
			mu.Lock()
			t0 := fx.now
			mu.Unlock()
			if _, err := fx.e.AckWhere(fmt.Sprint("h", r%hosts), "", "alice", "", t0); err != nil {
				errs <- fmt.Errorf("ack: %w", err)
			}
			s, err := fx.e.AddSilence(Silence{Matchers: fmt.Sprint("host=h", r%hosts), EndsAt: t0.Add(time.Hour)}, t0)
			if err != nil {
				errs <- fmt.Errorf("silence: %w", err)
				continue
			}
			if r%2 == 0 {
				if err := fx.e.DeleteSilence(s.ID); err != nil {
					errs <- fmt.Errorf("delete silence: %w", err)
				}
			} else {
				silences.Add(1)
			}
		}
	}()
	// The outbox: messages queued (each waiting for its commit), then
	// delivered and marked sent.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range rounds {
			m := &notify.Message{Title: fmt.Sprint("m", r), Text: "x"}
			if err := ob.EnqueueAll([]notify.Queued{{Channel: "hook", Msg: m}}); err != nil {
				errs <- fmt.Errorf("enqueue: %w", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, err := ob.List(context.Background(), "sent", 1000)
		if err == nil && len(recs) == rounds {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages marked sent (%v)", len(recs), rounds, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-obDone
	fx.e.Flush(fx.now) // saves and waits
	if err := d.st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := d.st.Stats(); s.Errors != 0 || s.Dropped != 0 || s.Committed != rounds*20*3 {
		t.Errorf("store: %d errors (%s), %d dropped, %d events committed, want %d", s.Errors, s.LastError, s.Dropped, s.Committed, rounds*20*3)
	}
	if n := delivered.Load(); n < rounds {
		t.Errorf("receiver got %d messages, want %d", n, rounds)
	}
	if got := len(readRows(t, path, `SELECT body FROM alert_silences`)); int64(got) != silences.Load() {
		t.Errorf("%d silences in the file, want %d", got, silences.Load())
	}
	// The file's alert rows are the engine's alerts, as it holds them.
	saved := map[string]string{}
	for _, b := range readRows(t, path, `SELECT body FROM alert_state`) {
		var a Alert
		json.Unmarshal([]byte(b), &a)
		saved[a.key()] = b
	}
	live := fx.e.List(Filter{All: true})
	for _, a := range live {
		b, ok := saved[a.key()]
		if !ok {
			t.Errorf("alert %s %s not saved", a.Host, a.Check)
			continue
		}
		var s Alert
		json.Unmarshal([]byte(b), &s)
		if s.Level != a.Level || s.Acked != a.Acked {
			t.Errorf("alert %s saved as %v acked=%v, live %v acked=%v", a.Host, s.Level, s.Acked, a.Level, a.Acked)
		}
	}
	if len(saved) != len(live) {
		t.Errorf("%d alerts saved, %d live", len(saved), len(live))
	}
}

// slowOut is an outbox whose EnqueueAll blocks until released, as one
// waiting for a busy writer's commit would.
type slowOut struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int64
}

func (s *slowOut) EnqueueAll(q []notify.Queued) error {
	if s.n.Add(int64(len(q))) == int64(len(q)) {
		close(s.entered)
	}
	<-s.release
	return nil
}

// TestRunEvaluatesWhileTickWaits: while a tick waits for its
// notifications' commit, Run keeps taking events from the bus (the ticks
// have a goroutine of their own), and at the end it flushes.
func TestRunEvaluatesWhileTickWaits(t *testing.T) {
	cfg := config.DefaultAlerts()
	cfg.GroupWait = 0
	cfg.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	out := &slowOut{entered: make(chan struct{}), release: make(chan struct{})}
	chans := map[string]*notify.Spec{"ops": {Name: "ops", MinLevel: "warning"}}
	cfg.Channels = []config.AlertChannel{{Name: "ops", URL: "http://127.0.0.1:1/"}}
	cfg.DefaultChannels = []string{"ops"}
	e, err := New(Options{Config: cfg, Channels: chans, Out: out, Hosts: func(string) (HostInfo, bool) { return HostInfo{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	var bus event.Bus
	sub := bus.SubscribeBatch("alert", 1024, event.StateChange)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx, sub); close(done) }()
	down := func(h string) {
		bus.Publish(event.Event{Type: event.StateChange, At: time.Now(), Host: h, Check: "icmp", Kind: obs.KindICMP, New: state.Down, HostNew: state.Down})
	}
	down("first")
	select {
	case <-out.entered: // a tick is now stuck in EnqueueAll
	case <-time.After(10 * time.Second):
		t.Fatal("no tick queued the first notification")
	}
	for i := range 100 {
		down(fmt.Sprint("h", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.List(Filter{})) != 101 {
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts while the tick waits, want 101: events not evaluated", len(e.List(Filter{})))
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(out.release)
	cancel()
	<-done
	if n := out.n.Load(); n < 2 {
		t.Errorf("%d messages queued by the end, want the first and the rest's", n)
	}
}

// failingWriter is a real writer whose jobs fail while fail is set (a
// full disk, say).
type failingWriter struct {
	notify.Writer
	fail atomic.Bool
}

func (w *failingWriter) Queue(ctx context.Context, fn func(*sql.Tx) error, done func(error)) error {
	return w.Writer.Queue(ctx, func(tx *sql.Tx) error {
		if w.fail.Load() {
			return errors.New("disk full")
		}
		return fn(tx)
	}, done)
}

func (w *failingWriter) Exec(ctx context.Context, fn func(*sql.Tx) error) error {
	return w.Writer.Exec(ctx, func(tx *sql.Tx) error {
		if w.fail.Load() {
			return errors.New("disk full")
		}
		return fn(tx)
	})
}

// TestFailedSaveIsRetried: an acknowledgement whose write fails is
// answered with the error and counted; the next save writes the alert as
// it is then.
func TestFailedSaveIsRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	d := openDB(t, path, "own")
	fw := &failingWriter{Writer: d.db.W}
	fx := newFixtureDB(t, nil, &notify.DB{Conn: d.db.Conn, W: fw})
	fx.host("web1")
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	id := fx.e.List(Filter{})[0].ID
	fw.fail.Store(true)
	if _, err := fx.e.Ack(id, "alice", "", fx.now); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("ack with a failing writer: %v", err)
	}
	var b strings.Builder
	fx.e.WriteTo(&b)
	if !strings.Contains(b.String(), "hb_alert_save_errors_total 1\n") {
		t.Errorf("metrics:\n%s", b.String())
	}
	if got := readRows(t, path, `SELECT body FROM alert_state`); len(got) != 1 || strings.Contains(got[0], `"acknowledged":true`) {
		t.Fatalf("rows while failing %q", got)
	}
	fw.fail.Store(false)
	fx.e.Tick(fx.now) // nothing changed since: the failed alert is written again
	if got := readRows(t, path, `SELECT body FROM alert_state`); len(got) != 1 || !strings.Contains(got[0], `"acknowledged_by":"alice"`) {
		t.Fatalf("rows after the retry %q", got)
	}
}

// TestSilenceSaveFailure: a silence the database refuses is answered 500
// (the server failed, the request was fine) on every write of the API,
// names the failure, and leaves no silence behind; a silence the engine
// refuses as invalid stays 400.
func TestSilenceSaveFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	d := openDB(t, path, "own")
	fw := &failingWriter{Writer: d.db.W}
	fx := newFixtureDB(t, nil, &notify.DB{Conn: d.db.Conn, W: fw})
	fx.host("web1")
	now = func() time.Time { return fx.now }
	defer func() { now = time.Now }()
	code, body := call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=\"web1\"","for":"1h"}`)
	if code != 201 {
		t.Fatalf("silence: %d %s", code, body)
	}
	var si Silence
	if err := json.Unmarshal([]byte(body), &si); err != nil || si.ID == 0 {
		t.Fatalf("silence body %s (%v)", body, err)
	}
	fw.fail.Store(true)
	if code, body := call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=\"web1\"","for":"2h"}`); code != 500 || !strings.Contains(body, "disk full") {
		t.Errorf("silence with a failing writer: %d %s, want 500 naming the failure", code, body)
	}
	if code, body := call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=\"web1\""}`); code != 400 {
		t.Errorf("silence without an end: %d %s, want 400", code, body)
	}
	if code, body := call(t, fx.e, "PATCH", fmt.Sprintf("/api/v1/silences/%d", si.ID), `{"extend":"1h"}`); code != 500 || !strings.Contains(body, "disk full") {
		t.Errorf("extend with a failing writer: %d %s, want 500", code, body)
	}
	if code, body := call(t, fx.e, "DELETE", fmt.Sprintf("/api/v1/silences/%d", si.ID), ""); code != 500 || !strings.Contains(body, "disk full") {
		t.Errorf("lift with a failing writer: %d %s, want 500", code, body)
	}
	fw.fail.Store(false)
	if ss := fx.e.Silences(fx.now, true); len(ss) != 1 || ss[0].ID != si.ID || !ss[0].EndsAt.Equal(si.EndsAt) {
		t.Errorf("silences after the failed writes %+v, want only the first, unchanged", ss)
	}
}
