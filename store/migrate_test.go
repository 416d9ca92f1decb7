// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMigrateV2: a version 2 database (rollups in a rowid table with
// UNIQUE (check_id, minute) and an index on minute) is migrated to
// version 3's rollups keyed (minute, check_id) WITHOUT ROWID: every row
// is kept, History and CheckHistory answer as before (ranges, open ends,
// sums over a host's checks), new minutes are added and upserted, and
// retention deletes by minute.
func TestMigrateV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)                         // BEGIN … COMMIT on the one connection
	at := base.Add(-30 * time.Minute).UnixMilli() // minutes at, at+1m, …
	stmts := []string{
		`BEGIN`,
		`CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, address TEXT NOT NULL DEFAULT '',
			labels TEXT NOT NULL DEFAULT '{}', first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0,
			state TEXT NOT NULL DEFAULT 'unknown', state_since INTEGER NOT NULL DEFAULT 0, transitions INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE checks (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
			name TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL DEFAULT '', first_seen INTEGER NOT NULL,
			state TEXT NOT NULL DEFAULT 'unknown', state_since INTEGER NOT NULL DEFAULT 0, transitions INTEGER NOT NULL DEFAULT 0,
			UNIQUE (host_id, name))`,
		`CREATE TABLE rollups (check_id INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE, minute INTEGER NOT NULL,
			probes INTEGER NOT NULL DEFAULT 0, losses INTEGER NOT NULL DEFAULT 0, rtt_n INTEGER NOT NULL DEFAULT 0,
			rtt_sum INTEGER NOT NULL DEFAULT 0, rtt_min INTEGER, rtt_max INTEGER, last_ok INTEGER NOT NULL DEFAULT 0,
			health_n INTEGER NOT NULL DEFAULT 0, cpu_sum REAL NOT NULL DEFAULT 0, mem_sum REAL NOT NULL DEFAULT 0,
			disk_sum REAL NOT NULL DEFAULT 0, load_sum REAL NOT NULL DEFAULT 0, UNIQUE (check_id, minute))`,
		`CREATE INDEX rollups_minute ON rollups (minute)`,
		`CREATE VIEW rollups_avg AS SELECT c.name, r.minute FROM rollups r JOIN checks c ON c.id = r.check_id`,
		fmt.Sprintf(`INSERT INTO hosts (id, name, first_seen) VALUES (1, 'a', %d), (2, 'b', %d)`, at, at),
		fmt.Sprintf(`INSERT INTO checks (id, host_id, name, kind, first_seen) VALUES (10, 1, 'icmp', 'icmp', %d), (11, 1, 'tcp:22', 'tcp', %d), (12, 2, 'icmp', 'icmp', %d)`, at, at, at),
	}
	// 20 minutes of a's icmp (in check order, as version 2 wrote them),
	// every other minute of a's tcp:22 (with health), b's icmp: minutes 5..9.
	for m := range 20 {
		mm := at + int64(m)*60000
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO rollups (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok)
			VALUES (10, %d, 6, %d, 6, %d, 1000000, 3000000, %d)`, mm, m%3, 6*(m+1)*1000000, mm+50000))
		if m%2 == 0 {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO rollups VALUES (11, %d, 2, 0, 2, 4000000, 2000000, 2000000, %d, 2, 50, 60, 70, 2)`, mm, mm+1000))
		}
		if m >= 5 && m < 10 {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO rollups (check_id, minute, probes, losses) VALUES (12, %d, 6, 6)`, mm))
		}
	}
	stmts = append(stmts, `COMMIT`, `PRAGMA user_version = 2`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// What version 2 answers, by its own queries, for comparison.
	type key struct{ check, minute int64 }
	want := map[key][3]int64{}
	rows, err := db.Query(`SELECT check_id, minute, probes, losses, rtt_sum FROM rollups`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k key
		var v [3]int64
		rows.Scan(&k.check, &k.minute, &v[0], &v[1], &v[2])
		want[k] = v
	}
	rows.Close()
	db.Close()

	s := openTest(t, path, nil)
	ctx := context.Background()
	var v int
	if err := s.r.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM rollups`).Scan(&n); err != nil || n != len(want) {
		t.Fatalf("%d rollups after migration (%v), want %d", n, err, len(want))
	}
	if _, err := s.r.Exec(`SELECT rowid FROM rollups LIMIT 1`); err == nil {
		t.Error("rollups still has a rowid")
	}
	var idx int
	s.r.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'rollups_minute'`).Scan(&idx)
	if idx != 0 {
		t.Error("rollups_minute is still there")
	}
	var avg float64
	if err := s.r.QueryRow(`SELECT rtt_avg_ms FROM rollups_avg WHERE check_name = 'icmp' AND host = 'a' ORDER BY minute LIMIT 1`).Scan(&avg); err != nil || avg != 1 {
		t.Errorf("rollups_avg: %v, %v", avg, err)
	}

	// Rows without health keep their sums as integer 0 (no bytes on
	// disk); rows with health keep REAL sums, so the view divides them.
	var t10, t11 string
	var cpu float64
	if err := s.r.QueryRow(`SELECT (SELECT typeof(cpu_sum) FROM rollups WHERE check_id = 10 LIMIT 1),
		(SELECT typeof(cpu_sum) FROM rollups WHERE check_id = 11 LIMIT 1),
		(SELECT cpu_pct FROM rollups_avg WHERE host = 'a' AND check_name = 'tcp:22' LIMIT 1)`).Scan(&t10, &t11, &cpu); err != nil ||
		t10 != "integer" || t11 != "real" || cpu != 25 {
		t.Errorf("health sums: %s, %s, cpu_pct %v (%v)", t10, t11, cpu, err)
	}
	ch, err := s.CheckHistory(ctx, "a", "icmp", time.Time{}, time.Time{})
	if err != nil || len(ch) != 20 {
		t.Fatalf("a icmp: %d rows, %v", len(ch), err)
	}
	for i, r := range ch {
		w := want[key{10, at + int64(i)*60000}]
		if r.Minute.UnixMilli() != at+int64(i)*60000 || r.Probes != w[0] || r.Losses != w[1] ||
			r.RTTAvg != time.Duration(w[2]/6) || r.RTTMin != time.Millisecond || r.RTTMax != 3*time.Millisecond ||
			r.LastOK.UnixMilli() != r.Minute.UnixMilli()+50000 {
			t.Fatalf("a icmp minute %d: %+v, want %v", i, r, w)
		}
	}
	// A range not on minute boundaries: from inside minute 3 (its row is
	// not in it) to the start of minute 7 (not in it).
	ch, _ = s.CheckHistory(ctx, "a", "tcp:22", time.UnixMilli(at+3*60000+1), time.UnixMilli(at+7*60000))
	if len(ch) != 2 || ch[0].Minute.UnixMilli() != at+4*60000 || ch[1].Minute.UnixMilli() != at+6*60000 ||
		ch[0].HealthSamples != 2 || ch[0].CPU != 25 || ch[0].Load1 != 1 {
		t.Fatalf("a tcp:22 [3m+1ms, 7m): %+v", ch)
	}
	// The host's history sums its two checks.
	h, err := s.History(ctx, "a", time.UnixMilli(at), time.UnixMilli(at+4*60000))
	if err != nil || len(h) != 4 || h[0].Probes != 8 || h[1].Probes != 6 || h[2].Probes != 8 ||
		h[0].RTTSamples != 8 || h[0].RTTMin != time.Millisecond || h[0].RTTMax != 3*time.Millisecond {
		t.Fatalf("a [0, 4m): %+v, %v", h, err)
	}
	if h, _ := s.History(ctx, "b", time.Time{}, time.Time{}); len(h) != 5 || h[0].Minute.UnixMilli() != at+5*60000 || h[0].Losses != 6 {
		t.Fatalf("b: %+v", h)
	}
	for _, tc := range []struct {
		host     string
		from, to time.Time
	}{{"nobody", time.Time{}, time.Time{}}, {"a", time.UnixMilli(at + 30*60000), time.Time{}}, {"a", time.Time{}, time.UnixMilli(at)},
		{"a", time.UnixMilli(at + 60000), time.UnixMilli(at + 60000)}} {
		if h, err := s.History(ctx, tc.host, tc.from, tc.to); err != nil || len(h) != 0 {
			t.Errorf("%s [%v, %v): %+v, %v", tc.host, tc.from, tc.to, h, err)
		}
	}

	// New results add a minute and upsert an existing one.
	s.Record(result("a", time.UnixMilli(at+19*60000+1000), true, time.Millisecond, nil))
	s.Record(result("a", time.UnixMilli(at+25*60000), true, time.Millisecond, nil))
	flush(t, s)
	ch, _ = s.CheckHistory(ctx, "a", "icmp", time.UnixMilli(at+19*60000), time.Time{})
	if len(ch) != 2 || ch[0].Probes != 7 || ch[1].Probes != 1 || ch[1].Minute.UnixMilli() != at+25*60000 {
		t.Fatalf("after new results: %+v", ch)
	}
}

// TestHistoryQueryPlan: a check's history is read by primary-key lookups
// per minute, never by scanning the rollups of every check; a retention
// batch deletes its rows by key.
func TestHistoryQueryPlan(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	for _, q := range []string{
		qMinutes + `SELECT r.minute FROM m CROSS JOIN rollups r WHERE r.minute = m.minute
			AND r.check_id = (SELECT c.id FROM checks c JOIN hosts h ON h.id = c.host_id WHERE h.name = ?3 AND c.name = ?4)`,
		qMinutes + `SELECT r.minute, sum(r.probes) FROM m CROSS JOIN (SELECT c.id FROM checks c JOIN hosts h ON h.id = c.host_id WHERE h.name = ?3) k
			CROSS JOIN rollups r WHERE r.minute = m.minute AND r.check_id = k.id GROUP BY r.minute ORDER BY r.minute`,
		// Retention (writer.go retention): a batch looks its rows up by key.
		`DELETE FROM rollups WHERE (minute, check_id) IN (SELECT minute, check_id FROM rollups WHERE minute < ? LIMIT ?)`,
	} {
		if strings.HasPrefix(q, "DELETE") {
			rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+q, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, x int
				var d string
				rows.Scan(&id, &parent, &x, &d)
				plan = append(plan, d)
			}
			rows.Close()
			if p := strings.Join(plan, "\n"); strings.Contains(p, "SCAN") || !strings.Contains(p, "SEARCH rollups USING PRIMARY KEY (minute=? AND check_id=?)") {
				t.Errorf("retention plan:\n%s", p)
			}
			continue
		}
		rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+q, 0, 1<<62, "a", "icmp")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, x int
			var d string
			rows.Scan(&id, &parent, &x, &d)
			plan = append(plan, d)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, "SEARCH r USING PRIMARY KEY (minute=? AND check_id=?)") || strings.Contains(p, "SCAN r") {
			t.Errorf("plan:\n%s", p)
		}
	}
}
