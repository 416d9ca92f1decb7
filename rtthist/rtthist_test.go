// SPDX-License-Identifier: MIT

package rtthist

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

func parse(t *testing.T, s *Set) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return mfs
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.Label {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// checkHistogram asserts the invariants of every series: buckets
// ascending, counts cumulative, the last (+Inf) equal to _count.
func checkHistogram(t *testing.T, mf *dto.MetricFamily, nb int) {
	t.Helper()
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("type %v", mf.GetType())
	}
	for _, m := range mf.Metric {
		h := m.GetHistogram()
		if len(h.Bucket) != nb+1 || !math.IsInf(h.Bucket[nb].GetUpperBound(), 1) {
			t.Fatalf("%v: %d buckets, want %d and +Inf", labelsOf(m), len(h.Bucket), nb)
		}
		var prevLE float64
		var prev uint64
		for i, b := range h.Bucket {
			if i > 0 && b.GetUpperBound() <= prevLE {
				t.Fatalf("bounds not ascending at %d", i)
			}
			if b.GetCumulativeCount() < prev {
				t.Fatalf("%v: bucket %g count %d below previous %d", labelsOf(m), b.GetUpperBound(), b.GetCumulativeCount(), prev)
			}
			prevLE, prev = b.GetUpperBound(), b.GetCumulativeCount()
		}
		if h.GetSampleCount() != prev {
			t.Fatalf("count %d differs from the +Inf bucket %d", h.GetSampleCount(), prev)
		}
	}
}

func TestHistogramFromBus(t *testing.T) {
	bus := &event.Bus{}
	sub := bus.SubscribeBatch("rtthist", 1024, event.Result)
	s := New(Config{Buckets: config.DefaultRTTBuckets})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sub) }()

	rtts := []time.Duration{30 * time.Microsecond, 30 * time.Microsecond, 900 * time.Microsecond, 2 * time.Millisecond, 40 * time.Second}
	for _, r := range rtts {
		bus.Publish(event.Event{Type: event.Result, Host: "web1", Check: "icmp", Kind: obs.KindICMP, Obs: &obs.Observation{Outcome: obs.OK, RTT: r}})
	}
	bus.Publish(event.Event{Type: event.Result, Host: "web1", Check: "icmp", Kind: obs.KindICMP, Obs: &obs.Observation{Outcome: obs.Timeout}})
	bus.Publish(event.Event{Type: event.Result, Host: `a"b`, Check: "http:/", Kind: obs.KindHTTP, Obs: &obs.Observation{Outcome: obs.OK, RTT: 10 * time.Millisecond}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs := parse(t, s)
		if mf := mfs[Name]; mf != nil && len(mf.Metric) == 2 && mf.Metric[1].GetHistogram().GetSampleCount() == uint64(len(rtts)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("events not observed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	mf := parse(t, s)[Name]
	checkHistogram(t, mf, len(config.DefaultRTTBuckets))
	byHost := map[string]*dto.Histogram{}
	for _, m := range mf.Metric {
		l := labelsOf(m)
		if len(l) != 3 || l["check"] == "" || l["kind"] == "" {
			t.Fatalf("labels %v: want host, check, kind only", l)
		}
		byHost[l["host"]] = m.GetHistogram()
	}
	h := byHost["web1"]
	want := map[float64]uint64{25e-6: 0, 50e-6: 2, 1e-3: 3, 2.5e-3: 4, 10: 4}
	for _, b := range h.Bucket {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	if h.GetSampleCount() != 5 { // the 40 s sample is only in +Inf
		t.Errorf("count %d", h.GetSampleCount())
	}
	wantSum := (60*time.Microsecond + 900*time.Microsecond + 2*time.Millisecond + 40*time.Second).Seconds()
	if d := h.GetSampleSum() - wantSum; d > 1e-9 || d < -1e-9 {
		t.Errorf("sum %g, want %g", h.GetSampleSum(), wantSum)
	}
	if byHost[`a"b`] == nil || byHost[`a"b`].GetSampleCount() != 1 {
		t.Error("escaped host missing")
	}
}

func TestExportLabels(t *testing.T) {
	labels := map[string][]string{"web1": {"web", "eu-1"}, "db1": {"db"}}
	s := New(Config{Buckets: []float64{0.001, 0.01}, ExportLabels: []string{"role", "zone"},
		Labels: func(h string) []string { return labels[h] }})
	s.Observe("web1", "icmp", obs.KindICMP, time.Millisecond/2)
	s.Observe("db1", "tcp:5432", obs.KindTCP, 5*time.Millisecond)
	s.Observe("gone", "icmp", obs.KindICMP, time.Millisecond)
	mf := parse(t, s)[Name]
	checkHistogram(t, mf, 2)
	got := map[string]map[string]string{}
	for _, m := range mf.Metric {
		l := labelsOf(m)
		got[l["host"]] = l
	}
	if got["web1"]["role"] != "web" || got["web1"]["zone"] != "eu-1" || got["db1"]["role"] != "db" {
		t.Fatalf("exported labels: %v", got)
	}
	if _, ok := got["db1"]["zone"]; ok { // an empty value is no label in Prometheus
		t.Fatalf("db1 has a zone: %v", got["db1"])
	}
	// A reload changes labels and drops a check.
	labels["web1"] = []string{"web", "eu-2"}
	s.Relabel(func(h, c string) bool { return h != "gone" })
	mf = parse(t, s)[Name]
	if len(mf.Metric) != 2 {
		t.Fatalf("%d series after Relabel", len(mf.Metric))
	}
	for _, m := range mf.Metric {
		if l := labelsOf(m); l["host"] == "web1" && l["zone"] != "eu-2" {
			t.Fatalf("relabel: %v", l)
		}
	}
	// Without export labels, none appear.
	plain := New(Config{Buckets: []float64{0.001}, Labels: func(string) []string { return []string{"x"} }})
	plain.Observe("web1", "icmp", obs.KindICMP, time.Millisecond)
	var buf bytes.Buffer
	plain.WriteTo(&buf)
	if strings.Contains(buf.String(), "role") || strings.Contains(buf.String(), `"x"`) {
		t.Fatalf("labels without export_labels:\n%s", buf.String())
	}
}

func BenchmarkObserve(b *testing.B) {
	s := New(Config{Buckets: config.DefaultRTTBuckets})
	s.Observe("h", "icmp", obs.KindICMP, time.Millisecond)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Observe("h", "icmp", obs.KindICMP, time.Duration(i%1000)*time.Microsecond+time.Microsecond)
	}
}

// TestCheckMetrics: the latest tcp/http result's phases, status and
// certificate expiry are exported; a failing check (no RTT) gets them but
// no histogram; other kinds' metrics and unknown names are not exported.
func TestCheckMetrics(t *testing.T) {
	s := New(Config{Buckets: []float64{0.01}})
	s.Observe("web", "http:/", obs.KindHTTP, 3*time.Millisecond)
	s.ObserveMetrics("web", "http:/", obs.KindHTTP, []obs.Metric{
		{Name: "dns_seconds", Value: 0.001}, {Name: "connect_seconds", Value: 0.0002}, {Name: "tls_seconds", Value: 0.004},
		{Name: "first_byte_seconds", Value: 0.002}, {Name: "duration_seconds", Value: 0.008},
		{Name: "http_status_code", Value: 200}, {Name: "tls_cert_expiry_timestamp_seconds", Value: 1.8e9}, {Name: "plugin_x", Value: 7},
	})
	s.ObserveMetrics("old", "http:/", obs.KindHTTP, []obs.Metric{{Name: "connect_seconds", Value: 0.0003}, {Name: "tls_cert_expiry_timestamp_seconds", Value: 1.7e9}})
	mfs := parse(t, s)
	if h := mfs[Name]; h == nil || len(h.Metric) != 1 {
		t.Fatalf("histograms: %v", h)
	}
	get := func(fam, host string, kv ...string) (float64, bool) {
		mf := mfs[fam]
		if mf == nil {
			return 0, false
		}
	next:
		for _, m := range mf.Metric {
			l := labelsOf(m)
			if l["host"] != host {
				continue
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if l[kv[i]] != kv[i+1] {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	for _, c := range []struct {
		fam, host string
		kv        []string
		want      float64
	}{
		{"hb_check_phase_seconds", "web", []string{"phase", "dns"}, 0.001},
		{"hb_check_phase_seconds", "web", []string{"phase", "tls"}, 0.004},
		{"hb_check_phase_seconds", "web", []string{"phase", "first_byte"}, 0.002},
		{"hb_check_phase_seconds", "web", []string{"phase", "total"}, 0.008},
		{"hb_check_http_status_code", "web", nil, 200},
		{"hb_check_tls_cert_expiry_timestamp_seconds", "web", nil, 1.8e9},
		{"hb_check_tls_cert_expiry_timestamp_seconds", "old", nil, 1.7e9},
		{"hb_check_phase_seconds", "old", []string{"phase", "connect"}, 0.0003},
	} {
		if v, ok := get(c.fam, c.host, c.kv...); !ok || v != c.want {
			t.Errorf("%s %s %v = %v %v, want %v", c.fam, c.host, c.kv, v, ok, c.want)
		}
	}
	if _, ok := get("hb_check_phase_seconds", "old", "phase", "tls"); ok {
		t.Error("a phase the result did not have")
	}
	if _, ok := get("hb_check_http_status_code", "old"); ok {
		t.Error("status without one")
	}
	for name := range mfs {
		if strings.Contains(name, "plugin") {
			t.Errorf("unbounded name exported: %s", name)
		}
	}
}

// TestWindowToDense: a series counts in a window of a few buckets around
// its first RTT and moves to all buckets when an RTT falls outside it;
// concurrent observers across the move lose nothing, and every bucket
// holds exactly what a plain per-bucket count gives (checked through the
// exposition, as Prometheus reads it).
func TestWindowToDense(t *testing.T) {
	bounds := config.DefaultRTTBuckets
	s := New(Config{Buckets: bounds})
	// Series "a": all in the window. Series "b": first RTT at 1 ms, then
	// RTTs over the whole range from 8 goroutines. Series "c": metrics
	// first (an empty series), then an RTT far from bucket 0.
	rtts := []time.Duration{5 * time.Microsecond, 30 * time.Microsecond, 700 * time.Microsecond,
		time.Millisecond, 3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Second, 20 * time.Second}
	want := map[string][]uint64{"a": make([]uint64, len(bounds)+1), "b": make([]uint64, len(bounds)+1), "c": make([]uint64, len(bounds)+1)}
	bucket := func(d time.Duration) int {
		for i, b := range bounds {
			if d.Seconds() <= b {
				return i
			}
		}
		return len(bounds)
	}
	for range 3 {
		s.Observe("a", "icmp", obs.KindICMP, 900*time.Microsecond)
		want["a"][bucket(900*time.Microsecond)]++
	}
	s.Observe("b", "icmp", obs.KindICMP, time.Millisecond)
	want["b"][bucket(time.Millisecond)]++
	const workers, per = 8, 500
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range per {
				s.Observe("b", "icmp", obs.KindICMP, rtts[(w+i)%len(rtts)])
			}
		}()
	}
	for range workers {
		<-done
	}
	for w := range workers {
		for i := range per {
			want["b"][bucket(rtts[(w+i)%len(rtts)])]++
		}
	}
	s.ObserveMetrics("c", "http:/", obs.KindHTTP, []obs.Metric{{Name: "connect_seconds", Value: 0.001}})
	s.Observe("c", "http:/", obs.KindHTTP, 3*time.Second)
	want["c"][bucket(3*time.Second)]++

	mf := parse(t, s)[Name]
	checkHistogram(t, mf, len(bounds))
	if len(mf.Metric) != 3 {
		t.Fatalf("%d series", len(mf.Metric))
	}
	for _, m := range mf.Metric {
		host := labelsOf(m)["host"]
		var cum uint64
		for i, b := range m.GetHistogram().Bucket {
			cum += want[host][i]
			if b.GetCumulativeCount() != cum {
				t.Errorf("%s: bucket le=%g: %d, want %d", host, b.GetUpperBound(), b.GetCumulativeCount(), cum)
			}
		}
	}
	if d := denseCounts(s.auxOf(&s.byName[key{"a", "icmp"}].series)); d != nil {
		t.Error(`series "a" stayed in its window but has dense counts`)
	}
	if d := denseCounts(s.auxOf(&s.byName[key{"b", "icmp"}].series)); d == nil {
		t.Error(`series "b" has RTTs over all buckets but no dense counts`)
	}
	if d := denseCounts(s.auxOf(&s.byName[key{"c", "http:/"}].series)); d != nil {
		t.Error(`series "c" (metrics first, then one RTT) should count in a window placed at that RTT`)
	}
}

// BenchmarkMemoryPerSeries is the heap one check's histogram costs (its
// series and slot, found by table id as in the daemon) at 100k checks
// that each saw RTTs in one bucket.
func BenchmarkMemoryPerSeries(b *testing.B) {
	const n = 100_000
	specs := make([]state.HostSpec, n)
	for i := range specs {
		h := fmt.Sprintf("h%06d", i)
		specs[i] = state.HostSpec{Name: h, Checks: []obs.CheckSpec{{Host: h, Name: "icmp", Kind: obs.KindICMP, Interval: time.Second, Timeout: time.Second}}}
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	v := tab.View()
	var per, offPer float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		off0 := offheap.Bytes()
		s := New(Config{Buckets: config.DefaultRTTBuckets, Table: tab})
		for i, c := range v.Checks() {
			s.observe(v.Gen, c.ID, c.Spec().Host, c.Spec().Name, obs.KindICMP, time.Duration(200+i%800)*time.Microsecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		offPer = float64(offheap.Bytes()-off0) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(per, "bytes/series")
	// The series themselves are outside the Go heap (not doubled by the
	// collector's heap goal): 0 under -race, where offheap uses the heap.
	b.ReportMetric(offPer, "offheap-bytes/series")
}

// TestRunAcrossReload: without a table (Config.Table nil) the events'
// generation and check index mean nothing to the Set; after a reload the
// same index names another check, and its RTTs must land in that check's
// series. TestExpositionGolden has the same with a table.
func TestRunAcrossReload(t *testing.T) {
	bus := &event.Bus{}
	sub := bus.SubscribeBatch("rtthist", 1024, event.Result)
	s := New(Config{Buckets: config.DefaultRTTBuckets})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sub) }()
	res := func(gen uint64, id int, host string, rtt time.Duration) {
		bus.Publish(event.Event{Type: event.Result, Host: host, Check: "icmp", Kind: obs.KindICMP,
			Obs: &obs.Observation{Outcome: obs.OK, RTT: rtt}, Gen: gen, ID: id})
	}
	res(1, 0, "a", time.Millisecond)
	res(1, 1, "b", time.Millisecond)
	res(1, 0, "a", time.Millisecond)
	// Reload: "a" removed, "b" is now id 0, "c" id 1.
	res(2, 0, "b", time.Millisecond)
	res(2, 1, "c", time.Millisecond)
	res(2, 0, "b", time.Millisecond)
	want := map[string]uint64{"a": 2, "b": 3, "c": 1}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]uint64{}
		if mf := parse(t, s)[Name]; mf != nil {
			for _, m := range mf.Metric {
				got[labelsOf(m)["host"]] = m.GetHistogram().GetSampleCount()
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("samples per host %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestWindowFull: a window count at 2^32−1 moves the series' counts to
// the dense array (64-bit) instead of wrapping, and nothing is lost; a
// series is 32 bytes (half a cache line), without pointers (it lives
// outside the Go heap).
func TestWindowFull(t *testing.T) {
	if n := unsafe.Sizeof(series{}); n != 32 {
		t.Errorf("series is %d bytes, want 32", n)
	}
	if offheap.HasPointers(reflect.TypeFor[series]()) {
		t.Error("series holds pointers")
	}
	s := New(Config{Buckets: config.DefaultRTTBuckets})
	s.Observe("h", "icmp", obs.KindICMP, time.Millisecond)
	sr := &s.byName[key{"h", "icmp"}].series
	b := sort.SearchFloat64s(config.DefaultRTTBuckets, 0.001)
	i := b - sr.lo()
	sr.win[i].Store(math.MaxUint32 - 1)
	s.Observe("h", "icmp", obs.KindICMP, time.Millisecond) // reaches 2^32−1 in the window
	if denseCounts(s.auxOf(sr)) != nil {
		t.Fatal("moved to dense before the window count was full")
	}
	s.Observe("h", "icmp", obs.KindICMP, time.Millisecond) // would wrap
	if denseCounts(s.auxOf(sr)) == nil {
		t.Fatal("a full window count did not move the series to dense")
	}
	got := sr.counts(s.auxOf(sr), nil, len(config.DefaultRTTBuckets)+1)
	if want := uint64(math.MaxUint32) + 1; got[b] != want {
		t.Fatalf("bucket %d: %d, want %d", b, got[b], want)
	}
}

// BenchmarkRemap100k: the Set re-indexing its 100k series when the table
// has a new generation (a reload, or a batch of run-time registrations:
// here one new host appended). Alternates between the two generations;
// each series is placed by comparing its names with the check of its id,
// without a lookup by name.
func BenchmarkRemap100k(b *testing.B) {
	const n = 100_000
	specs := make([]state.HostSpec, n, n+1)
	for i := range specs {
		h := fmt.Sprintf("h%06d", i)
		specs[i] = state.HostSpec{Name: h, Checks: []obs.CheckSpec{{Host: h, Name: "icmp", Kind: obs.KindICMP, Interval: time.Second, Timeout: time.Second}}}
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	v1 := tab.View()
	s := New(Config{Buckets: config.DefaultRTTBuckets, Table: tab})
	for _, c := range v1.Checks() {
		s.observe(v1.Gen, c.ID, c.Spec().Host, c.Spec().Name, obs.KindICMP, time.Millisecond)
	}
	if _, err := tab.Reload(append(specs, state.HostSpec{Name: "new", Checks: []obs.CheckSpec{{Host: "new", Name: "heartbeat", Kind: obs.KindHeartbeat, Interval: time.Second, Timeout: time.Second}}})); err != nil {
		b.Fatal(err)
	}
	v2 := tab.View()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v := v2
		if i%2 == 1 {
			v = v1
		}
		s.mu.Lock()
		s.remap(v)
		s.mu.Unlock()
		i++
	}
	if s.Len() != n || len(s.byName) != 0 {
		b.Fatalf("%d series, %d by name", s.Len(), len(s.byName))
	}
}

// BenchmarkObserve100k is the cost of one result's RTT at 100k checks
// found by table id, visited in a scattered order (as results arrive
// from a large fleet: every series a cache miss), native buckets off.
func BenchmarkObserve100k(b *testing.B) {
	const n = 100_000
	specs := make([]state.HostSpec, n)
	for i := range specs {
		h := fmt.Sprintf("h%06d", i)
		specs[i] = state.HostSpec{Name: h, Checks: []obs.CheckSpec{{Host: h, Name: "icmp", Kind: obs.KindICMP, Interval: time.Second, Timeout: time.Second}}}
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	v := tab.View()
	s := New(Config{Buckets: config.DefaultRTTBuckets, Table: tab})
	hosts := make([]string, n)
	for id := range n {
		hosts[id] = v.Check(id).Host().Name()
		s.observe(v.Gen, id, hosts[id], "icmp", obs.KindICMP, time.Millisecond)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := (i * 7919) % n // a stride of a prime: scattered, every id once per n
		s.observe(v.Gen, id, hosts[id], "icmp", obs.KindICMP, time.Duration(900+i%200)*time.Microsecond)
		i++
	}
}
