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
	"runtime/pprof"
	"strings"
	"sync"
	"testing"

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
