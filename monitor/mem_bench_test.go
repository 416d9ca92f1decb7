// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/push"
)

// keepSource is a source that keeps the checks it is handed, as a real
// source does (their specs and ids), and does nothing else.
type keepSource struct {
	kinds  []obs.Kind
	mu     sync.Mutex
	checks []obs.Check
}

func (s *keepSource) Name() string      { return "keep" }
func (s *keepSource) Kinds() []obs.Kind { return s.kinds }
func (s *keepSource) SetChecks(gen uint64, cs []obs.Check) {
	s.mu.Lock()
	s.checks = cs
	s.mu.Unlock()
}
func (s *keepSource) Run(ctx context.Context, sink obs.Sink) error { <-ctx.Done(); return nil }

// pipelineTargets is a targets file of n hosts: address lines with one
// label ("icmp"), or heartbeat lines as bench/cmd/hbpushload writes them
// ("heartbeat").
func pipelineTargets(kind string, n int) string {
	var b strings.Builder
	for i := range n {
		switch kind {
		case "icmp":
			fmt.Fprintf(&b, "198.%d.%d.%d site=dc%d\n", 18+i>>16, i>>8&0xff, i&0xff, i%4)
		default:
			fmt.Fprintf(&b, "heartbeat://h%06d interval=10s grace=20s\n", i)
		}
	}
	return b.String()
}

// BenchmarkPipelineMemory is the heap the daemon keeps per host after
// loading 100k hosts: targets parsed and resolved, the state table, the
// checks handed to the sources (a source that keeps its list for icmp,
// the real push receiver for heartbeat). No store, no API. Reported as
// bytes/host (live heap after a GC, minus the heap before New). With
// HB_HEAPPROFILE_DIR set it writes that live heap's profile there.
func BenchmarkPipelineMemory(b *testing.B) {
	const n = 100000
	for _, kind := range []string{"icmp", "heartbeat"} {
		b.Run(kind, func(b *testing.B) {
			text := pipelineTargets(kind, n)
			cfg := config.DefaultProbe()
			cfg.Targets = "-"
			cfg.API.Listen = "off"
			cfg.MaxTargets = n
			cfg.ResolveEvery = 0
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			var perHost float64
			for range b.N {
				var src obs.Source = &keepSource{kinds: []obs.Kind{obs.KindICMP}}
				if kind == "heartbeat" {
					rcv, err := push.NewReceiver(push.ReceiverConfig{Push: cfg.Push, Log: log})
					if err != nil {
						b.Fatal(err)
					}
					src = rcv
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{src}, NoStore: true, Log: log,
					Stdin: strings.NewReader(text)})
				if err != nil {
					b.Fatal(err)
				}
				m.setChecks(m.table.View())
				runtime.GC()
				runtime.ReadMemStats(&after)
				perHost = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				if dir := os.Getenv("HB_HEAPPROFILE_DIR"); dir != "" {
					// What is live now, by allocation site: go tool pprof -sample_index=inuse_space
					f, err := os.Create(filepath.Join(dir, "pipeline-"+kind+".heap"))
					if err != nil {
						b.Fatal(err)
					}
					pprof.WriteHeapProfile(f)
					f.Close()
				}
				if m.table.View().NumChecks() != n {
					b.Fatalf("%d checks", m.table.View().NumChecks())
				}
				runtime.KeepAlive(m)
				runtime.KeepAlive(src)
				m.close()
			}
			b.ReportMetric(perHost, "bytes/host")
		})
	}
}

// fleetSource is a source that answers for every check it is handed, as
// the prober engine would for a fleet of hosts that reply: rounds of one
// result per check, paced at rate results/s, ~1 % of them timeouts (so
// checks change state and carry a problem text). done is closed after the
// last round.
type fleetSource struct {
	keepSource
	rounds int
	rate   int
	burst  int // results sent at once, then a pause (default 1000)
	done   chan struct{}
	gen    uint64
}

func (s *fleetSource) SetChecks(gen uint64, cs []obs.Check) {
	s.mu.Lock()
	s.gen, s.checks = gen, cs
	s.mu.Unlock()
}

func (s *fleetSource) Run(ctx context.Context, sink obs.Sink) error {
	defer close(s.done)
	s.mu.Lock()
	cs, gen := s.checks, s.gen
	s.mu.Unlock()
	batch := s.burst
	if batch <= 0 {
		batch = 1000
	}
	tick := time.NewTicker(time.Second * time.Duration(batch) / time.Duration(s.rate))
	defer tick.Stop()
	for r := range s.rounds {
		for i := 0; i < len(cs); i += batch {
			now := time.Now()
			for j := i; j < min(i+batch, len(cs)); j++ {
				o := obs.Observation{At: now, Outcome: obs.OK, RTT: time.Duration(200+j%800) * time.Microsecond, Method: obs.MethodKernelTxRx}
				if (j+r)%100 == 0 {
					o = obs.Observation{At: now, Outcome: obs.Timeout}
				}
				sink.Observe(gen, cs[j].ID, o)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

// BenchmarkDaemonMemory is the live heap of the whole daemon per host at
// 100k icmp hosts after they have all reported a few times: the table and
// its snapshots, the store (a real database in a temp dir) with its
// per-check rollups, the alert engine, the dashboard and its stream hub,
// the RTT histograms, the event bus and its subscribers' queues, the API
// listener: everything Run starts except the prober engine, replaced by a
// source that answers for the fleet (3 rounds at 50k results/s;
// HB_DAEMONMEM_ROUNDS and HB_DAEMONMEM_RATE change them, e.g. 8 rounds at
// 10000/s for the daemon's pace at a 10 s interval across a minute's
// rollups; HB_DAEMONMEM_BURST, default 1000, how many results it sends
// at once before a pause: the engine's are a few dozen). Reported
// as bytes/host (live heap after a GC, minus the heap before New) and
// heap-MB. With HB_HEAPPROFILE_DIR set it writes the profile there
// (daemon.heap). It also reports the process's CPU (cpu-%, of one core,
// and cpu-ns/result) and context switches per 1,000 results while the
// fleet reports after its first round: the core's cost in steady state
// without the prober (the fleet source's own share included);
// HB_DAEMONMEM_CPUPROFILE=FILE writes that window's CPU profile.
func BenchmarkDaemonMemory(b *testing.B) {
	const n = 100000
	text := pipelineTargets("icmp", n)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var perHost, heapMB, recordsMB, cpuPct, cpuNsPerResult, cswPerKResult float64
	for range b.N {
		cfg := config.DefaultProbe()
		cfg.Targets = "-"
		cfg.API.Listen = "127.0.0.1:0"
		cfg.Store.DB = filepath.Join(b.TempDir(), "hb.db")
		cfg.MaxTargets = n
		cfg.ResolveEvery = 0
		src := &fleetSource{keepSource: keepSource{kinds: []obs.Kind{obs.KindICMP}}, rounds: envInt("HB_DAEMONMEM_ROUNDS", 3),
			rate: envInt("HB_DAEMONMEM_RATE", 50000), burst: envInt("HB_DAEMONMEM_BURST", 1000), done: make(chan struct{})}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{src}, Log: log, Stdin: strings.NewReader(text)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- m.Run(ctx) }()
		// CPU time and context switches (wake-ups that put a thread to
		// sleep or took it off a CPU) of the whole process while the
		// fleet reports, in steady state: from the end of its first round
		// (every check's first result is a state change, which the
		// store, the alert engine and the event log write) to its last.
		for m.WriterStats().Observed < n {
			time.Sleep(time.Millisecond)
		}
		if f := os.Getenv("HB_DAEMONMEM_CPUPROFILE"); f != "" { // that window's CPU profile
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			pprof.StartCPUProfile(out)
			defer out.Close()
			// And what was allocated in it: go tool pprof -sample_index=alloc_space -diff_base FILE.allocs0 FILE.allocs1
			writeAllocs(b, f+".allocs0")
		}
		ru0, t0, obs0 := rusage(), time.Now(), m.WriterStats().Observed
		<-src.done
		ru1, wall := rusage(), time.Since(t0)
		if f := os.Getenv("HB_DAEMONMEM_CPUPROFILE"); f != "" {
			pprof.StopCPUProfile()
			writeAllocs(b, f+".allocs1")
		}
		results := float64(m.WriterStats().Observed - obs0)
		cpuPct = 100 * float64(ru1.cpu-ru0.cpu) / float64(wall)
		cpuNsPerResult = float64(ru1.cpu-ru0.cpu) / results
		cswPerKResult = 1000 * float64(ru1.csw-ru0.csw) / results
		// Let the writer and the subscribers drain what is queued (queued
		// events hold their observations and snapshots).
		for range 600 {
			busy := false
			if st := m.WriterStats(); st.Applied+st.Rejected+st.Stale < st.Observed {
				busy = true
			}
			for _, ss := range m.Bus().Stats().Subscribers {
				busy = busy || ss.Queued > 0
			}
			if !busy {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perHost = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		heapMB = float64(after.HeapAlloc) / 1e6
		recordsMB = float64(m.Table().View().RecordBytes()) / 1e6
		if dir := os.Getenv("HB_HEAPPROFILE_DIR"); dir != "" {
			f, err := os.Create(filepath.Join(dir, "daemon.heap"))
			if err != nil {
				b.Fatal(err)
			}
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		if st := m.WriterStats(); st.Applied < 3*n*9/10 {
			b.Fatalf("applied %d of %d results", st.Applied, 3*n)
		}
		cancel()
		if err := <-runErr; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perHost, "bytes/host")
	b.ReportMetric(heapMB, "heap-MB")
	b.ReportMetric(cpuPct, "cpu-%")
	b.ReportMetric(cpuNsPerResult, "cpu-ns/result")
	b.ReportMetric(cswPerKResult, "ctxsw/1k-results")
	// The state table's records live outside the Go heap (state.View.RecordBytes).
	b.ReportMetric(recordsMB, "records-MB")
	// The process as the kernel sees it (the test binary included), and
	// what of it the Go runtime has mapped and not released: the rest is
	// outside Go's heap (SQLite's allocations, through modernc's libc).
	if rss, hwm := procStatus("VmRSS:"), procStatus("VmHWM:"); rss > 0 {
		sm := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
		metrics.Read(sm)
		b.ReportMetric(sm[2].Value.Float64(), "gc-cpu-s")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(sm[0].Value.Uint64()-sm[1].Value.Uint64())/(1<<20), "go-mapped-MiB")
	}
}

// writeAllocs writes the allocation profile to path.
func writeAllocs(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// usage is the process's CPU time (user+system, all threads) and context
// switches (voluntary and not).
type usage struct {
	cpu time.Duration
	csw int64
}

func rusage() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), csw: ru.Nvcsw + ru.Nivcsw}
}

// envInt is the integer in environment variable k, or def.
func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// procStatus is a /proc/self/status field in bytes (0 if unreadable).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
