// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// countingWriter is a real writer that counts the saves queued on it.
type countingWriter struct {
	notify.Writer
	queued atomic.Int64
}

func (w *countingWriter) Queue(ctx context.Context, fn func(*sql.Tx) error, done func(error)) error {
	w.queued.Add(1)
	return w.Writer.Queue(ctx, fn, done)
}

// TestSteadyFiringQueuesNoWrites: firing alerts evaluated every second
// with nothing stored changing queue no write at all; a threshold alert
// whose value moves at every evaluation is written at most once per
// staleSaveInterval, and the shutdown save writes its newest value.
func TestSteadyFiringQueuesNoWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	d := openDB(t, path, "own")
	cw := &countingWriter{Writer: d.db.W}
	fx := newFixtureDB(t, nil, &notify.DB{Conn: d.db.Conn, W: cw})
	fx.host("web1")
	fx.host("web2")
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.cpu("web2", 0.95)
	fx.advance(3 * time.Second)
	fx.expect("firing", map[string]int{"ops": 1, "pager": 1}, "")
	fx.advance(2 * time.Second) // the flush's save
	if n := cw.queued.Load(); n == 0 {
		t.Fatal("the alerts were never saved")
	}
	if got := readRows(t, path, `SELECT key FROM alert_state`); len(got) != 2 {
		t.Fatalf("rows %q", got)
	}

	cw.queued.Store(0)
	for range 120 {
		fx.check("web1", "icmp", obs.KindICMP, state.Down)
		fx.cpu("web2", 0.95)
		fx.advance(time.Second)
	}
	if n := cw.queued.Load(); n != 0 {
		t.Errorf("%d saves queued in 120 s of steady firing, want 0", n)
	}

	cw.queued.Store(0)
	for i := range 150 {
		fx.check("web1", "icmp", obs.KindICMP, state.Down)
		fx.cpu("web2", 0.93+float64(i%3)/100)
		fx.advance(time.Second)
	}
	if n := cw.queued.Load(); n < 1 || n > 3 {
		t.Errorf("%d saves queued in 150 s of a moving value, want 1..3 (one per %v)", n, staleSaveInterval)
	}
	fx.expect("steady firing", map[string]int{}, "")
	if l := fx.e.List(Filter{}); len(l) != 2 {
		t.Fatalf("alerts %+v", l)
	}
	fx.e.Flush(fx.now) // the shutdown save
	var want float64
	for _, a := range fx.e.List(Filter{}) {
		if a.Host == "web2" {
			want = a.Value
		}
	}
	v, _ := json.Marshal(want)
	if got := readRows(t, path, `SELECT body FROM alert_state WHERE body LIKE '%"host":"web2"%'`); len(got) != 1 || !strings.Contains(got[0], `"value":`+string(v)+`,`) {
		t.Errorf("after the shutdown save, web2's row %q lacks value %s", got, v)
	}
}

// TestRecoveryClearsChannelsAcrossRestart: the flush of a recovery
// empties the alert's notified channels; that is saved, so after a
// restart the resolved alert is not stuck (an OK alert with channels is
// never dropped) and is dropped once the flap window passes.
func TestRecoveryClearsChannelsAcrossRestart(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hb.db")
			d := openDB(t, path, mode)
			fx := newFixtureDB(t, nil, d.db)
			fx.host("web1")
			fx.check("web1", "icmp", obs.KindICMP, state.Down)
			fx.advance(3 * time.Second)
			fx.expect("down", map[string]int{"ops": 1, "pager": 1}, "")
			fx.check("web1", "icmp", obs.KindICMP, state.Up)
			fx.advance(3 * time.Second)
			fx.expect("recovery", map[string]int{"ops": 1, "pager": 1}, "RESOLVED")
			if l := fx.e.List(Filter{All: true}); len(l) != 1 || l[0].Level != OK || len(l[0].Channels) != 0 {
				t.Fatalf("after the recovery %+v", l)
			}
			fx.advance(time.Second)
			d.close()

			fx2 := newFixtureDB(t, nil, openDB(t, path, mode).db)
			fx2.hosts, fx2.now = fx.hosts, fx.now
			if l := fx2.e.List(Filter{All: true}); len(l) != 1 || l[0].Level != OK || len(l[0].Channels) != 0 {
				t.Fatalf("restored %+v", l)
			}
			fx2.advance(fx2.e.cfg.FlapWindow.D() + 2*time.Second)
			fx2.expect("after the restart", map[string]int{}, "")
			if l := fx2.e.List(Filter{All: true}); len(l) != 0 {
				t.Errorf("the resolved alert is never dropped: %+v", l)
			}
		})
	}
}
