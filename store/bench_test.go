// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

// BenchmarkMinute100kChecks: one minute of a 100k-check fleet probed every
// 10 s (600,000 results, a health blob in each) aggregated in memory, then
// the minute's 100,000 rollup rows written. Reports the time per result
// (aggregation and the row writes together) and the write time: the CPU
// of Flush once the writer has taken every result queued
// (cpu-ms/minute-write), and that of the whole minute (cpu-ms/minute);
// and the Go heap the process allocated for both (heap-kB/minute-write,
// heap-kB/minute: garbage made in a burst at the minute's end is what
// raises the daemon's heap at its rollup write).
func BenchmarkMinute100kChecks(b *testing.B) { benchMinute(b, true, false) }

// BenchmarkMinute100kICMP is BenchmarkMinute100kChecks without health
// blobs: an ICMP fleet's minute (the daemon's usual case).
func BenchmarkMinute100kICMP(b *testing.B) { benchMinute(b, false, false) }

// BenchmarkMinute100kTable is BenchmarkMinute100kICMP with the checks in a
// state.Table, as the daemon has them: results carry the table's
// generation and check id (writer.of finds the record by index, not by
// name), the checks are configured with SetChecks at start and the rows
// of a minute are finished in the table's order, which here is not the
// order of the checks' row ids (the table's checks are configured in
// reverse).
func BenchmarkMinute100kTable(b *testing.B) { benchMinute(b, false, true) }

func benchMinute(b *testing.B, health, table bool) {
	const checks, perMinute = 100_000, 6
	names := make([]string, checks)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i)
	}
	opts := &Options{CommitInterval: time.Hour, QueueLen: 1 << 20}
	var gen uint64
	var ids map[string]int
	if table {
		specs := make([]state.HostSpec, checks)
		for i, n := range names {
			specs[checks-1-i] = state.HostSpec{Name: n, Checks: []obs.CheckSpec{{Host: n, Name: "icmp", Kind: obs.KindICMP, Target: n}}}
		}
		tab, err := state.New(specs, nil)
		if err != nil {
			b.Fatal(err)
		}
		opts.Table = tab
		v := tab.View()
		gen, ids = v.Gen, make(map[string]int, checks)
		for i := range v.NumChecks() {
			ids[v.Check(i).Host().Name()] = i
		}
	}
	s, err := Open(filepath.Join(b.TempDir(), "hb.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if table {
		// The daemon configures its checks at start, in its own order
		// (not the table's).
		cs := make([]obs.CheckSpec, checks)
		for i, n := range names {
			cs[i] = obs.CheckSpec{Host: n, Name: "icmp", Kind: obs.KindICMP, Target: n}
		}
		s.SetChecks(cs)
		if err := s.Flush(context.Background()); err != nil { // before the results (another channel)
			b.Fatal(err)
		}
	}
	ev := func(at time.Time, i int, ob *obs.Observation) event.Event {
		e := event.Event{Type: event.Result, At: at, Host: names[i], Check: "icmp", Kind: obs.KindICMP, Obs: ob}
		if table {
			e.Gen, e.ID = gen, ids[names[i]]
		}
		return e
	}
	ctx := context.Background()
	h := &wire.Health{CPUBusy: 100, MemTotal: 1000, MemAvailable: 500, RootTotal: 10, RootUsed: 2, Load1: 1000}
	at := time.Now().Truncate(time.Minute)
	ob := &obs.Observation{Outcome: obs.OK, RTT: time.Millisecond, Method: obs.MethodKernelTxRx, Health: *h, HasHealth: true}
	if !health {
		ob.HasHealth = false
	}
	// The checks' rows exist before the timer starts: steady state.
	for i := range names {
		s.Record(ev(at.Add(-time.Hour), i, ob))
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	var write, writeCPU time.Duration
	var writeHeap uint64
	cpu0, heap0 := cpuTime(), heapAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range perMinute {
			t := at.Add(time.Duration(j) * 10 * time.Second)
			for k := range names {
				s.Record(ev(t, k, ob))
			}
		}
		// The results aggregated (as the daemon does through the
		// minute), then the write alone timed.
		if err := s.do(ctx, nil); err != nil {
			b.Fatal(err)
		}
		start, c0, h0 := time.Now(), cpuTime(), heapAllocs()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		writeCPU += cpuTime() - c0
		writeHeap += heapAllocs() - h0
		at = at.Add(time.Minute)
	}
	b.ReportMetric(float64(heapAllocs()-heap0)/1e3/float64(b.N), "heap-kB/minute")
	b.ReportMetric(float64(writeHeap)/1e3/float64(b.N), "heap-kB/minute-write")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*checks*perMinute), "ns/result")
	b.ReportMetric(float64(write.Milliseconds())/float64(b.N), "ms/minute-write")
	// CPU time, not wall time: the figure that matters on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/minute")
	b.ReportMetric(float64(writeCPU.Milliseconds())/float64(b.N), "cpu-ms/minute-write")
	if d := s.Stats().Dropped; d > 0 {
		b.Fatalf("dropped %d", d)
	}
}

// heapAllocs is the bytes the process has allocated on the Go heap so far
// (ReadMemStats: it counts the allocations still in the Ps' caches, which
// runtime/metrics leaves out until they are flushed).
func heapAllocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRemap100k: the aggregator re-indexing its records of a 100k-check
// table when a new generation appears (a reload, or a batch of run-time
// registrations: here one new host appended, the case of a heartbeat from
// an unknown host). Alternates between the two generations.
func BenchmarkRemap100k(b *testing.B) {
	const n = 100_000
	specs := make([]state.HostSpec, n, n+1)
	for i := range specs {
		h := "h" + strconv.Itoa(i)
		specs[i] = state.HostSpec{Name: h, Checks: []obs.CheckSpec{{Host: h, Name: "icmp", Kind: obs.KindICMP}}}
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	v1 := tab.View()
	if _, err := tab.Reload(append(specs, state.HostSpec{Name: "new", Checks: []obs.CheckSpec{{Host: "new", Name: "heartbeat", Kind: obs.KindHeartbeat}}})); err != nil {
		b.Fatal(err)
	}
	v2 := tab.View()
	w := &writer{table: tab, byName: map[ckey]*named{}}
	w.remap(v1)
	for i := range w.recs {
		w.recs[i] = rec{id: int64(i + 1), kind: obs.KindICMP}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v := v2
		if i%2 == 1 {
			v = v1
		}
		w.remap(v)
		i++
	}
	if len(w.recs) != v2.NumChecks() && len(w.recs) != v1.NumChecks() || len(w.byName) != 0 || w.recs[n-1].id != n {
		b.Fatalf("%d records, %d by name", len(w.recs), len(w.byName))
	}
}

// BenchmarkMinute100kHistory is BenchmarkMinute100kICMP with
// HB_BENCH_HISTORY minutes (default 60) of rollups already stored for
// every check, as a daemon has after running that long: each minute's
// rows then go into a large table. Also reports the bytes the process
// writes per minute write (WAL frames and their checkpoints into the
// database file: /proc/self/io wchar) and the database's size.
func BenchmarkMinute100kHistory(b *testing.B) {
	const checks, perMinute = 100_000, 6
	hist := 60
	if v, err := strconv.Atoi(os.Getenv("HB_BENCH_HISTORY")); err == nil {
		hist = v
	}
	dir := b.TempDir()
	if d := os.Getenv("HB_BENCH_DIR"); d != "" {
		dir = d
	}
	path := filepath.Join(dir, "hist.db")
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f) // the run before (HB_BENCH_DIR)
	}
	s, err := Open(path, &Options{CommitInterval: time.Hour, QueueLen: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	names := make([]string, checks)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i)
	}
	ctx := context.Background()
	at := time.Now().Truncate(time.Minute)
	ob := &obs.Observation{Outcome: obs.OK, RTT: time.Millisecond, Method: obs.MethodKernelTxRx}
	for _, n := range names {
		s.Record(event.Event{Type: event.Result, At: at.Add(-time.Duration(hist+1) * time.Minute), Host: n, Check: "icmp", Kind: obs.KindICMP, Obs: ob})
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	// The history, ten minutes a transaction, minute by minute.
	for m0 := hist; m0 > 0; m0 -= 10 {
		first := at.Add(-time.Duration(m0) * time.Minute).UnixMilli()
		n := min(m0, 10)
		// Queue and Flush: Exec would wait for the next tick (an hour).
		var qerr error
		if err := s.Queue(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`WITH RECURSIVE m(x) AS (SELECT ? UNION ALL SELECT x + 60000 FROM m WHERE x + 60000 < ?)
				INSERT INTO rollups (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok)
				SELECT c.id, m.x, 6, 0, 6, 6000000, 900000, 1100000, m.x + 59000 FROM m CROSS JOIN checks c
				ORDER BY m.x, c.id`, first, first+int64(n)*60000)
			return err
		}, func(err error) { qerr = err }); err != nil {
			b.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil || qerr != nil {
			b.Fatal(err, qerr)
		}
	}
	var w0, w1 int64
	var write, writeCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range perMinute {
			t := at.Add(time.Duration(j) * 10 * time.Second)
			for _, n := range names {
				s.Record(event.Event{Type: event.Result, At: t, Host: n, Check: "icmp", Kind: obs.KindICMP, Obs: ob})
			}
		}
		w0 = wchar()
		start, c0 := time.Now(), cpuTime()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		writeCPU += cpuTime() - c0
		w1 += wchar() - w0
		at = at.Add(time.Minute)
	}
	b.StopTimer()
	b.ReportMetric(float64(write.Milliseconds())/float64(b.N), "ms/minute-write")
	b.ReportMetric(float64(writeCPU.Milliseconds())/float64(b.N), "cpu-ms/minute-write")
	b.ReportMetric(float64(w1)/1e6/float64(b.N), "MB-written/minute-write")
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "MB-db")
	}
	if fi, err := os.Stat(path + "-wal"); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "MB-wal-file")
	}
}

// wchar is the bytes the process has written (/proc/self/io), -1 if unknown.
func wchar() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}
