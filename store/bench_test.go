package store

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCommit10kHosts: one probe result for each of 10,000 hosts (one
// interval of a 10k-host fleet), one commit. Reports the commit time.
func BenchmarkCommit10kHosts(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "hb.db"), &Options{CommitInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const hosts = 10000
	names := make([]string, hosts)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i)
	}
	ctx := context.Background()
	h := &Health{CPU: 10, Mem: 20, Disk: 30, Load1: 1}
	at := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, n := range names {
			s.RecordProbe(Probe{Host: n, At: at, OK: true, RTT: time.Millisecond, Health: h})
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		at = at.Add(10 * time.Second)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/commit")
	b.ReportMetric(float64(hosts*b.N)/b.Elapsed().Seconds(), "results/s")
	if d := s.Stats().Dropped; d > 0 {
		b.Fatalf("dropped %d", d)
	}
}
