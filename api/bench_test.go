// SPDX-License-Identifier: MIT

package api

import (
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/proto"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/rtthist"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

// bigTable is n probed hosts, every one with a health blob.
func bigTable(b *testing.B, n int) *state.Table {
	specs := make([]state.HostSpec, n)
	for i := range specs {
		specs[i] = state.HostSpec{
			Name: fmt.Sprintf("host-%06d", i),
			Addr: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
		}
		specs[i].Checks = icmp(specs[i].Addr)
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	for id := range n {
		h := &wire.Health{CollectedAt: now0.UnixNano(), CPUBusy: uint16(id % 1000), MemTotal: 8 << 30, MemAvailable: 3 << 30, RootTotal: 100 << 30, RootUsed: 40 << 30, Load1: 1234}
		tab.Apply(id, state.Observation{At: now0, Outcome: state.OK, RTT: time.Duration(100+id%900) * time.Microsecond, Method: obs.MethodKernelTxRx, Health: *h, HasHealth: true})
	}
	return tab
}

// BenchmarkMetrics100k renders /metrics for 100k hosts (target < 1 s).
func BenchmarkMetrics100k(b *testing.B) {
	srv, _ := New(Config{Now: func() time.Time { return now0 }}, bigTable(b, 100_000), nil, engineStats)
	cw := &countWriter{}
	srv.WriteMetrics(cw) // warm the label memo
	for b.Loop() {
		cw.n = 0
		srv.WriteMetrics(cw)
	}
	b.ReportMetric(float64(cw.n)/1e6, "MB/scrape")
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// BenchmarkMetricsExpfmt100k writes the same per-host families through
// prometheus/common's expfmt (dto objects per series), for the choice of
// library recorded in docs/api.md.
func BenchmarkMetricsExpfmt100k(b *testing.B) {
	tab := bigTable(b, 100_000)
	srv, _ := New(Config{Now: func() time.Time { return now0 }}, tab, nil, engineStats)
	fams := srv.hostFamilies(float64(now0.Unix()))
	for b.Loop() {
		v := tab.View()
		for _, f := range fams {
			mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help)}
			if f.counter != nil {
				mf.Type = dto.MetricType_COUNTER.Enum()
			} else {
				mf.Type = dto.MetricType_GAUGE.Enum()
			}
			for _, h := range v.Hosts() {
				snap := h.Snapshot()
				hs := sampleOf(&snap)
				sn := &hs
				m := &dto.Metric{Label: []*dto.LabelPair{
					{Name: proto.String("host"), Value: proto.String(h.Spec().Name)},
					{Name: proto.String("addr"), Value: proto.String(h.Spec().Addr.String())},
				}}
				if f.counter != nil {
					m.Counter = &dto.Counter{Value: proto.Float64(float64(f.counter(sn)))}
				} else if val, ok := f.gauge(sn); ok {
					m.Gauge = &dto.Gauge{Value: proto.Float64(val)}
				} else {
					continue
				}
				mf.Metric = append(mf.Metric, m)
			}
			expfmt.MetricFamilyToText(io.Discard, mf)
		}
	}
}

// BenchmarkHostHandler is /api/v1/hosts/{name} through the handler, no
// network: the upper bound for wrk figures.
func BenchmarkHostHandler(b *testing.B) {
	srv, _ := New(Config{Now: func() time.Time { return now0 }}, bigTable(b, 10_000), nil, engineStats)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		i := 0
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(fmt.Sprintf("/api/v1/hosts/host-%06d", i%10_000))
			srv.Handler(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatal(ctx.Response.StatusCode())
			}
			i++
		}
	})
}

// BenchmarkMetricsProto100k renders /metrics for 100k hosts, each with an
// icmp check whose RTT histogram (native buckets at schema 3) saw 20 RTTs,
// in the text format and in the delimited protobuf exposition (the text
// converted family by family, native buckets added). peak-heap-MB is the
// highest heap in use during a scrape above the heap before it, sampled
// every 20 ms.
func BenchmarkMetricsProto100k(b *testing.B) {
	const n = 100_000
	tab := bigTable(b, n)
	hist := rtthist.New(rtthist.Config{Buckets: config.DefaultRTTBuckets, NativeFactor: 1.1})
	if err := hist.WriteProto(io.Discard); err != nil { // native buckets count from the first protobuf scrape
		b.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("host-%06d", i)
		for j := range 20 {
			hist.Observe(name, "icmp", obs.KindICMP, time.Duration(100+i%900+j*7)*time.Microsecond)
		}
	}
	srv, _ := New(Config{Now: func() time.Time { return now0 }, Collectors: []io.WriterTo{hist}}, tab, nil, engineStats)
	for _, tc := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"text", func(w io.Writer) error { srv.WriteMetrics(w); return nil }},
		{"proto", srv.WriteMetricsProto},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cw := &countWriter{}
			tc.write(cw) // warm the label memo
			var peak uint64
			for b.Loop() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base, stop, done := ms.HeapInuse, make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					tk := time.NewTicker(20 * time.Millisecond)
					defer tk.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tk.C:
							var ms runtime.MemStats
							runtime.ReadMemStats(&ms)
							if ms.HeapInuse > base {
								peak = max(peak, ms.HeapInuse-base)
							}
						}
					}
				}()
				cw.n = 0
				if err := tc.write(cw); err != nil {
					b.Fatal(err)
				}
				close(stop)
				<-done
			}
			b.ReportMetric(float64(cw.n)/1e6, "MB/scrape")
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
		})
	}
}
