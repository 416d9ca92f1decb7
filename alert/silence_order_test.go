// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/notify"
)

// holdingWriter is the real writer, except that the first Exec after hold
// is armed waits, once committed, until release is closed before it
// returns: a PATCH whose commit is done but whose memory update is late.
type holdingWriter struct {
	notify.Writer
	mu        sync.Mutex
	armed     bool
	committed chan struct{}
	release   chan struct{}
}

func (w *holdingWriter) Exec(ctx context.Context, fn func(*sql.Tx) error) error {
	err := w.Writer.Exec(ctx, fn)
	w.mu.Lock()
	held := w.armed
	w.armed = false
	w.mu.Unlock()
	if held {
		close(w.committed)
		<-w.release
	}
	return err
}

// TestConcurrentSilenceUpdates: two PATCHes of one silence, the first
// committed but slow to return, end with the engine's silence equal to
// the stored one (the later PATCH's) and each PATCH's change kept: the
// write and the memory update of one silence are serialised.
func TestConcurrentSilenceUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	d := openDB(t, path, "store")
	hw := &holdingWriter{Writer: d.db.W, committed: make(chan struct{}), release: make(chan struct{})}
	fx := newFixtureDB(t, nil, &notify.DB{Conn: d.db.Conn, W: hw})
	fx.host("web1")
	s, err := fx.e.AddSilence(Silence{Matchers: "host=web1", Author: "alice", Comment: "first", EndsAt: fx.now.Add(time.Hour)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	hw.mu.Lock()
	hw.armed = true
	hw.mu.Unlock()

	a, b := "from a", "from b"
	end := fx.now.Add(2 * time.Hour)
	errs := make(chan error, 2)
	go func() {
		_, err := fx.e.UpdateSilence(s.ID, SilenceUpdate{Comment: &a, By: "a"}, fx.now)
		errs <- err
	}()
	<-hw.committed // a is committed; its memory update waits
	bDone := make(chan struct{})
	go func() {
		_, err := fx.e.UpdateSilence(s.ID, SilenceUpdate{Comment: &b, EndsAt: &end, By: "b"}, fx.now)
		errs <- err
		close(bDone)
	}()
	// Let b commit and update memory if nothing stops it (before the
	// fix it does); with the fix it waits for a. Either way a goes on.
	select {
	case <-bDone:
	case <-time.After(200 * time.Millisecond):
	}
	close(hw.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	var mem Silence
	for _, x := range fx.e.Silences(fx.now, true) {
		if x.ID == s.ID {
			mem = x
		}
	}
	rows := readRows(t, path, `SELECT body FROM alert_silences WHERE id = ?`, s.ID)
	if len(rows) != 1 {
		t.Fatalf("stored rows %q", rows)
	}
	var stored Silence
	if err := json.Unmarshal([]byte(rows[0]), &stored); err != nil {
		t.Fatal(err)
	}
	if mem.Comment != stored.Comment || mem.UpdatedBy != stored.UpdatedBy || !mem.EndsAt.Equal(stored.EndsAt) {
		t.Fatalf("engine has comment %q by %q ending %v, database has %q by %q ending %v",
			mem.Comment, mem.UpdatedBy, mem.EndsAt, stored.Comment, stored.UpdatedBy, stored.EndsAt)
	}
	if mem.Comment != b || !mem.EndsAt.Equal(end) {
		t.Fatalf("after both PATCHes (a's committed first): comment %q ending %v, want %q ending %v", mem.Comment, mem.EndsAt, b, end)
	}
}
