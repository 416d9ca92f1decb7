// SPDX-License-Identifier: MIT

package rtthist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
)

// TestNativeIndex: the index puts v in (2^((i-1)/2^s), 2^(i/2^s)] for
// every schema, exact powers of two at the top of their bucket.
func TestNativeIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for schema := int32(-4); schema <= 8; schema++ {
		for range 2000 {
			v := math.Exp2(rng.Float64()*40 - 30) // 1e-9 .. 1e3
			i := NativeIndex(v, schema)
			lo := math.Exp2(float64(i-1) / math.Exp2(float64(schema)))
			hi := math.Exp2(float64(i) / math.Exp2(float64(schema)))
			// Relative slack for the float bounds computed here.
			if !(v > lo*(1-1e-12) && v <= hi*(1+1e-12)) {
				t.Fatalf("schema %d: %g in bucket %d = (%g, %g]", schema, v, i, lo, hi)
			}
		}
		for e := -20; e <= 10; e++ {
			v := math.Exp2(float64(e))
			// 2^e is the upper bound of bucket e·2^schema (schema ≥ 0).
			if schema >= 0 {
				if got, want := NativeIndex(v, schema), int32(e)<<schema; got != want {
					t.Fatalf("schema %d: 2^%d in bucket %d, want %d", schema, e, got, want)
				}
			}
		}
	}
	if got := NativeIndex(1, -2); got != 0 {
		t.Fatalf("schema -2: 1 in bucket %d, want 0", got)
	}
	if got := NativeIndex(17, -2); got != 2 { // (16, 256]
		t.Fatalf("schema -2: 17 in bucket %d, want 2", got)
	}
	for f, want := range map[float64]int32{1.1: 3, 2: 0, 1.0001: 8, 4: -1, 65536: -4, 1.5: 1} {
		if got := SchemaForFactor(f); got != want {
			t.Errorf("SchemaForFactor(%g) = %d, want %d", f, got, want)
		}
	}
}

// protoFamilies decodes WriteProto's families, checking that each comes
// once and that they are the text format's families with the same series
// and, for the histogram, the same classic buckets.
func protoFamilies(t *testing.T, s *Set) map[string]*dto.MetricFamily {
	t.Helper()
	got := decodeProto(t, s)
	want := parse(t, s)
	for name, w := range want {
		if len(w.Metric) == 0 {
			delete(want, name) // a header alone: nothing to send
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d families in protobuf, %d in text", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil || len(g.Metric) != len(w.Metric) || g.GetType() != w.GetType() || g.GetHelp() != w.GetHelp() {
			t.Fatalf("family %s: %v, text %v", name, g, w)
		}
	}
	return got
}

// decodeProto decodes WriteProto's families, each once.
func decodeProto(t *testing.T, s *Set) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteProto(&buf); err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		if err := protodelim.UnmarshalFrom(&buf, mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if got[mf.GetName()] != nil {
			t.Fatalf("%s twice", mf.GetName())
		}
		got[mf.GetName()] = mf
	}
	return got
}

// nativeCounts decodes a histogram's native spans and deltas into counts
// by bucket index.
func nativeCounts(t *testing.T, h *dto.Histogram) map[int32]uint64 {
	t.Helper()
	out := map[int32]uint64{}
	var idx int32
	var cnt int64
	d := 0
	for i, sp := range h.PositiveSpan {
		if i == 0 {
			idx = sp.GetOffset()
		} else {
			idx += sp.GetOffset()
		}
		for range sp.GetLength() {
			if d >= len(h.PositiveDelta) {
				t.Fatalf("spans cover more buckets than the %d deltas", len(h.PositiveDelta))
			}
			cnt += h.PositiveDelta[d]
			d++
			if cnt < 0 {
				t.Fatalf("negative count %d at bucket %d", cnt, idx)
			}
			out[idx] = uint64(cnt)
			idx++
		}
	}
	if d != len(h.PositiveDelta) {
		t.Fatalf("%d deltas for %d buckets", len(h.PositiveDelta), d)
	}
	return out
}

// TestNativeAgainstClassic: RTTs spread over five decades are counted in
// both the classic buckets (text) and the native ones (AddNative on the
// family parsed from that text); decoded from spans and deltas, the native
// counts agree with every classic bucket: at each classic bound le, the
// native buckets wholly at or below le count no more than the classic
// bucket and those reaching past it no less; with power-of-two classic
// bounds (native bucket boundaries) they are equal. Totals and sums match.
func TestNativeAgainstClassic(t *testing.T) {
	pow2 := []float64{}
	for e := -16; e <= 3; e++ {
		pow2 = append(pow2, math.Exp2(float64(e)))
	}
	for _, tc := range []struct {
		name   string
		bounds []float64
		factor float64
		exact  bool
	}{
		{"default", config.DefaultRTTBuckets, 1.1, false},
		{"pow2-schema3", pow2, 1.1, true},
		{"pow2-schema0", pow2, 2, true},
		{"default-schema-2", config.DefaultRTTBuckets, 16, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Buckets: tc.bounds, NativeFactor: tc.factor})
			protoFamilies(t, s) // a scraper negotiated protobuf: native buckets from now on
			rng := rand.New(rand.NewPCG(3, 4))
			want := map[string]int{}
			for i := range 5000 {
				check := fmt.Sprintf("c%d", i%3)
				// 1 µs .. 10 s, log-uniform, plus exact bounds now and then.
				d := time.Duration(math.Pow(10, rng.Float64()*7-6) * 1e9)
				if i%50 == 0 {
					d = time.Duration(tc.bounds[i/50%len(tc.bounds)] * 1e9)
				}
				if d <= 0 {
					d = 1
				}
				s.Observe("h1", check, obs.KindICMP, d)
				want[check]++
			}
			mf := protoFamilies(t, s)[Name]
			schema := SchemaForFactor(tc.factor)
			if len(mf.Metric) != 3 {
				t.Fatalf("%d series", len(mf.Metric))
			}
			for _, m := range mf.Metric {
				h := m.Histogram
				check := labelsOf(m)["check"]
				if h.GetSchema() != schema || h.GetZeroThreshold() <= 0 || h.GetZeroCount() != 0 {
					t.Fatalf("%s: schema %d zero threshold %g count %d", check, h.GetSchema(), h.GetZeroThreshold(), h.GetZeroCount())
				}
				nc := nativeCounts(t, h)
				var total uint64
				for _, c := range nc {
					if c == 0 {
						t.Fatalf("%s: a served native bucket is empty (spans should skip it)", check)
					}
					total += c
				}
				if total != h.GetSampleCount() || total != uint64(want[check]) {
					t.Fatalf("%s: native total %d, sample count %d, observed %d", check, total, h.GetSampleCount(), want[check])
				}
				width := math.Exp2(-float64(schema))
				for _, b := range h.Bucket {
					le, classic := b.GetUpperBound(), b.GetCumulativeCount()
					var below, reaching uint64 // native buckets with upper bound ≤ le; and lower bound < le
					for i, c := range nc {
						if math.Exp2(float64(i)*width) <= le*(1+1e-12) {
							below += c
						}
						if math.Exp2(float64(i-1)*width) < le {
							reaching += c
						}
					}
					if below > classic || reaching < classic {
						t.Fatalf("%s le=%g: classic %d, native %d..%d", check, le, classic, below, reaching)
					}
					if tc.exact && below != classic {
						t.Fatalf("%s le=%g: classic %d, native %d", check, le, classic, below)
					}
				}
			}
		})
	}
}

// TestNativeFromFirstProtoScrape: no series keeps native buckets until a
// scraper negotiates protobuf (WriteProto); that first scrape restarts
// every series (classic buckets and sum too, one counter reset), so from
// then on the count, the +Inf bucket, the sum and the native buckets
// cover the same RTTs.
func TestNativeFromFirstProtoScrape(t *testing.T) {
	s := New(Config{Buckets: config.DefaultRTTBuckets, NativeFactor: 1.1})
	for range 10 {
		s.Observe("h1", "icmp", obs.KindICMP, time.Millisecond)
	}
	var text bytes.Buffer
	if _, err := s.WriteTo(&text); err != nil { // a text scrape does not turn them on
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), Name+`_count{host="h1",check="icmp",kind="icmp"} 10`) {
		t.Fatalf("text before any protobuf scrape:\n%s", text.String())
	}
	s.each(func(sr *series, _, _ string) {
		if a := s.auxOf(sr); a != nil && a.nat.Load() != nil {
			t.Fatal("native buckets kept before any protobuf scrape")
		}
	})
	// Restarted: no series holds an RTT yet, so neither format has one.
	if f, ok := protoFamilies(t, s)[Name]; ok {
		t.Fatalf("first protobuf scrape: %v, want no RTT series (restarted)", f)
	}
	text.Reset()
	if _, err := s.WriteTo(&text); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), Name+"_count") {
		t.Fatalf("text after the first protobuf scrape, want no RTT series (restarted):\n%s", text.String())
	}
	for range 5 {
		s.Observe("h1", "icmp", obs.KindICMP, 2*time.Millisecond)
	}
	h := protoFamilies(t, s)[Name].Metric[0].Histogram
	if h.GetSchema() != SchemaForFactor(1.1) {
		t.Fatalf("schema %d", h.GetSchema())
	}
	var total uint64
	for _, c := range nativeCounts(t, h) {
		total += c
	}
	if total != 5 || h.GetSampleCount() != 5 {
		t.Fatalf("second protobuf scrape: native total %d, sample count %d; want the 5 RTTs since the first", total, h.GetSampleCount())
	}
	if inf := h.Bucket[len(h.Bucket)-1].GetCumulativeCount(); inf != 5 || math.Abs(h.GetSampleSum()-0.010) > 1e-12 {
		t.Fatalf("second protobuf scrape: classic +Inf %d, sum %v; want 5 and 0.010 s, the RTTs the native buckets hold", inf, h.GetSampleSum())
	}
}

// TestNativeOff: with no factor the protobuf family is classic only, and
// no native buckets are kept.
func TestNativeOff(t *testing.T) {
	s := New(Config{Buckets: config.DefaultRTTBuckets})
	s.Observe("h1", "icmp", obs.KindICMP, time.Millisecond)
	if s.Native() {
		t.Fatal("Native() without a factor")
	}
	mf := protoFamilies(t, s)[Name]
	h := mf.Metric[0].Histogram
	if h.Schema != nil || len(h.PositiveSpan) != 0 || h.ZeroThreshold != nil {
		t.Fatalf("native fields without a factor: %v", h)
	}
	s.each(func(sr *series, _, _ string) {
		if a := s.auxOf(sr); a != nil && a.nat.Load() != nil {
			t.Fatal("native buckets kept without a factor")
		}
	})
}

// TestNativeConcurrent: observers and scrapes at once lose no RTT (run
// with -race to check the copy-on-write directory).
func TestNativeConcurrent(t *testing.T) {
	s := New(Config{Buckets: config.DefaultRTTBuckets, NativeFactor: 1.1})
	protoFamilies(t, s) // native buckets count from the first protobuf scrape
	const workers, per = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range per {
				s.Observe("h", "icmp", obs.KindICMP, time.Duration(math.Pow(10, rng.Float64()*6-6)*1e9)+1)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			decodeProto(t, s)
		}
	}()
	wg.Wait()
	<-done
	mf := protoFamilies(t, s)[Name]
	var total uint64
	for _, c := range nativeCounts(t, mf.Metric[0].Histogram) {
		total += c
	}
	if total != workers*per {
		t.Fatalf("native total %d, want %d", total, workers*per)
	}
}

// BenchmarkMemoryPerSeriesNative is the heap per check at 100k checks,
// native buckets off and at schema 3, for two spreads of RTTs per check:
// "narrow" (20 RTTs within ±10 % of the check's base, 200 µs–1 ms) and
// "wide" (100 RTTs over 0.5×–4× the base, three octaves).
func BenchmarkMemoryPerSeriesNative(b *testing.B) {
	const n = 100_000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("h%06d", i)
	}
	for _, tc := range []struct {
		name   string
		factor float64
		rtts   int
		spread [2]float64
	}{
		{"off-narrow", 0, 20, [2]float64{0.9, 1.1}},
		{"schema3-narrow", 1.1, 20, [2]float64{0.9, 1.1}},
		{"off-wide", 0, 100, [2]float64{0.5, 4}},
		{"schema3-wide", 1.1, 100, [2]float64{0.5, 4}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := New(Config{Buckets: config.DefaultRTTBuckets, NativeFactor: tc.factor})
				if err := s.WriteProto(io.Discard); err != nil { // scraped in protobuf: native buckets counted
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(5, 6))
				for i, h := range names {
					base := float64(200+i%800) * 1e3 // ns
					for range tc.rtts {
						f := tc.spread[0] * math.Pow(tc.spread[1]/tc.spread[0], rng.Float64())
						s.Observe(h, "icmp", obs.KindICMP, time.Duration(base*f))
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				per = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(s)
			}
			b.ReportMetric(per, "bytes/series")
		})
	}
}

// BenchmarkObserveNative is Observe's cost with native buckets at schema 3.
func BenchmarkObserveNative(b *testing.B) {
	s := New(Config{Buckets: config.DefaultRTTBuckets, NativeFactor: 1.1})
	if err := s.WriteProto(io.Discard); err != nil { // scraped in protobuf: native buckets counted
		b.Fatal(err)
	}
	s.Observe("h", "icmp", obs.KindICMP, time.Millisecond)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Observe("h", "icmp", obs.KindICMP, time.Duration(i%1000)*time.Microsecond+time.Microsecond)
	}
}

// TestProtoGauges: the tcp/http gauges come through WriteProto too, with
// the same series as in the text format (protoFamilies compares them).
func TestProtoGauges(t *testing.T) {
	s := New(Config{Buckets: config.DefaultRTTBuckets, NativeFactor: 1.1, ExportLabels: []string{"role", "zone"},
		Labels: func(h string) []string { return []string{"r-" + h, ""} }})
	if err := s.WriteProto(io.Discard); err != nil { // scraped in protobuf before: native buckets counted
		t.Fatal(err)
	}
	s.Observe("h1", "web", obs.KindHTTP, 3*time.Millisecond)
	s.ObserveMetrics("h1", "web", obs.KindHTTP, []obs.Metric{{Name: "dns_seconds", Value: 0.001}, {Name: MetricStatus, Value: 200}})
	s.ObserveMetrics("h2", "down", obs.KindTCP, []obs.Metric{{Name: "connect_seconds", Value: 0.002}})
	got := protoFamilies(t, s)
	if g := got["hb_check_http_status_code"]; g == nil || g.Metric[0].GetGauge().GetValue() != 200 {
		t.Fatalf("status gauge: %v", g)
	}
	if g := got["hb_check_phase_seconds"]; g == nil || len(g.Metric) != 2 {
		t.Fatalf("phase gauges: %v", g)
	}
	if g := got[Name]; g == nil || len(g.Metric) != 1 {
		t.Fatalf("histogram: %v", g) // h2 has no RTT: no histogram series
	}
	// Labels as in the text: host, check, kind, and the exported labels
	// the host has (zone is empty: no label).
	if l := labelsOf(got[Name].Metric[0]); len(l) != 4 || l["host"] != "h1" || l["check"] != "web" || l["kind"] != "http" || l["role"] != "r-h1" {
		t.Fatalf("histogram labels %v", l)
	}
	want := parse(t, s)[Name].Metric[0]
	if !proto.Equal(labelsAsSet(want), labelsAsSet(got[Name].Metric[0])) {
		t.Fatalf("labels %v, text %v", got[Name].Metric[0].Label, want.Label)
	}
}

// labelsAsSet is m's labels alone, for comparing.
func labelsAsSet(m *dto.Metric) *dto.Metric { return &dto.Metric{Label: m.Label} }
