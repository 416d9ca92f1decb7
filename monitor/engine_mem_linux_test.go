// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
)

// nullSink takes observations and counts them.
type nullSink struct{ n int }

func (s *nullSink) Observe(gen uint64, id int, o obs.Observation) { s.n++ }

// BenchmarkEngineMemory is the prober side of the daemon at 100k icmp
// checks: the engine (raw sockets, AF_PACKET transmit, receive ring) in a
// simulated fleet's namespace and the engine source that maps its
// results to checks, after probing at the daemon's pace (10 s interval,
// rate 10,000/s) for 3 s so that every lazily made table exists. It
// reports the live Go heap (HB_HEAPPROFILE_DIR: its profile, engine.heap) they hold (heap-MB: after a GC, minus the heap
// before) and what they hold outside it (offheap-MB: internal/offheap's
// mappings).
func BenchmarkEngineMemory(b *testing.B) {
	const n = 100000
	p16, p17, p18 := netip.MustParsePrefix("198.18.0.0/16"), netip.MustParsePrefix("198.19.0.0/17"), netip.MustParsePrefix("198.19.128.0/18")
	f := testutil.NewFleet(b, testutil.FleetConfig{Local: []netip.Prefix{p16, p17, p18, netip.MustParsePrefix("2001:2::/64")}})
	addrs := append(testutil.FleetAddrs(b, p16, 65534), testutil.FleetAddrs(b, p17, 32766)...)
	addrs = append(addrs, testutil.FleetAddrs(b, p18, n-len(addrs))...)
	checks := make([]obs.Check, n)
	for i, a := range addrs {
		checks[i] = obs.Check{ID: i, Spec: obs.CheckSpec{Kind: obs.KindICMP, Addr: a, Host: a.String(), Target: "bench:1"}}
	}
	var heapMB, offMB float64
	var results int
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		off0 := offheap.Bytes()
		var eng *prober.Engine
		if err := f.Prober.Do(func() (err error) {
			eng, err = prober.New(prober.Config{Interval: 10 * time.Second, Timeout: time.Second, Rate: 10000, Batch: 64})
			return err
		}); err != nil {
			testutil.SkipIfPermission(b, "open the prober sockets", err)
			b.Fatal(err)
		}
		src := newEngineSource(eng)
		src.SetChecks(1, checks)
		ctx, cancel := context.WithCancel(context.Background())
		sink := &nullSink{}
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, sink) }()
		time.Sleep(3 * time.Second)
		runtime.GC()
		runtime.ReadMemStats(&after)
		heapMB = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / 1e6
		offMB = float64(offheap.Bytes()-off0) / 1e6
		if dir := os.Getenv("HB_HEAPPROFILE_DIR"); dir != "" { // go tool pprof -sample_index=inuse_space
			out, err := os.Create(filepath.Join(dir, "engine.heap"))
			if err != nil {
				b.Fatal(err)
			}
			pprof.WriteHeapProfile(out)
			out.Close()
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		results = sink.n
		eng.Close()
		if st := eng.Stats(); st.Sent < 20000 {
			b.Fatalf("sent %d probes in 3 s, want ~30,000", st.Sent)
		}
		runtime.KeepAlive(src)
	}
	b.ReportMetric(heapMB, "heap-MB")
	b.ReportMetric(offMB, "offheap-MB")
	b.ReportMetric(float64(results), "results")
}
