// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// BenchmarkMinute100kChecks: one minute of a 100k-check fleet probed every
// 10 s (600,000 results, a health blob in each) aggregated in memory, then
// the minute's 100,000 rollup rows written. Reports the time per result
// (aggregation and the row writes together) and the write time.
func BenchmarkMinute100kChecks(b *testing.B) {
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
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	var write time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range perMinute {
			t := at.Add(time.Duration(j) * 10 * time.Second)
			for _, n := range names {
				s.Record(event.Event{Type: event.Result, At: t, Host: n, Check: "icmp", Kind: obs.KindICMP, Obs: ob})
			}
		}
		start := time.Now()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		at = at.Add(time.Minute)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*checks*perMinute), "ns/result")
	b.ReportMetric(write.Seconds()/float64(b.N), "s/minute-write")
	if d := s.Stats().Dropped; d > 0 {
		b.Fatalf("dropped %d", d)
	}
}
