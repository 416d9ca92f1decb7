// SPDX-License-Identifier: MIT

package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestDSN(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"/var/lib/hb/hb-probe.db", "file:/var/lib/hb/hb-probe.db?" + Pragmas},
		{"file:x.db", "file:x.db?" + Pragmas},
		{"file:mem?mode=memory&cache=shared", "file:mem?mode=memory&cache=shared&" + Pragmas},
	} {
		if got := DSN(c.path); got != c.want {
			t.Errorf("DSN(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	if got, want := DSN("a.db", "_txlock=immediate", "_pragma=foreign_keys(1)"), "file:a.db?"+Pragmas+"&_txlock=immediate&_pragma=foreign_keys(1)"; got != want {
		t.Errorf("extras: %q, want %q", got, want)
	}
}

// TestPragmasApplied opens a real database with DSN and reads the
// settings back: the driver understood every parameter.
func TestPragmasApplied(t *testing.T) {
	db, err := sql.Open("sqlite", DSN(filepath.Join(t.TempDir(), "t.db"), "_pragma=foreign_keys(1)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var mode string
	var busy, sync, fk int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	db.QueryRow("PRAGMA busy_timeout").Scan(&busy)
	db.QueryRow("PRAGMA synchronous").Scan(&sync)
	db.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	if mode != "wal" || busy != 10000 || sync != 2 || fk != 1 {
		t.Errorf("journal_mode %s, busy_timeout %d, synchronous %d, foreign_keys %d; want wal, 10000, 2 (FULL), 1", mode, busy, sync, fk)
	}
}

// TestInTx: a nil fn error commits, an error rolls back and is returned.
func TestInTx(t *testing.T) {
	db, err := sql.Open("sqlite", DSN(filepath.Join(t.TempDir(), "t.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	insert := func(v int, fail error) error {
		return InTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.Exec(`INSERT INTO t VALUES (?)`, v); err != nil {
				return err
			}
			return fail
		})
	}
	boom := errors.New("boom")
	if err := insert(1, nil); err != nil {
		t.Fatal(err)
	}
	if err := insert(2, boom); !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want fn's error", err)
	}
	var n, sum int
	db.QueryRow(`SELECT count(*), coalesce(sum(v), 0) FROM t`).Scan(&n, &sum)
	if n != 1 || sum != 1 {
		t.Fatalf("%d rows summing %d, want only the committed one", n, sum)
	}
}
