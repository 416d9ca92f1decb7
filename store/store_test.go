// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

// base is a recent minute: rows stamped around it are inside the default
// retention, so the periodic retention pass leaves them alone.
var base = time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)

func openTest(t *testing.T, path string, o *Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func flush(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// result is an event.Result of an icmp check named "icmp".
func result(host string, at time.Time, ok bool, rtt time.Duration, h *wire.Health) event.Event {
	o := &obs.Observation{At: at, Outcome: obs.OK, RTT: rtt, Method: obs.MethodKernelTxRx}
	if h != nil {
		o.Health, o.HasHealth = *h, true
	}
	if !ok {
		o.Outcome, o.RTT, o.Method = obs.Timeout, 0, obs.MethodNone
	}
	return event.Event{Type: event.Result, At: at, Host: host, Check: "icmp", Kind: obs.KindICMP, Obs: o}
}

func change(host string, at time.Time, from, to, hostFrom, hostTo state.State, n uint32) event.Event {
	return event.Event{Type: event.StateChange, At: at, Host: host, Check: "icmp", Kind: obs.KindICMP,
		Old: from, New: to, HostOld: hostFrom, HostNew: hostTo, Snap: &state.Snapshot{State: to, Transitions: n}}
}

func problem(host string, at time.Time, o *obs.Observation) event.Event {
	return event.Event{Type: event.Problem, At: at, Host: host, Check: "icmp", Kind: obs.KindICMP, Obs: o}
}

// health returns a blob that HealthFromBlob reads as cpu%, mem%, 20% disk
// and the given load.
func health(cpu, mem, load float64) *wire.Health {
	return &wire.Health{CPUBusy: uint16(cpu * 10), MemTotal: 1000, MemAvailable: uint64(1000 - mem*10),
		RootTotal: 100, RootUsed: 20, Load1: uint32(load * 1000)}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "hb.db")
	s := openTest(t, path, nil)
	s.SetHosts([]Host{{Name: "a", Address: "198.18.0.1", Labels: map[string]string{"role": "db"}}, {Name: "b", Address: "198.18.0.2"}})
	s.SetChecks([]obs.CheckSpec{{Host: "a", Name: "icmp", Kind: obs.KindICMP, Target: "198.18.0.1"}})
	// Minute 0: 3 OK (1, 2, 3 ms), 1 loss; two health samples.
	s.Record(result("a", base.Add(1*time.Second), true, time.Millisecond, health(10, 50, 1)))
	s.Record(result("a", base.Add(2*time.Second), true, 3*time.Millisecond, health(30, 70, 3)))
	s.Record(result("a", base.Add(3*time.Second), false, 0, nil))
	s.Record(result("a", base.Add(59*time.Second), true, 2*time.Millisecond, nil))
	// Minute 1.
	s.Record(result("a", base.Add(61*time.Second), false, 0, nil))
	s.Record(change("a", base.Add(61*time.Second), state.Up, state.Degraded, state.Up, state.Degraded, 2))
	s.Record(problem("a", base.Add(61*time.Second), &obs.Observation{Outcome: obs.Timeout}))
	s.Record(event.Event{Type: event.Problem, At: base.Add(62 * time.Second), Host: "b", Check: "icmp", Kind: obs.KindICMP,
		Obs: &obs.Observation{Outcome: obs.Error, ICMPType: 3, ICMPCode: 1, From: netip.MustParseAddr("198.18.0.254"), Problem: "host unreachable"}})
	s.Record(event.Event{Type: event.Problem, At: base.Add(63 * time.Second), Host: "b", Check: "tcp:22", Kind: obs.KindTCP,
		Text: "connection refused", Obs: &obs.Observation{Outcome: obs.Error}})
	s.Record(event.Event{Type: event.Message, At: base.Add(64 * time.Second), Host: "b", Source: "backup", Level: event.LevelWarning, Text: "backup late"})
	flush(t, s)

	ctx := context.Background()
	hist, err := s.History(ctx, "a", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("history has %d minutes, want 2: %+v", len(hist), hist)
	}
	m0 := hist[0]
	if !m0.Minute.Equal(base) || m0.Probes != 4 || m0.Losses != 1 || m0.RTTSamples != 3 ||
		m0.RTTMin != time.Millisecond || m0.RTTAvg != 2*time.Millisecond || m0.RTTMax != 3*time.Millisecond ||
		!m0.LastOK.Equal(base.Add(59*time.Second)) {
		t.Errorf("minute 0 = %+v", m0)
	}
	if m0.HealthSamples != 2 || m0.CPU != 20 || m0.Mem != 60 || m0.Disk != 20 || m0.Load1 != 2 {
		t.Errorf("minute 0 health = %+v", m0)
	}
	// Minute 1 has no health sample: none carries over from minute 0 (the
	// sums are kept apart from the rollup and started afresh each minute).
	if m1 := hist[1]; m1.Probes != 1 || m1.Losses != 1 || m1.RTTSamples != 0 || m1.RTTMax != 0 || !m1.LastOK.IsZero() ||
		m1.HealthSamples != 0 || m1.CPU != 0 || m1.Load1 != 0 {
		t.Errorf("minute 1 = %+v", m1)
	}
	// from/to bound the minutes.
	if h, _ := s.History(ctx, "a", base.Add(time.Minute), time.Time{}); len(h) != 1 {
		t.Errorf("history from minute 1: %d rows", len(h))
	}
	if h, _ := s.CheckHistory(ctx, "a", "icmp", time.Time{}, base.Add(time.Minute)); len(h) != 1 || h[0].Probes != 4 {
		t.Errorf("check history of minute 0: %+v", h)
	}
	if h, _ := s.History(ctx, "nobody", time.Time{}, time.Time{}); len(h) != 0 {
		t.Errorf("unknown host has history %v", h)
	}

	probs, err := s.Problems(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 3 {
		t.Fatalf("problems = %+v", probs)
	}
	if p := probs[0]; p.Host != "b" || p.Check != "tcp:22" || p.CheckKind != "tcp" || p.Kind != KindError || p.Detail != "connection refused" {
		t.Errorf("tcp problem = %+v", p)
	}
	if p := probs[1]; p.Host != "b" || p.Kind != KindICMPError || p.ICMPType != 3 ||
		p.ICMPCode != 1 || p.From.String() != "198.18.0.254" || !p.At.Equal(base.Add(62*time.Second)) || p.Detail != "host unreachable" {
		t.Errorf("icmp problem = %+v", p)
	}
	if p, _ := s.Problems(ctx, Query{Host: "a"}); len(p) != 1 || p[0].Kind != KindTimeout || p[0].From.IsValid() {
		t.Errorf("problems of a = %+v", p)
	}
	if p, _ := s.Problems(ctx, Query{Host: "b", Check: "icmp"}); len(p) != 1 || p[0].Kind != KindICMPError {
		t.Errorf("problems of b/icmp = %+v", p)
	}
	if p, _ := s.Problems(ctx, Query{Limit: 1, Before: probs[1].ID}); len(p) != 1 || p[0].Host != "a" {
		t.Errorf("third page = %+v", p)
	}
	trs, err := s.StateChanges(ctx, Query{Host: "a"})
	if err != nil || len(trs) != 1 || trs[0].From != "up" || trs[0].To != "degraded" || trs[0].Check != "icmp" || trs[0].HostTo != "degraded" {
		t.Fatalf("state changes = %+v, %v", trs, err)
	}
	msgs, err := s.Messages(ctx, MessageQuery{Source: "backup", MinLevel: event.LevelWarning, Contains: "late"})
	if err != nil || len(msgs) != 1 || msgs[0].Host != "b" || msgs[0].Level != event.LevelWarning || msgs[0].Text != "backup late" {
		t.Fatalf("messages = %+v, %v", msgs, err)
	}
	if m, _ := s.Messages(ctx, MessageQuery{MinLevel: event.LevelError}); len(m) != 0 {
		t.Errorf("level filter: %+v", m)
	}

	// The last state survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, path, nil)
	hosts, err := s2.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 {
		t.Fatalf("hosts = %+v", hosts)
	}
	a := hosts[0]
	if a.Name != "a" || a.Address != "198.18.0.1" || a.Labels["role"] != "db" || a.State != "degraded" ||
		!a.StateSince.Equal(base.Add(61*time.Second)) || a.Transitions != 1 {
		t.Errorf("host a = %+v", a)
	}
	if b := hosts[1]; b.State != "unknown" || b.FirstSeen.IsZero() {
		t.Errorf("host b = %+v", b)
	}
	checks, err := s2.Checks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 3 {
		t.Fatalf("checks = %+v", checks)
	}
	if c := checks[0]; c.Host != "a" || c.Name != "icmp" || c.Kind != obs.KindICMP || c.Target != "198.18.0.1" ||
		c.Address != "198.18.0.1" || c.State != state.Degraded || !c.StateSince.Equal(base.Add(61*time.Second)) || c.Transitions != 2 {
		t.Errorf("check a/icmp = %+v", c)
	}
	if c := checks[2]; c.Host != "b" || c.Name != "tcp:22" || c.Kind != obs.KindTCP || c.State != state.Unknown {
		t.Errorf("check b/tcp:22 = %+v", c)
	}
	// The minute continues across the restart: the row is added to.
	s2.Record(result("a", base.Add(62*time.Second), true, 500*time.Microsecond, nil))
	flush(t, s2)
	hist, _ = s2.History(ctx, "a", base.Add(time.Minute), time.Time{})
	if len(hist) != 1 || hist[0].Probes != 2 || hist[0].RTTMin != 500*time.Microsecond {
		t.Errorf("minute 1 after restart = %+v", hist)
	}
	st := s2.Stats()
	if st.Results != 1 || st.RollupRows != 1 || st.Committed != 0 || st.Commits != 1 || st.Dropped != 0 || st.Errors != 0 || st.Checks != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// Rollups are written once per check per minute: results of the minute in
// progress stay in memory until the minute has ended (plus the grace),
// while state changes are committed within the commit interval.
func TestRollupOncePerMinute(t *testing.T) {
	var mu sync.Mutex
	now := base.Add(10 * time.Second)
	var infos []CommitInfo
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), &Options{
		CommitInterval: 20 * time.Millisecond,
		Now:            func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		OnCommit:       func(c CommitInfo) { mu.Lock(); infos = append(infos, c); mu.Unlock() },
	})
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	waitFor := func(what string, f func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !f(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stats %+v", what, s.Stats())
			}
		}
	}
	const checks = 150 // two multi-row statements and single rows
	for i := range checks {
		for j := range 6 { // 6 results each, 10 s apart
			s.Record(result(fmt.Sprintf("h%d", i), base.Add(time.Duration(j)*10*time.Second), true, time.Millisecond, nil))
		}
	}
	s.Record(change("h0", base.Add(5*time.Second), state.Unknown, state.Up, state.Unknown, state.Up, 1))
	waitFor("the state change", func() bool { return s.Stats().Committed == 1 })
	if st := s.Stats(); st.RollupRows != 0 || st.Results != checks*6 {
		t.Fatalf("mid-minute: %+v (no rollup row may be written yet)", st)
	}
	// The minute ends; within the grace nothing is written yet.
	setNow(base.Add(61 * time.Second))
	time.Sleep(100 * time.Millisecond)
	if st := s.Stats(); st.RollupRows != 0 {
		t.Fatalf("rollups written within the grace: %+v", st)
	}
	setNow(base.Add(62 * time.Second))
	waitFor("the minute's rollups", func() bool { return s.Stats().RollupRows == checks })
	// One row per check, one statement each: every result is in them.
	// OnCommit runs after the commit's counters are updated: wait for it.
	var rows, results uint64
	waitFor("the rollups' OnCommit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		rows, results = 0, 0
		for _, c := range infos {
			rows += c.Rollups
			results += c.Results
		}
		return rows >= checks
	})
	if rows != checks || results != checks*6 {
		t.Fatalf("commits wrote %d rows for %d results; want %d rows for %d", rows, results, checks, checks*6)
	}
	var n, probes int
	if err := s.r.QueryRow(`SELECT count(*), sum(probes) FROM rollups`).Scan(&n, &probes); err != nil {
		t.Fatal(err)
	}
	if n != checks || probes != checks*6 {
		t.Fatalf("rollups table: %d rows, %d probes", n, probes)
	}
	// A late result for the written minute is added to its row.
	s.Record(result("h1", base.Add(59*time.Second), false, 0, nil))
	s.Record(result("h1", base.Add(70*time.Second), true, time.Millisecond, nil))
	flush(t, s)
	h, err := s.CheckHistory(context.Background(), "h1", "icmp", time.Time{}, time.Time{})
	if err != nil || len(h) != 2 || h[0].Probes != 7 || h[0].Losses != 1 || h[1].Probes != 1 {
		t.Fatalf("h1 history = %+v, %v", h, err)
	}
}

// Consume reads a bus subscription; a slow store never blocks Publish, and
// what it could not take is counted in Stats.Dropped.
func TestConsume(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	var bus event.Bus
	sub := bus.SubscribeBatch("store", 1024, append(Types, event.Message)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx, sub) }()
	// Consume attaches asynchronously; wait until the writer reads the sub.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		bus.Publish(event.Event{Type: event.Message, At: base, Source: "probe", Level: event.LevelInfo, Text: "hello"})
		flush(t, s)
		if m, _ := s.Messages(context.Background(), MessageQuery{Source: "probe"}); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Consume never delivered")
		}
	}
	if err := s.Consume(ctx, sub); err == nil {
		t.Fatal("a second Consume was accepted")
	}
	for i := range 100 {
		bus.Publish(result("c", base.Add(time.Duration(i)*time.Millisecond), true, time.Millisecond, nil))
	}
	bus.Publish(change("c", base.Add(time.Second), state.Unknown, state.Up, state.Unknown, state.Up, 1))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sub.Close()
	flush(t, s)
	h, _ := s.History(context.Background(), "c", time.Time{}, time.Time{})
	if len(h) != 1 || h[0].Probes != 100 {
		t.Fatalf("history after Consume = %+v", h)
	}
	if c, _ := s.StateChanges(context.Background(), Query{Host: "c"}); len(c) != 1 {
		t.Fatalf("state changes = %+v", c)
	}

	// Overflow: a queue of 1 that nobody reads while 10 events arrive.
	sub2 := bus.SubscribeBatch("store2", 1, Types...)
	s2 := openTest(t, filepath.Join(t.TempDir(), "hb2.db"), nil)
	s2.sub.Store(sub2) // counted in Stats without a reader
	for range 10 {
		bus.Publish(result("d", base, true, time.Millisecond, nil))
	}
	if st := s2.Stats(); st.Dropped != 9 || st.Queued != 1 {
		t.Fatalf("stats with a full subscription = %+v", st)
	}
	s2.sub.Store(nil)
	sub2.Close()
}

func TestLabelsUpdate(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	s.SetHosts([]Host{{Name: "a", Address: "198.18.0.1", Labels: map[string]string{"x": "1"}}})
	flush(t, s)
	s.SetHosts([]Host{{Name: "a", Address: "198.18.0.9"}})
	flush(t, s)
	h, err := s.Hosts(context.Background())
	if err != nil || len(h) != 1 || h[0].Address != "198.18.0.9" || len(h[0].Labels) != 0 {
		t.Fatalf("hosts = %+v, %v", h, err)
	}
}

func TestRetention(t *testing.T) {
	now := base.Add(48 * time.Hour)
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), &Options{
		Retention:   24 * time.Hour,
		DeleteBatch: 7, // several batches per table
		Now:         func() time.Time { return now },
	})
	const old, fresh = 50, 5
	rec := func(at time.Time) {
		s.Record(result("a", at, true, time.Millisecond, nil))
		s.Record(problem("a", at, &obs.Observation{Outcome: obs.Timeout}))
		s.Record(change("a", at, state.Up, state.Down, state.Up, state.Down, 0))
		s.Record(event.Event{Type: event.Message, At: at, Source: "x", Text: "m"})
	}
	for i := range old {
		rec(base.Add(time.Duration(i) * time.Minute)) // 2 days old
	}
	for i := range fresh {
		rec(now.Add(-time.Duration(i+1) * time.Minute))
	}
	ctx := context.Background()
	flush(t, s)
	if err := s.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"rollups", "problems", "state_changes", "events"} {
		var n int
		if err := s.r.QueryRow(`SELECT count(*) FROM ` + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != fresh {
			t.Errorf("%s: %d rows left, want %d", tbl, n, fresh)
		}
	}
	if d := s.Stats().Deleted; d != 4*old {
		t.Errorf("deleted %d rows, want %d", d, 4*old)
	}
	// Hosts and checks stay.
	if h, _ := s.Hosts(ctx); len(h) != 1 {
		t.Errorf("hosts = %+v", h)
	}
	if c, _ := s.Checks(ctx); len(c) != 1 || c[0].Transitions != uint32(old+fresh) {
		t.Errorf("checks = %+v", c)
	}
}

// A version 1 database (history per host) is migrated: each host becomes
// an "icmp" check that keeps its rollups, transitions, problems and state.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	at := base.UnixMilli()
	for _, q := range []string{
		`CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, address TEXT NOT NULL DEFAULT '',
			labels TEXT NOT NULL DEFAULT '{}', first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0,
			state TEXT NOT NULL DEFAULT 'unknown', state_since INTEGER NOT NULL DEFAULT 0, transitions INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE rollups (host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE, minute INTEGER NOT NULL,
			probes INTEGER NOT NULL DEFAULT 0, losses INTEGER NOT NULL DEFAULT 0, rtt_n INTEGER NOT NULL DEFAULT 0,
			rtt_sum INTEGER NOT NULL DEFAULT 0, rtt_min INTEGER, rtt_max INTEGER, health_n INTEGER NOT NULL DEFAULT 0,
			cpu_sum REAL NOT NULL DEFAULT 0, mem_sum REAL NOT NULL DEFAULT 0, disk_sum REAL NOT NULL DEFAULT 0,
			load_sum REAL NOT NULL DEFAULT 0, UNIQUE (host_id, minute))`,
		`CREATE INDEX rollups_minute ON rollups (minute)`,
		`CREATE TABLE transitions (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
			at INTEGER NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL)`,
		`CREATE INDEX transitions_at ON transitions (at)`,
		`CREATE INDEX transitions_host_at ON transitions (host_id, at)`,
		`CREATE TABLE problems (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
			at INTEGER NOT NULL, kind TEXT NOT NULL, icmp_type INTEGER, icmp_code INTEGER, from_addr TEXT NOT NULL DEFAULT '',
			detail TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX problems_at ON problems (at)`,
		`CREATE INDEX problems_host_at ON problems (host_id, at)`,
		`CREATE VIEW rollups_avg AS SELECT h.name, r.minute FROM rollups r JOIN hosts h ON h.id = r.host_id`,
		fmt.Sprintf(`INSERT INTO hosts VALUES (7, 'a', '198.18.0.1', '{"x":"1"}', %d, %d, 'down', %d, 3)`, at, at, at+5),
		fmt.Sprintf(`INSERT INTO rollups VALUES (7, %d, 6, 1, 5, 5000000, 500000, 2000000, 0, 0, 0, 0, 0)`, at),
		fmt.Sprintf(`INSERT INTO transitions VALUES (1, 7, %d, 'up', 'down')`, at+5),
		fmt.Sprintf(`INSERT INTO problems VALUES (1, 7, %d, 'send-error', NULL, NULL, '', 'no route')`, at+6),
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path, nil)
	ctx := context.Background()
	c, err := s.Checks(ctx)
	if err != nil || len(c) != 1 || c[0].Host != "a" || c[0].Name != "icmp" || c[0].Kind != obs.KindICMP ||
		c[0].State != state.Down || c[0].Transitions != 3 || c[0].StateSince.UnixMilli() != at+5 {
		t.Fatalf("checks after migration = %+v, %v", c, err)
	}
	h, err := s.History(ctx, "a", time.Time{}, time.Time{})
	if err != nil || len(h) != 1 || h[0].Probes != 6 || h[0].RTTAvg != time.Millisecond {
		t.Fatalf("history after migration = %+v, %v", h, err)
	}
	sc, err := s.StateChanges(ctx, Query{Host: "a", HostChanges: true})
	if err != nil || len(sc) != 1 || sc[0].To != "down" || sc[0].HostTo != "down" {
		t.Fatalf("state changes after migration = %+v, %v", sc, err)
	}
	p, err := s.Problems(ctx, Query{})
	if err != nil || len(p) != 1 || p[0].Kind != KindError || p[0].Detail != "no route" {
		t.Fatalf("problems after migration = %+v, %v", p, err)
	}
	// And it keeps working: the migrated check gets new rows.
	s.Record(result("a", base.Add(time.Minute), true, time.Millisecond, nil))
	flush(t, s)
	if h, _ := s.CheckHistory(ctx, "a", "icmp", time.Time{}, time.Time{}); len(h) != 2 {
		t.Fatalf("history after a new result = %+v", h)
	}
	var v int
	if err := s.r.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version = %d, %v", v, err)
	}
}

func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, filepath.Join(dir, "hb.db"), &Options{CommitInterval: 10 * time.Millisecond})
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			at := base.Add(time.Duration(i) * time.Second)
			s.Record(result("a", at, true, time.Millisecond, nil))
			s.Record(problem("a", at, &obs.Observation{Outcome: obs.Timeout}))
			if i%1000 == 999 {
				s.Flush(ctx) // write the rollups too
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for s.Stats().Committed < 1000 || s.Stats().RollupRows == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// From the open store, and from a second handle as `hb-probe backup`
	// does while the daemon runs.
	for _, tc := range []struct {
		name string
		run  func(dst string) error
	}{
		{"store", func(dst string) error { return s.Backup(ctx, dst) }},
		{"file", func(dst string) error { return Backup(ctx, s.Path(), dst) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(dir, tc.name+"-backup.db")
			if err := tc.run(dst); err != nil {
				t.Fatal(err)
			}
			checkBackup(t, dst)
			if err := tc.run(dst); err == nil {
				t.Error("backup overwrote an existing file")
			}
		})
	}
}

func checkBackup(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	var probes, problems, hosts int
	if err := db.QueryRow(`SELECT coalesce(sum(probes), 0) FROM rollups`).Scan(&probes); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM problems`).Scan(&problems); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM hosts`).Scan(&hosts); err != nil {
		t.Fatal(err)
	}
	if probes == 0 || problems == 0 || hosts != 1 {
		t.Fatalf("backup holds %d probes, %d problems, %d hosts", probes, problems, hosts)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("backup user_version = %d, %v", v, err)
	}
	t.Logf("backup: %d probes, %d problems", probes, problems)
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		state, xdg, home, want string
	}{
		{"/var/lib/hb-probe", "/x", "/h", "/var/lib/hb-probe/hb-probe.db"},
		{"/var/lib/a:/var/lib/b", "", "/h", "/var/lib/a/hb-probe.db"},
		{"", "/data", "/h", "/data/hb/hb-probe.db"},
		{"", "relative", "/h", "/h/.local/share/hb/hb-probe.db"},
		{"", "", "/h", "/h/.local/share/hb/hb-probe.db"},
	}
	for _, tt := range tests {
		t.Setenv("STATE_DIRECTORY", tt.state)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		got, err := DefaultPath()
		if err != nil || got != tt.want {
			t.Errorf("STATE_DIRECTORY=%q XDG_DATA_HOME=%q: %q, %v; want %q", tt.state, tt.xdg, got, err, tt.want)
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "hb.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Record(result("a", base, true, 0, nil))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != ErrClosed {
		t.Fatalf("Flush after Close = %v", err)
	}
	s.Record(result("a", base, true, 0, nil)) // dropped, no panic
	if st := s.Stats(); st.Results != 1 || st.RollupRows != 1 || st.Dropped != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// A slow database does not back the event queue up: the aggregator keeps
// reading while a commit is stuck, and everything is written once it
// returns.
func TestSlowCommitDoesNotBlockEvents(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	blocked := make(chan struct{})
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), &Options{
		CommitInterval: 10 * time.Millisecond,
		OnCommit: func(CommitInfo) {
			once.Do(func() { close(blocked); <-release }) // the first commit hangs
		},
	})
	var bus event.Bus
	sub := bus.SubscribeBatch("store", 64, append(Types, event.Message)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx, sub) }()
	defer func() { cancel(); <-done; sub.Close() }()
	var released sync.Once // a failure below must not leave the commit stuck
	defer released.Do(func() { close(release) })
	bus.Publish(event.Event{Type: event.Message, At: base, Source: "x", Text: "first"})
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("no commit")
	}
	// The database is stuck; 20,000 events through a queue of 64.
	const n = 20000
	giveUp := time.Now().Add(10 * time.Second)
	for i := range n {
		bus.Publish(result(fmt.Sprintf("h%d", i%100), base.Add(time.Duration(i)*time.Millisecond), true, time.Millisecond, nil))
		if i%32 == 31 {
			for sub.Len() > 32 && time.Now().Before(giveUp) { // pace the publisher a little, never the store
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Results < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the store took %d of %d results while its database was stuck", s.Stats().Results, n)
		}
	}
	if d := sub.Dropped(); d != 0 {
		t.Fatalf("%d events dropped while the database was stuck", d)
	}
	released.Do(func() { close(release) })
	flush(t, s)
	var probes int
	if err := s.r.QueryRow(`SELECT coalesce(sum(probes), 0) FROM rollups`).Scan(&probes); err != nil || probes != n {
		t.Fatalf("rollups hold %d results (%v), want %d", probes, err, n)
	}
}

// TestRetentionZeroKeeps: Retention 0 means forever, as config's
// store.retention = 0 (no translation in the caller); EnforceRetention
// then deletes nothing and returns.
func TestRetentionZeroKeeps(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "hb.db"), &Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Record(event.Event{Type: event.Problem, At: now.Add(-400 * 24 * time.Hour), Host: "a", Check: "icmp", Kind: obs.KindICMP,
		Obs: &obs.Observation{At: now.Add(-400 * 24 * time.Hour), Outcome: obs.Timeout}, Text: "timeout"})
	ctx := context.Background()
	if err := s.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Problems(ctx, Query{})
	if err != nil || len(ps) != 1 {
		t.Errorf("a 400-day-old problem with retention 0: %v, %v", ps, err)
	}
}

// TestManyHostsAndChecks: hosts and checks configured (and checks known
// only from their events, on hosts not configured) in numbers that are
// not multiples of the multi-row statement are all written, each check
// under its own host: the rows go out a statement at a time as they are
// made, hosts before the checks that refer to them.
func TestManyHostsAndChecks(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	const n = 3*multiRows + 7
	hosts := make([]Host, n)
	specs := make([]obs.CheckSpec, n)
	for i := range n {
		name := fmt.Sprintf("h%03d", i)
		hosts[i] = Host{Name: name, Address: fmt.Sprintf("198.18.%d.%d", i>>8, i&255), Labels: map[string]string{"i": fmt.Sprint(i)}}
		specs[i] = obs.CheckSpec{Host: name, Name: "icmp", Kind: obs.KindICMP, Target: hosts[i].Address}
	}
	s.SetHosts(hosts)
	s.SetChecks(specs)
	for i := range 2*multiRows + 3 { // hosts known only from their events
		s.Record(result(fmt.Sprintf("pushed%03d", i), base.Add(time.Second), true, time.Millisecond, nil))
	}
	flush(t, s)
	ctx := context.Background()
	hs, err := s.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != n+2*multiRows+3 {
		t.Fatalf("%d hosts, want %d", len(hs), n+2*multiRows+3)
	}
	cs, err := s.Checks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != n+2*multiRows+3 {
		t.Fatalf("%d checks, want %d", len(cs), n+2*multiRows+3)
	}
	addr := map[string]string{}
	for _, h := range hosts {
		addr[h.Name] = h.Address
	}
	for _, c := range cs {
		if a, ok := addr[c.Host]; ok && (c.Address != a || c.Target != a) {
			t.Errorf("check %s/%s: address %q target %q, want %q", c.Host, c.Name, c.Address, c.Target, a)
		}
	}
}

// TestResultsAcrossReload: the writer caches each result's check by the
// event's table generation and index; after a reload the same index names
// another check, and its results must count for that check.
func TestResultsAcrossReload(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	res := func(gen uint64, id int, host string, j int) {
		e := result(host, base.Add(time.Duration(j)*time.Second), true, time.Millisecond, nil)
		e.Gen, e.ID = gen, id
		s.Record(e)
	}
	res(1, 0, "a", 1)
	res(1, 1, "b", 2)
	res(1, 0, "a", 3)
	// Reload: "a" removed, "b" is now id 0, "c" id 1.
	res(2, 0, "b", 4)
	res(2, 1, "c", 5)
	res(2, 0, "b", 6)
	flush(t, s)
	for host, want := range map[string]int64{"a": 2, "b": 3, "c": 1} {
		h, err := s.CheckHistory(context.Background(), host, "icmp", time.Time{}, time.Time{})
		if err != nil || len(h) != 1 || h[0].Probes != want {
			t.Errorf("%s: history %+v, %v; want one minute of %d probes", host, h, err, want)
		}
	}
}

// TestResultsAcrossTableReload: with a table, the writer keeps its
// per-check records in a slice indexed by the table's check ids and
// remaps them at each generation. A reload that removes a check, adds
// others and renumbers the rest must leave every result on its own
// check's row: by the new ids, by name for a late result of the old
// generation, and with the rollup in progress across the reload kept.
func TestResultsAcrossTableReload(t *testing.T) {
	spec := func(hosts ...string) []state.HostSpec {
		var hs []state.HostSpec
		for _, h := range hosts {
			hs = append(hs, state.HostSpec{Name: h, Checks: []obs.CheckSpec{
				{Host: h, Name: "icmp", Kind: obs.KindICMP, Interval: time.Second, Timeout: time.Second},
			}})
		}
		return hs
	}
	tab, err := state.New(spec("a", "b", "c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hb.db")
	s := openTest(t, path, &Options{Table: tab})
	id := func(host string) (uint64, int) {
		v := tab.View()
		c := v.LookupCheck(host, "icmp")
		if c == nil {
			t.Fatalf("%s not in the table", host)
		}
		return v.Gen, c.ID
	}
	res := func(gen uint64, id int, host string, j int) {
		e := result(host, base.Add(time.Duration(j)*time.Second), true, time.Millisecond, nil)
		e.Gen, e.ID = gen, id
		s.Record(e)
	}
	g1, a1 := id("a")
	_, b1 := id("b")
	_, c1 := id("c")
	res(g1, a1, "a", 1)
	res(g1, b1, "b", 2)
	res(g1, c1, "c", 3)
	res(g1, b1, "b", 4)
	flush(t, s) // the records exist, in the slice of generation 1

	// "a" removed, "d" and "e" added before the others: every id moves.
	if _, err := tab.Reload(spec("d", "e", "b", "c")); err != nil {
		t.Fatal(err)
	}
	g2, b2 := id("b")
	_, c2 := id("c")
	_, d2 := id("d")
	_, e2 := id("e")
	if g2 == g1 || b2 == b1 || c2 == c1 {
		t.Fatalf("reload kept the ids: gen %d→%d, b %d→%d, c %d→%d", g1, g2, b1, b2, c1, c2)
	}
	// A generation-1 result arriving after the reload: id a1 is now "d"'s
	// in the new numbering; the event must count for "a" (by name).
	res(g1, a1, "a", 5)
	res(g2, b2, "b", 6)
	res(g2, c2, "c", 7)
	res(g2, d2, "d", 8)
	res(g2, e2, "e", 9)
	res(g2, d2, "d", 10)
	// The old generation's id of "b" names another check now.
	res(g1, b1, "b", 11)
	flush(t, s)
	want := map[string]int64{"a": 2, "b": 4, "c": 2, "d": 2, "e": 1}
	for host, n := range want {
		h, err := s.CheckHistory(context.Background(), host, "icmp", time.Time{}, time.Time{})
		if err != nil || len(h) != 1 || h[0].Probes != n {
			t.Errorf("%s: history %+v, %v; want one minute of %d probes", host, h, err, n)
		}
	}
	if st := s.Stats(); st.Checks != len(want) {
		t.Errorf("%d checks recorded, want %d", st.Checks, len(want))
	}

	// A host appended (a registration: the others keep their ids, placed
	// without a lookup by name), then a table that shrinks to "e" and
	// "b" (their ids move down); a result by each generation's id lands
	// on its own check.
	if _, err := tab.Reload(spec("d", "e", "b", "c", "f")); err != nil {
		t.Fatal(err)
	}
	g3, b3 := id("b")
	_, f3 := id("f")
	if b3 != b2 {
		t.Fatalf("appending a host moved b: %d→%d", b2, b3)
	}
	res(g3, b3, "b", 12)
	res(g3, f3, "f", 13)
	flush(t, s)
	if _, err := tab.Reload(spec("e", "b")); err != nil {
		t.Fatal(err)
	}
	g4, b4 := id("b")
	_, e4 := id("e")
	res(g4, b4, "b", 14)
	res(g4, e4, "e", 15)
	res(g3, f3, "f", 16) // a late result of the previous generation: by name
	flush(t, s)
	for host, n := range map[string]int64{"b": 2 + 4, "e": 2, "f": 2, "c": 2, "d": 2} {
		want[host] = n
	}
	for host, n := range want {
		h, err := s.CheckHistory(context.Background(), host, "icmp", time.Time{}, time.Time{})
		if err != nil || len(h) != 1 || h[0].Probes != n {
			t.Errorf("%s after the second reloads: history %+v, %v; want one minute of %d probes", host, h, err, n)
		}
	}

	// Restart on the reloaded table: the history's checks (with "a",
	// which is not configured any more) are loaded and placed again; a
	// result for the next minute lands on its row, none is duplicated.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, &Options{Table: tab})
	if st := s.Stats(); st.Checks != len(want) {
		t.Errorf("after restart: %d checks loaded, want %d", st.Checks, len(want))
	}
	res(g2, c2, "c", 61)
	res(g2+5, 0, "a", 62) // a generation the writer has not seen; "a" by name
	flush(t, s)
	for host, n := range map[string]int{"a": 2, "c": 2} {
		h, err := s.CheckHistory(context.Background(), host, "icmp", time.Time{}, time.Time{})
		if err != nil || len(h) != n || h[n-1].Probes != 1 {
			t.Errorf("%s after restart: history %+v, %v; want %d minutes, the last of 1 probe", host, h, err, n)
		}
	}
	cs, err := s.Checks(context.Background())
	if err != nil || len(cs) != len(want) {
		t.Errorf("after restart: %d check rows (%v), want %d", len(cs), err, len(want))
	}
}

// TestTargetChanges: the writer keeps only a hash of each check's
// configured target and hands the target itself to the SQL goroutine with
// the batch; a changed target (also twice in one batch, and after a
// restart, where the hash comes from the database) must reach the row.
func TestTargetChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	s := openTest(t, path, nil)
	set := func(kind obs.Kind, target string) {
		s.SetChecks([]obs.CheckSpec{{Host: "a", Name: "c", Kind: kind, Target: target}})
	}
	want := func(kind obs.Kind, target string) {
		t.Helper()
		flush(t, s)
		cs, err := s.Checks(context.Background())
		if err != nil || len(cs) != 1 || cs[0].Kind != kind || cs[0].Target != target {
			t.Fatalf("checks %+v, %v; want one %s check with target %q", cs, err, kind, target)
		}
	}
	set(obs.KindTCP, "198.18.0.1:22")
	want(obs.KindTCP, "198.18.0.1:22")
	set(obs.KindTCP, "198.18.0.1:80")
	set(obs.KindHTTP, "http://198.18.0.1/") // same batch: kind and the newer target
	want(obs.KindHTTP, "http://198.18.0.1/")
	set(obs.KindHTTP, "") // "" keeps the target
	want(obs.KindHTTP, "http://198.18.0.1/")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, nil)
	set(obs.KindHTTP, "http://198.18.0.1/")
	want(obs.KindHTTP, "http://198.18.0.1/")
	set(obs.KindHTTP, "http://198.18.0.2/")
	want(obs.KindHTTP, "http://198.18.0.2/")
}

// TestRecordSize: the per-check record is held for every check (100k at
// a large fleet): keep it and a finished row in 64 bytes, and both
// pointer-free (they live outside the Go heap).
func TestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(rec{}); n > 64 {
		t.Errorf("rec is %d bytes, want at most 64", n)
	}
	if offheap.HasPointers(reflect.TypeFor[rec]()) || offheap.HasPointers(reflect.TypeFor[pend]()) || offheap.HasPointers(reflect.TypeFor[hostEnt]()) {
		t.Error("rec, pend or hostEnt holds pointers")
	}
	if n := unsafe.Sizeof(pend{}); n > 64 {
		t.Errorf("pend is %d bytes, want at most 64", n)
	}
}

// TestMinuteNum: a rollup keeps its minute as unix minutes in 32 bits;
// minutes before 1970 and the zero time.Time round-trip, times beyond
// the range clamp rather than wrap.
func TestMinuteNum(t *testing.T) {
	for _, at := range []time.Time{base, base.Add(59 * time.Second), time.Unix(-61, 0), {}, time.Date(6000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		m := minuteOf(ms(at))
		a := rollAcc{minute: minuteNum(m)}
		if got := a.minuteMS(); got != m {
			t.Errorf("%v: minute %d ms, want %d", at, got, m)
		}
	}
	if got, want := minuteNum(minuteOf(ms(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)))), int32(math.MaxInt32); got != want {
		t.Errorf("year 9999: minute %d, want clamped to %d", got, want)
	}
}

// TestRollupsInBatchTransaction: the rollup rows, handed to the driver
// directly, are written in the commit's transaction: when a later
// statement of the same commit fails, none of them (a multi-row
// statement's and single rows) is in the database; once it succeeds,
// every row is, with its values.
func TestRollupsInBatchTransaction(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	const n = rollupMulti + 6
	record := func(at time.Time) {
		for i := range n {
			s.Record(result(fmt.Sprintf("h%03d", i), at, true, time.Duration(1000+i)*time.Microsecond, nil))
			s.Record(result(fmt.Sprintf("h%03d", i), at.Add(time.Second), i%2 == 0, 2*time.Millisecond, nil))
		}
		s.Record(change("h000", at, state.Unknown, state.Up, state.Unknown, state.Up, 1))
	}
	rollups := func() (rows, probes int64) {
		if err := s.w.QueryRow(`SELECT count(*), coalesce(sum(probes), 0) FROM rollups`).Scan(&rows, &probes); err != nil {
			t.Fatal(err)
		}
		return rows, probes
	}
	if _, err := s.w.Exec(`CREATE TRIGGER boom BEFORE INSERT ON state_changes BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	record(base)
	if err := s.Flush(context.Background()); err == nil {
		t.Fatal("the commit succeeded despite the failing trigger")
	}
	if r, _ := rollups(); r != 0 {
		t.Fatalf("%d rollup rows committed by a failed commit", r)
	}
	if _, err := s.w.Exec(`DROP TRIGGER boom`); err != nil {
		t.Fatal(err)
	}
	record(base.Add(time.Minute))
	flush(t, s)
	if r, p := rollups(); r != n || p != 2*n {
		t.Fatalf("%d rollup rows of %d probes, want %d of %d", r, p, n, 2*n)
	}
	h, err := s.CheckHistory(context.Background(), "h065", "icmp", time.Time{}, time.Time{})
	if err != nil || len(h) != 1 || h[0].Probes != 2 || h[0].Losses != 1 || h[0].RTTSamples != 1 ||
		h[0].RTTMin != 1065*time.Microsecond || !h[0].LastOK.Equal(base.Add(time.Minute)) {
		t.Fatalf("h065: %+v, %v", h, err)
	}
}

// TestStateNames: the states bound as numbers are named in SQL
// (stateName) as state.State.String names them.
func TestStateNames(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	for st := range state.State(state.NumStates + 1) {
		var got string
		if err := s.w.QueryRow(`SELECT `+stateName, stateVal(st)).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != st.String() {
			t.Errorf("state %d named %q, want %q", st, got, st.String())
		}
	}
}

// TestRollupCommitsInKeyOrder: a minute written in several commits
// (RollupBatch) writes its rows in key order across them, the lowest
// check ids first, so each commit appends at the end of the table
// (rather than sorting each commit's share of rows finished in the
// table's order, which is not the order of the check ids: here the
// reverse, so the first commit would take the highest ids).
func TestRollupCommitsInKeyOrder(t *testing.T) {
	const n, batch = 100, 10
	names := make([]string, n)
	specs := make([]state.HostSpec, n)
	cs := make([]obs.CheckSpec, n)
	for i := range names {
		names[i] = fmt.Sprintf("h%03d", i)
		cs[i] = obs.CheckSpec{Host: names[i], Name: "icmp", Kind: obs.KindICMP}
		specs[n-1-i] = state.HostSpec{Name: names[i], Checks: []obs.CheckSpec{cs[i]}}
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s *Store
	var mu sync.Mutex
	var bad []string
	commits := 0
	o := &Options{Table: tab, RollupBatch: batch, OnCommit: func(ci CommitInfo) {
		if ci.Rollups == 0 {
			return
		}
		var cnt, lo, hi int64
		if err := s.r.QueryRow(`SELECT count(*), min(check_id), max(check_id) FROM rollups WHERE minute = ?`, base.UnixMilli()).Scan(&cnt, &lo, &hi); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		commits++
		if lo != 1 || hi-lo+1 != cnt {
			bad = append(bad, fmt.Sprintf("after commit %d: %d rows, check ids %d..%d", commits, cnt, lo, hi))
		}
	}}
	s = openTest(t, filepath.Join(t.TempDir(), "hb.db"), o)
	s.SetChecks(cs) // ids 1..n in names' order
	flush(t, s)     // before the results (another channel)
	v := tab.View()
	for i := range v.NumChecks() {
		c := v.Check(i)
		e := result(c.Host().Name(), base.Add(time.Second), true, time.Millisecond, nil)
		e.Gen, e.ID = v.Gen, i
		s.Record(e)
	}
	flush(t, s)
	mu.Lock()
	defer mu.Unlock()
	if commits < n/batch {
		t.Fatalf("%d commits with rollups, want %d", commits, n/batch)
	}
	if len(bad) > 0 {
		t.Fatalf("a commit's rows were not the next in key order:\n%s", strings.Join(bad, "\n"))
	}
	var ids int64
	if err := s.r.QueryRow(`SELECT count(*) FROM checks c JOIN hosts h ON h.id = c.host_id WHERE c.id = CAST(substr(h.name, 2) AS INTEGER) + 1`).Scan(&ids); err != nil || ids != n {
		t.Fatalf("%d checks with the id of their place in SetChecks, want %d (%v)", ids, n, err)
	}
}

// TestEarlyRowsWaitForTheSweep: a check's result of the next minute
// arriving within the grace finishes its row of the minute before the
// sweep; that row waits for the sweep and goes with the rest of its
// minute (one sorted write, appended to the table) instead of being
// written on its own at the next commit (first, in the results' order,
// the others then written between them).
func TestEarlyRowsWaitForTheSweep(t *testing.T) {
	const n = 90
	var now atomic.Int64
	now.Store(base.Add(30 * time.Second).UnixNano())
	var mu sync.Mutex
	var commits []uint64 // rollup rows of each commit that wrote some
	o := &Options{CommitInterval: time.Hour, Now: func() time.Time { return time.Unix(0, now.Load()) },
		OnCommit: func(ci CommitInfo) {
			if ci.Rollups > 0 {
				mu.Lock()
				commits = append(commits, ci.Rollups)
				mu.Unlock()
			}
		}}
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), o)
	cs := make([]obs.CheckSpec, n)
	for i := range cs {
		cs[i] = obs.CheckSpec{Host: fmt.Sprintf("h%03d", i), Name: "icmp", Kind: obs.KindICMP}
	}
	s.SetChecks(cs)
	flush(t, s)
	ctx := context.Background()
	tick := func() { // the writer's tick, waiting for its commit
		t.Helper()
		if err := s.do(ctx, func(w *writer) error { w.tick(); return w.sync(nil) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		s.Record(result(cs[i].Host, base.Add(time.Second), true, time.Millisecond, nil))
	}
	tick()
	// Within the grace: a third of the checks (last first) already have
	// a result of the next minute.
	now.Store(base.Add(61 * time.Second).UnixNano())
	for i := n - 1; i >= 0; i -= 3 {
		s.Record(result(cs[i].Host, base.Add(60*time.Second+500*time.Millisecond), true, 2*time.Millisecond, nil))
	}
	tick()
	got := func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(commits)
	}
	if c := got(); len(c) != 0 {
		t.Fatalf("rows of the minute written before its sweep: commits of %v rows", c)
	}
	now.Store(base.Add(63 * time.Second).UnixNano()) // past the grace
	tick()
	if c := got(); len(c) != 1 || c[0] != n {
		t.Fatalf("the minute written in commits of %v rows, want one of %d", c, n)
	}
	var rows, probes int64
	if err := s.r.QueryRow(`SELECT count(*), sum(probes) FROM rollups WHERE minute = ?`, base.UnixMilli()).Scan(&rows, &probes); err != nil || rows != n || probes != n {
		t.Fatalf("minute 0: %d rows of %d probes, want %d of %d (%v)", rows, probes, n, n, err)
	}
	flush(t, s) // the next minute's rows so far: the early third's
	if err := s.r.QueryRow(`SELECT count(*), sum(probes) FROM rollups WHERE minute = ?`, base.Add(time.Minute).UnixMilli()).Scan(&rows, &probes); err != nil || rows != n/3 || probes != n/3 {
		t.Fatalf("minute 1: %d rows of %d probes, want %d of %d (%v)", rows, probes, n/3, n/3, err)
	}
}
