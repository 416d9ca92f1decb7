// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestExecAndQueue: jobs queued without waiting (Queue) and waited for
// (Exec) run in the order they were queued, each in its own transaction
// (a failing one takes no other's rows), each done told once; a job
// queued before Close is committed by Close; after Close both say
// ErrClosed and done is never called.
func TestExecAndQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	s := openTest(t, path, &Options{CommitInterval: 20 * time.Millisecond})
	ctx := context.Background()
	if err := s.Exec(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE jobs (n INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ran, told []int
	insert := func(n int) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			mu.Lock()
			ran = append(ran, n)
			mu.Unlock()
			if n == 13 {
				tx.Exec(`INSERT INTO jobs VALUES (?)`, n)
				return errors.New("unlucky")
			}
			_, err := tx.Exec(`INSERT INTO jobs VALUES (?)`, n)
			return err
		}
	}
	var failed error
	for n := range 40 {
		if n%10 == 9 {
			if err := s.Exec(ctx, insert(n)); err != nil {
				t.Fatalf("exec %d: %v", n, err)
			}
			continue
		}
		if err := s.Queue(ctx, insert(n), func(err error) {
			mu.Lock()
			told = append(told, n)
			if err != nil {
				failed = err
			}
			mu.Unlock()
		}); err != nil {
			t.Fatalf("queue %d: %v", n, err)
		}
	}
	// Queued just before Close: Close commits it.
	lastDone := make(chan error, 2)
	if err := s.Queue(ctx, insert(40), func(err error) { lastDone <- err }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-lastDone; err != nil {
		t.Fatalf("the job queued before Close: %v", err)
	}
	mu.Lock()
	for i, n := range ran {
		if i != n {
			t.Fatalf("jobs ran in the order %v", ran)
		}
	}
	if len(ran) != 41 || len(told) != 36 || failed == nil || failed.Error() != "unlucky" {
		t.Fatalf("%d ran, %d told, failure %v", len(ran), len(told), failed)
	}
	mu.Unlock()

	called := false
	if err := s.Queue(ctx, insert(99), func(error) { called = true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Queue after Close: %v", err)
	}
	if err := s.Exec(ctx, insert(99)); !errors.Is(err, ErrClosed) {
		t.Errorf("Exec after Close: %v", err)
	}
	if called {
		t.Error("done called for a job refused")
	}

	s2 := openTest(t, path, nil)
	var n, sum int
	if err := s2.r.QueryRow(`SELECT count(*), sum(n) FROM jobs`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 40 || sum != 41*40/2-13 { // 0..40 but 13
		t.Fatalf("%d rows summing to %d, want 40 rows, %d", n, sum, 41*40/2-13)
	}
}
