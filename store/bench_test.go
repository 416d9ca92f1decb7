// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"path/filepath"
	"strconv"
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
// (aggregation and the row writes together) and the write time.
func BenchmarkMinute100kChecks(b *testing.B) { benchMinute(b, true) }

// BenchmarkMinute100kICMP is BenchmarkMinute100kChecks without health
// blobs: an ICMP fleet's minute (the daemon's usual case).
func BenchmarkMinute100kICMP(b *testing.B) { benchMinute(b, false) }

func benchMinute(b *testing.B, health bool) {
	const checks, perMinute = 100_000, 6
	s, err := Open(filepath.Join(b.TempDir(), "hb.db"), &Options{CommitInterval: time.Hour, QueueLen: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	names := make([]string, checks)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i)
	}
	ctx := context.Background()
	h := &wire.Health{CPUBusy: 100, MemTotal: 1000, MemAvailable: 500, RootTotal: 10, RootUsed: 2, Load1: 1000}
	at := time.Now().Truncate(time.Minute)
	ob := &obs.Observation{Outcome: obs.OK, RTT: time.Millisecond, Method: obs.MethodKernelTxRx, Health: h}
	if !health {
		ob.Health = nil
	}
	// The checks' rows exist before the timer starts: steady state.
	for _, n := range names {
		s.Record(event.Event{Type: event.Result, At: at.Add(-time.Hour), Host: n, Check: "icmp", Kind: obs.KindICMP, Obs: ob})
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	var write, writeCPU time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range perMinute {
			t := at.Add(time.Duration(j) * 10 * time.Second)
			for _, n := range names {
				s.Record(event.Event{Type: event.Result, At: t, Host: n, Check: "icmp", Kind: obs.KindICMP, Obs: ob})
			}
		}
		start, c0 := time.Now(), cpuTime()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		writeCPU += cpuTime() - c0
		at = at.Add(time.Minute)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*checks*perMinute), "ns/result")
	b.ReportMetric(float64(write.Milliseconds())/float64(b.N), "ms/minute-write")
	// CPU time, not wall time: the figure that matters on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/minute")
	b.ReportMetric(float64(writeCPU.Milliseconds())/float64(b.N), "cpu-ms/minute-write")
	if d := s.Stats().Dropped; d > 0 {
		b.Fatalf("dropped %d", d)
	}
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
