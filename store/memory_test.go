// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// minuteFleet is a store of n checks whose clock the test moves (now),
// with the writer's tick run on demand.
type minuteFleet struct {
	s   *Store
	now atomic.Int64
	cs  []obs.CheckSpec
}

func newMinuteFleet(t testing.TB, n int) *minuteFleet {
	f := &minuteFleet{}
	f.now.Store(base.Add(30 * time.Second).UnixNano())
	o := &Options{CommitInterval: time.Hour, QueueLen: 4 * n, Now: func() time.Time { return time.Unix(0, f.now.Load()) }}
	s, err := Open(filepath.Join(t.TempDir(), "hb.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.s = s
	f.cs = make([]obs.CheckSpec, n)
	for i := range f.cs {
		f.cs[i] = obs.CheckSpec{Host: fmt.Sprintf("h%05d", i), Name: "icmp", Kind: obs.KindICMP}
	}
	s.SetChecks(f.cs)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// tick runs the writer's tick at d after base and waits for its commit.
func (f *minuteFleet) tick(t testing.TB, d time.Duration) {
	t.Helper()
	f.now.Store(base.Add(d).UnixNano())
	if err := f.s.do(context.Background(), func(w *writer) error { w.tick(); return w.sync(nil) }); err != nil {
		t.Fatal(err)
	}
}

// TestRollupRowsWritten: a minute's rows as written read back with the
// values they were summed from, whichever path they took: rows with and
// without health sums, with RTTs and without (all lost: NULL rtt_min and
// rtt_max), in statements of rollupMulti rows and one at a time (the
// argument cells of each statement reused by the next), finished by the
// sweep or early (a result of the next minute within the grace).
func TestRollupRowsWritten(t *testing.T) {
	const n = 3*rollupMulti + 37
	f := newMinuteFleet(t, n)
	type want struct {
		probes, losses, rttN, rttSum int64
		rttMin, rttMax               sql.NullInt64
		lastOK, healthN              int64
		cpu, mem, disk, load         float64
	}
	wants := make([]want, n)
	blob := func(i, j int) *wire.Health {
		return health(float64(i%100)+0.1*float64(j), float64(i%50)+2*float64(j), float64(i)/7+float64(j))
	}
	for j := range 3 { // results at 5, 25, 45 s
		at := base.Add(time.Duration(5+20*j) * time.Second)
		for i := range n {
			ok := i%5 != 0 // every fifth check loses all its probes
			rtt := time.Duration(i+1)*time.Millisecond + time.Duration(j)*time.Microsecond
			var h *wire.Health
			if i%3 == 0 {
				h = blob(i, j)
			}
			f.s.Record(result(f.cs[i].Host, at, ok, rtt, h))
			w := &wants[i]
			w.probes++
			if !ok {
				w.losses++
			} else {
				r := int64(rtt)
				w.rttN++
				w.rttSum += r
				if !w.rttMin.Valid || r < w.rttMin.Int64 {
					w.rttMin = sql.NullInt64{Int64: r, Valid: true}
				}
				w.rttMax = sql.NullInt64{Int64: max(w.rttMax.Int64, r), Valid: true}
				w.lastOK = at.UnixMilli()
			}
			if h != nil {
				x := HealthFromBlob(h)
				w.healthN++
				w.cpu += x.CPU
				w.mem += x.Mem
				w.disk += x.Disk
				w.load += x.Load1
			}
		}
	}
	f.tick(t, 59*time.Second)
	// Within the grace, every fourth check has a result of the next
	// minute: its row of this one is finished early.
	for i := 0; i < n; i += 4 {
		f.s.Record(result(f.cs[i].Host, base.Add(60*time.Second+100*time.Millisecond), true, time.Millisecond, blob(i, 9)))
	}
	f.tick(t, 61*time.Second)
	f.tick(t, 63*time.Second) // past the grace: the minute is written
	rows, err := f.s.r.Query(`SELECT h.name, r.probes, r.losses, r.rtt_n, r.rtt_sum, r.rtt_min, r.rtt_max, r.last_ok,
		r.health_n, r.cpu_sum, r.mem_sum, r.disk_sum, r.load_sum
		FROM rollups r JOIN checks c ON c.id = r.check_id JOIN hosts h ON h.id = c.host_id WHERE r.minute = ?`, base.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var name string
		var g want
		if err := rows.Scan(&name, &g.probes, &g.losses, &g.rttN, &g.rttSum, &g.rttMin, &g.rttMax, &g.lastOK,
			&g.healthN, &g.cpu, &g.mem, &g.disk, &g.load); err != nil {
			t.Fatal(err)
		}
		var i int
		fmt.Sscanf(name, "h%05d", &i)
		w := wants[i]
		close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }
		if g.probes != w.probes || g.losses != w.losses || g.rttN != w.rttN || g.rttSum != w.rttSum || g.rttMin != w.rttMin ||
			g.rttMax != w.rttMax || g.lastOK != w.lastOK || g.healthN != w.healthN ||
			!close(g.cpu, w.cpu) || !close(g.mem, w.mem) || !close(g.disk, w.disk) || !close(g.load, w.load) {
			t.Errorf("%s: row %+v, want %+v", name, g, w)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("%d rows of the minute, want %d", seen, n)
	}
}

// TestRollupWriteHeap: writing a minute's rollup rows allocates next to
// nothing on the Go heap, per row: the rows and their health sums are
// kept outside it (olist) and the statements' arguments are cells, not
// a boxed value each (cells). Garbage made by the thousand in the
// write's half second is what raised the daemon's heap (and RSS) at every
// minute's write. The bound is a few bytes a row over a fixed part
// (the transaction, the statements' results); before, a row with health
// sums cost ~110 bytes and one without ~40.
func TestRollupWriteHeap(t *testing.T) {
	if !offheapMapped {
		t.Skip("internal/offheap uses the Go heap in this build (race detector or not linux)")
	}
	const n = 20000
	f := newMinuteFleet(t, n)
	h := health(12.5, 40, 0.7)
	minute := func(m int) uint64 {
		at := base.Add(time.Duration(m) * time.Minute)
		for j := range 6 {
			for i := range n {
				var hb *wire.Health
				if i%2 == 0 {
					hb = h
				}
				f.s.Record(result(f.cs[i].Host, at.Add(time.Duration(j*10+1)*time.Second), i%9 != 0, time.Duration(1000+i)*time.Microsecond, hb))
			}
			if err := f.s.do(context.Background(), nil); err != nil { // aggregated, as through the minute
				t.Fatal(err)
			}
		}
		h0 := heapAllocs()
		f.tick(t, time.Duration(m+1)*time.Minute+3*time.Second) // the sweep and the write
		return heapAllocs() - h0
	}
	minute(0) // the first write prepares the statements
	got := minute(1)
	var cnt int64
	if err := f.s.r.QueryRow(`SELECT count(*) FROM rollups WHERE minute = ?`, base.Add(time.Minute).UnixMilli()).Scan(&cnt); err != nil || cnt != n {
		t.Fatalf("%d rows of the second minute, want %d (%v)", cnt, n, err)
	}
	if limit := uint64(64<<10 + 4*n); got > limit {
		t.Errorf("the minute's write of %d rows allocated %d bytes on the Go heap (%.1f a row), want at most %d", n, got, float64(got)/n, limit)
	}
	t.Logf("the minute's write of %d rows: %d bytes on the Go heap", n, got)
}

// TestSweepMakesRoomOnce: the sweep puts a minute's rows and health sums,
// the early rows' among them, each in a place made once for all of them
// (exactly their number): growing it on the way would copy it, the old
// and the new place mapped at once (at 100k checks ~20 MB for an
// instant, the daemon's peak RSS).
func TestSweepMakesRoomOnce(t *testing.T) {
	const n = 3000
	f := newMinuteFleet(t, n)
	for i := range n {
		var h *wire.Health
		if i%2 == 0 {
			h = health(10, 20, 1)
		}
		f.s.Record(result(f.cs[i].Host, base.Add(5*time.Second), true, time.Millisecond, h))
	}
	f.tick(t, 59*time.Second)
	for i := 0; i < n; i += 3 { // early rows: a result of the next minute within the grace
		f.s.Record(result(f.cs[i].Host, base.Add(60*time.Second+100*time.Millisecond), true, time.Millisecond, health(1, 2, 3)))
	}
	f.tick(t, 61*time.Second)
	var rows, rowsCap, hs, hsCap int
	err := f.s.do(context.Background(), func(w *writer) error {
		if len(w.early.s) != (n+2)/3 {
			t.Errorf("%d early rows before the sweep, want %d", len(w.early.s), (n+2)/3)
		}
		w.sweep(base.Add(63 * time.Second))
		b := w.cur
		rows, rowsCap, hs, hsCap = len(b.rows.s), cap(b.rows.s), len(b.health.s), cap(b.health.s)
		return w.sync(nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != n || hs != n/2 {
		t.Fatalf("the sweep moved %d rows (%d with health sums), want %d (%d)", rows, hs, n, n/2)
	}
	if rowsCap != rows || hsCap != hs {
		t.Errorf("room for %d rows and %d health sums, want exactly %d and %d", rowsCap, hsCap, rows, hs)
	}
}

// TestCells: a cell's values read back as what was last stored, as int64
// or float64, across a collection, and storing allocates nothing.
func TestCells(t *testing.T) {
	c := newCells(4)
	var v driver.Value
	if a := testing.AllocsPerRun(100, func() { v = c.int(1, 1<<40+3) }); a != 0 && offheapMapped {
		t.Errorf("%v allocations a value", a)
	}
	runtime.GC()
	if x, ok := v.(int64); !ok || x != 1<<40+3 {
		t.Fatalf("int cell reads %#v", v)
	}
	w := c.float(2, -12.25)
	c.int(3, -7)
	runtime.GC()
	if x, ok := w.(float64); !ok || x != -12.25 {
		t.Fatalf("float cell reads %#v", w)
	}
	if x, ok := c.i64[3].(int64); !ok || x != -7 {
		t.Fatalf("cell 3 reads %#v", c.i64[3])
	}
	c.int(1, 42) // the value handed out before reads the new one
	if v.(int64) != 42 {
		t.Fatalf("int cell reads %#v after a store", v)
	}
}
