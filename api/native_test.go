// SPDX-License-Identifier: MIT

package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/promtext"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/rtthist"
	"github.com/hbmon/hb/state"
)

// protoAccept is the Accept header Prometheus sends with native
// histograms on.
const protoAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.1"

// nativeServer serves the API on loopback with one host and the RTT
// histogram (native buckets at schema 3) as a Collector.
func nativeServer(t *testing.T) (string, *rtthist.Set) {
	t.Helper()
	table, err := state.New([]state.HostSpec{
		{Name: "web1", Addr: netip.MustParseAddr("127.0.0.1")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	table.Apply(0, state.Observation{At: time.Now(), Outcome: state.OK, RTT: time.Millisecond})
	hist := rtthist.New(rtthist.Config{Buckets: config.DefaultRTTBuckets, NativeFactor: 1.1})
	srv, err := New(Config{Collectors: []io.WriterTo{hist}}, table, nil, engineStats)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.ServeListener(ctx, ln)
	return ln.Addr().String(), hist
}

func getMetrics(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestMetricsProto: /metrics answers the delimited protobuf exposition to
// a scraper that negotiates it, with the same families and series as the
// text format and native buckets on hb_check_rtt_seconds whose decoded
// counts match the RTTs observed; any other Accept gets the text format.
func TestMetricsProto(t *testing.T) {
	addr, hist := nativeServer(t)
	url := "http://" + addr + "/metrics"
	// Native buckets count from the first protobuf scrape on.
	getMetrics(t, url, protoAccept)
	rtts := map[time.Duration]int{300 * time.Microsecond: 3, 2 * time.Millisecond: 5, 7 * time.Millisecond: 2}
	for d, n := range rtts {
		for range n {
			hist.Observe("web1", "icmp", obs.KindICMP, d)
		}
	}

	for _, accept := range []string{"", "text/plain", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"} {
		resp, body := getMetrics(t, url, accept)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Fatalf("Accept %q: Content-Type %q", accept, ct)
		}
		if !strings.Contains(string(body), "hb_check_rtt_seconds_bucket{") {
			t.Fatalf("Accept %q: no histogram in the text", accept)
		}
	}
	_, text := getMetrics(t, url, "")
	p := expfmt.NewTextParser(model.LegacyValidation)
	want, err := p.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		t.Fatal(err)
	}

	resp, body := getMetrics(t, url, protoAccept)
	if ct := resp.Header.Get("Content-Type"); ct != promtext.ProtoContentType {
		t.Fatalf("Content-Type %q", ct)
	}
	got := map[string]*dto.MetricFamily{}
	r := strings.NewReader(string(body))
	for {
		mf := &dto.MetricFamily{}
		if err := protodelim.UnmarshalFrom(r, mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if got[mf.GetName()] != nil {
			t.Fatalf("family %s sent twice", mf.GetName())
		}
		got[mf.GetName()] = mf
	}
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("family %s missing from the protobuf answer", name)
			continue
		}
		if g.GetType() != w.GetType() || len(g.Metric) != len(w.Metric) {
			t.Errorf("%s: type %v with %d series, text has %v with %d", name, g.GetType(), len(g.Metric), w.GetType(), len(w.Metric))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d families in protobuf, %d in text", len(got), len(want))
	}
	if v := got["hb_build_info"]; v == nil || v.Metric[0].GetGauge().GetValue() != 1 {
		t.Errorf("hb_build_info: %v", v)
	}

	mf := got[rtthist.Name]
	if mf == nil || len(mf.Metric) != 1 {
		t.Fatalf("histogram family: %v", mf)
	}
	h := mf.Metric[0].Histogram
	if h.GetSchema() != 3 || h.GetSampleCount() != 10 || len(h.Bucket) != len(config.DefaultRTTBuckets)+1 { // with +Inf
		t.Fatalf("schema %d, count %d, %d classic buckets", h.GetSchema(), h.GetSampleCount(), len(h.Bucket))
	}
	if want := 3*0.0003 + 5*0.002 + 2*0.007; math.Abs(h.GetSampleSum()-want) > 1e-12 {
		t.Fatalf("sum %g, want %g", h.GetSampleSum(), want)
	}
	// Decode spans and deltas: each RTT's native bucket holds its count.
	counts := map[int32]int64{}
	var idx int32
	var c int64
	d := 0
	for i, sp := range h.PositiveSpan {
		if i == 0 {
			idx = sp.GetOffset()
		} else {
			idx += sp.GetOffset()
		}
		for range sp.GetLength() {
			c += h.PositiveDelta[d]
			d++
			counts[idx] = c
			idx++
		}
	}
	if len(counts) != len(rtts) {
		t.Fatalf("native buckets %v, want %d", counts, len(rtts))
	}
	for rtt, n := range rtts {
		if i := rtthist.NativeIndex(rtt.Seconds(), 3); counts[i] != int64(n) {
			t.Errorf("RTT %v: native bucket %d holds %d, want %d", rtt, i, counts[i], n)
		}
	}
}

// promQueryValue runs an instant query on Prometheus and returns the
// first sample's value; ok is false without one.
func promQueryValue(base, q string) (float64, bool) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct{ Result []struct{ Value [2]any } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// TestRealPrometheusNative: a real Prometheus (Debian prometheus, native
// histograms on) scrapes /metrics, negotiates the protobuf exposition and
// stores hb_check_rtt_seconds as a native histogram: histogram_count,
// histogram_sum and histogram_quantile give the RTTs observed after its
// first scrape (native buckets count from the first protobuf scrape on),
// and follow the RTTs observed after the next scrapes.
func TestRealPrometheusNative(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian prometheus; scripts/install-deps.sh installs it)")
	}
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	addr, hist := nativeServer(t)
	observe := func(d time.Duration, n int) {
		for range n {
			hist.Observe("web1", "icmp", obs.KindICMP, d)
		}
	}
	dir := t.TempDir()
	promCfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: hb-probe\n    static_configs:\n      - targets: ['%s']\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn", "--enable-feature=native-histograms")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	wait := func(q string, ok func(float64) bool) float64 {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			v, found := promQueryValue(base, q)
			if found && ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("query %s: %v (found %v)", q, v, found)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	sel := `hb_check_rtt_seconds{job="hb-probe",host="web1",check="icmp"}`
	// Native buckets count from the first protobuf scrape on: the RTTs
	// come once Prometheus (which asks for protobuf) has scraped.
	wait(`hb_build_info{job="hb-probe"}`, func(v float64) bool { return v == 1 })
	observe(300*time.Microsecond, 30)
	observe(2*time.Millisecond, 41)
	observe(7*time.Millisecond, 30)
	wait("histogram_count("+sel+")", func(v float64) bool { return v == 101 })
	sum := 30*0.0003 + 41*0.002 + 30*0.007
	wait("histogram_sum("+sel+")", func(v float64) bool { return math.Abs(v-sum) < 1e-9 })
	// The median (51st RTT) is 2 ms: the answer lies in 2 ms's native
	// bucket, at most a factor 2^(1/8) away.
	q := wait("histogram_quantile(0.5, "+sel+")", func(v float64) bool { return v > 0 })
	if f := math.Exp2(1.0 / 8); q < 0.002/f || q > 0.002*f {
		t.Fatalf("median %g, want 2 ms within a factor %g", q, f)
	}
	// Only the native series is stored for the family (no _bucket series).
	if v, ok := promQueryValue(base, `count(hb_check_rtt_seconds_bucket)`); ok {
		t.Errorf("classic buckets stored too: %v", v)
	}
	// Other families came through the protobuf exposition as well.
	wait(`hb_build_info{job="hb-probe"}`, func(v float64) bool { return v == 1 })
	wait(`hb_host_up{job="hb-probe",host="web1"}`, func(float64) bool { return true })

	// New RTTs show at the next scrapes: 100 more at 7 ms move the median
	// into 7 ms's bucket.
	observe(7*time.Millisecond, 100)
	wait("histogram_count("+sel+")", func(v float64) bool { return v == 201 })
	q = wait("histogram_quantile(0.5, "+sel+")", func(v float64) bool { return v > 0.004 })
	if f := math.Exp2(1.0 / 8); q < 0.007/f || q > 0.007*f {
		t.Fatalf("median after 100 × 7 ms: %g, want 7 ms within a factor %g", q, f)
	}
}

// TestMetricsProtoOff: without native buckets (rtt_native_factor = 0)
// /metrics answers in text even to a scraper asking for protobuf.
func TestMetricsProtoOff(t *testing.T) {
	table, err := state.New([]state.HostSpec{{Name: "web1", Addr: netip.MustParseAddr("127.0.0.1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hist := rtthist.New(rtthist.Config{Buckets: config.DefaultRTTBuckets})
	hist.Observe("web1", "icmp", obs.KindICMP, time.Millisecond)
	srv, err := New(Config{Collectors: []io.WriterTo{hist}}, table, nil, engineStats)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeListener(ctx, ln)
	resp, body := getMetrics(t, "http://"+ln.Addr().String()+"/metrics", protoAccept)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") || !strings.Contains(string(body), "hb_check_rtt_seconds_bucket{") {
		t.Fatalf("Content-Type %q", ct)
	}
}
