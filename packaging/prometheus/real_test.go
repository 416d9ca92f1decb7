// SPDX-License-Identifier: MIT

package prometheus

import (
	"context"
	"encoding/json"
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

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/rtthist"
	"github.com/hbmon/hb/state"
)

// queryValue runs an instant query and returns the first sample's value;
// ok is false without one (or when it is not a number).
func queryValue(base, q string) (float64, bool) {
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
	return v, err == nil && !math.IsNaN(v)
}

// queryCount runs an instant query and returns how many series it gave
// (float samples or native histograms alike); -1 on an error.
func queryCount(base, q string) int {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct{ Result []json.RawMessage }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		return -1
	}
	return len(r.Data.Result)
}

// heatmapQueries returns the queries of the dashboard's RTT heatmap,
// template variables substituted.
func heatmapQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("hb-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, p := range d.Panels {
		if p.Type != "heatmap" {
			continue
		}
		for _, tg := range p.Targets {
			qs = append(qs, strings.NewReplacer("$host", "web1", "$__rate_interval", "1m").Replace(tg.Expr))
		}
	}
	if len(qs) != 2 {
		t.Fatalf("heatmap queries %q, want the classic and the native one", qs)
	}
	return qs
}

// TestRealPrometheusRecordingRules: a real Prometheus (Debian prometheus,
// the 2.42 of bookworm here) loads the shipped hb-rules.yml, scrapes an
// hb API serving hb_check_rtt_seconds (classic buckets plus native
// buckets, the daemon's default), and evaluates the RTT quantile
// recording rules to the RTTs observed: with native histograms on
// (Prometheus negotiates protobuf and, before 2.45, keeps only the native
// series, no _bucket) and off (text, classic buckets only). The
// dashboard's RTT heatmap gives one of its two queries' data: the native
// histogram, or the classic buckets when there is none.
func TestRealPrometheusRecordingRules(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian prometheus; scripts/install-deps.sh installs it)")
	}
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	rules, err := filepath.Abs("hb-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, native := range []bool{true, false} {
		t.Run(fmt.Sprintf("native=%v", native), func(t *testing.T) {
			realRules(t, bin, rules, native)
		})
	}
}

func realRules(t *testing.T, bin, rules string, native bool) {
	table, err := state.New([]state.HostSpec{{Name: "web1", Addr: netip.MustParseAddr("127.0.0.1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	table.Apply(0, state.Observation{At: time.Now(), Outcome: state.OK, RTT: time.Millisecond})
	hist := rtthist.New(rtthist.Config{Buckets: config.DefaultRTTBuckets, NativeFactor: config.DefaultChecks().RTTNativeFactor})
	srv, err := api.New(api.Config{Collectors: []io.WriterTo{hist}}, table, nil, nil)
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

	// RTTs keep coming (rate() needs an increase in its window): per
	// round 3 × 0.3 ms, 4 × 2 ms, 3 × 7 ms, so the median is 2 ms and
	// the p99 7 ms.
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range 3 {
				hist.Observe("web1", "icmp", obs.KindICMP, 300*time.Microsecond)
				hist.Observe("web1", "icmp", obs.KindICMP, 7*time.Millisecond)
			}
			for range 4 {
				hist.Observe("web1", "icmp", obs.KindICMP, 2*time.Millisecond)
			}
		}
	}()

	dir := t.TempDir()
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: ['%s']
scrape_configs:
  - job_name: hb-probe
    static_configs:
      - targets: ['%s']
        labels: {location: lab}
`, rules, ln.Addr())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	args := []string{"--config.file=" + filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn"}
	if native {
		args = append(args, "--enable-feature=native-histograms")
	}
	cmd := exec.Command(bin, args...)
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
	wait := func(q string) float64 {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			if v, ok := queryValue(base, q); ok {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("query %s: no value", q)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	wait(`hb_build_info{job="hb-probe"}`)
	// What Prometheus stored: the native series alone, or the classic
	// _bucket series alone.
	_, hasNative := queryValue(base, `histogram_count(hb_check_rtt_seconds{host="web1"})`)
	_, hasClassic := queryValue(base, `count(hb_check_rtt_seconds_bucket{host="web1"})`)
	if hasClassic == native {
		t.Errorf("classic _bucket series stored: %v, want %v", hasClassic, !native)
	}
	p50 := wait(`hb:check_rtt_seconds:p50_5m{host="web1",check="icmp"}`)
	p99 := wait(`hb:check_rtt_seconds:p99_5m{host="web1",check="icmp"}`)
	_, hasNative = queryValue(base, `histogram_count(hb_check_rtt_seconds{host="web1"})`)
	if hasNative != native {
		t.Errorf("native series stored: %v, want %v", hasNative, native)
	}
	// Native buckets (schema 3) put the answer within a factor 2^(1/8)
	// of the RTT; classic ones somewhere in the bucket holding it.
	lo50, hi50, lo99, hi99 := 0.001, 0.0025, 0.005, 0.01
	if native {
		f := math.Exp2(1.0 / 8)
		lo50, hi50, lo99, hi99 = 0.002/f, 0.002*f, 0.007/f, 0.007*f
	}
	if p50 < lo50 || p50 > hi50 {
		t.Errorf("p50 %g, want in [%g, %g]", p50, lo50, hi50)
	}
	if p99 < lo99 || p99 > hi99 {
		t.Errorf("p99 %g, want in [%g, %g]", p99, lo99, hi99)
	}
	hm := heatmapQueries(t)
	classic, nat := queryCount(base, hm[0]), queryCount(base, hm[1])
	if native && (classic != 0 || nat != 1) || !native && (classic != len(config.DefaultRTTBuckets)+1 || nat != 0) {
		t.Errorf("heatmap: %d classic bucket series, %d native histograms (native %v)", classic, nat, native)
	}
}
