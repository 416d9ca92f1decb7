// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/store"
)

// openStore opens a real history store at path, closed at the end of the
// test (after the event log: cleanups run last in, first out).
func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, &store.Options{CommitInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestSharedEventLogHasNoWriterOfItsOwn: in the history database the
// event log's connection only reads (query_only): every write — the
// table, events, trims — goes through the store's single writer, while
// the store commits its own events next to it, and nothing fails.
func TestSharedEventLogHasNoWriterOfItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	st := openStore(t, path)
	l, err := OpenSharedEventLog(path, st, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.db.Exec(`INSERT INTO push_events (at, level, type, message) VALUES (1, 1, 'message', 'x')`); err == nil {
		t.Fatal("the shared event log's own connection can write")
	}
	if _, err := OpenSharedEventLog(path, nil, 0, nil, nil); err == nil {
		t.Fatal("a shared event log without a writer was opened")
	}

	// The store's own writes (messages into its events table) and the
	// event log's, side by side.
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				at := time.Now().UTC()
				st.Record(event.Event{Type: event.Message, At: at, Host: "h", Source: "h", Level: event.LevelInfo, Text: "store"})
				if err := l.Write(ctx, []Event{{At: at, Host: fmt.Sprint("w", w), Source: "t", Level: "info", Type: "message", Message: fmt.Sprint(i)}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write through the store: %v", err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := l.Query(ctx, EventFilter{Limit: 1000})
	if err != nil || len(got) != 100 || l.Written.Load() != 100 {
		t.Fatalf("%d events read back (%v), %d written; want 100", len(got), err, l.Written.Load())
	}
	if s := st.Stats(); s.Errors != 0 {
		t.Fatalf("store errors: %+v", s)
	}

	// Trim through the writer.
	old := Event{At: time.Now().Add(-2 * time.Hour), Host: "old", Source: "old", Level: "info", Type: "message", Message: "ancient"}
	if err := l.Write(ctx, []Event{old, old}); err != nil {
		t.Fatal(err)
	}
	l.Trim(ctx, time.Now())
	if n := l.Trimmed.Load(); n != 2 {
		t.Fatalf("trimmed %d, want 2", n)
	}

	// Once the store is closed, writes fail as such (counted by Consume).
	st.Close()
	if err := l.Write(ctx, []Event{old}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("write after the store closed: %v, want store.ErrClosed", err)
	}
}
