// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// TestExecCancelExact: Exec's answer is exact. A job whose ctx ends while
// it waits behind another is skipped: Exec says ctx.Err() and the job
// never runs (nothing of it is committed later). A job the writer has
// started is waited for although its ctx ends meanwhile: Exec says its
// outcome (nil: committed), not ctx.Err().
func TestExecCancelExact(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), &Options{CommitInterval: 20 * time.Millisecond})
	bg := context.Background()
	if err := s.Exec(bg, func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE jobs (n INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := s.Exec(bg, func(tx *sql.Tx) error {
			return tx.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The writer is busy with a job that waits for release.
	release, busy := make(chan struct{}), make(chan struct{})
	if err := s.Queue(bg, func(tx *sql.Tx) error {
		close(busy)
		<-release
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	<-busy
	taken := make(chan struct{})
	s.execTaken = func() { close(taken) }
	ctx, cancel := context.WithCancel(bg)
	var ran atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- s.Exec(ctx, func(tx *sql.Tx) error {
			ran.Store(true)
			_, err := tx.Exec(`INSERT INTO jobs VALUES (1)`)
			return err
		})
	}()
	// Wait until the writer has taken the job (it is queued behind the
	// busy one), then give up on it.
	<-taken
	s.execTaken = nil
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec of a job given up before it started: %v, want context.Canceled", err)
	}
	close(release)
	if n := count(); n != 0 || ran.Load() {
		t.Fatalf("the job given up ran (%v) and left %d rows", ran.Load(), n)
	}

	// A job whose ctx ends once it has started: Exec waits for it.
	ctx, cancel = context.WithCancel(bg)
	defer cancel()
	err := s.Exec(ctx, func(tx *sql.Tx) error {
		cancel()
		// Let Exec see its ctx end before the job finishes (the answer
		// must not depend on which it sees first).
		time.Sleep(50 * time.Millisecond)
		_, err := tx.Exec(`INSERT INTO jobs VALUES (2)`)
		return err
	})
	if err != nil {
		t.Fatalf("Exec of a job that started before its ctx ended: %v, want nil (it committed)", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after the started job, want 1", n)
	}
}
