// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/rtthist"
	"github.com/hbmon/hb/state"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// promQuery runs an instant query against Prometheus' HTTP API and returns
// the result vector as label sets with values.
func promQuery(t *testing.T, base, q string) []map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		return nil
	}
	var out []map[string]string
	for _, s := range r.Data.Result {
		m := s.Metric
		m["__value__"] = fmt.Sprint(s.Value[1])
		out = append(out, m)
	}
	return out
}

// TestRealPrometheus: a real Prometheus (Debian prometheus) scrapes
// hb-probe's /probe through the blackbox multi-target relabel
// configuration, and its /metrics with the RTT histogram and exported
// labels; the results are read back through Prometheus' query API.
func TestRealPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian prometheus; scripts/install-deps.sh installs it)")
	}
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer web.Close()
	ssh := bannerServer(t, "SSH-2.0-x\r\n")
	refused := refusedPort(t)

	// hb-probe's API: /probe plus /metrics with a table, the histogram
	// and export_labels = ["role"].
	table, err := state.New([]state.HostSpec{
		{Name: "web1", Addr: netip.MustParseAddr("127.0.0.1"), Labels: state.LabelsFromMap(map[string]string{"role": "web", "zone": "z1"})},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	table.Apply(0, state.Observation{At: time.Now(), Outcome: state.OK, RTT: time.Millisecond})
	cfg := config.DefaultChecks()
	cfg.ExportLabels = []string{"role"}
	hist := rtthist.New(rtthist.Config{Buckets: cfg.RTTBuckets, ExportLabels: cfg.ExportLabels,
		Labels: func(h string) []string { v, _ := table.View().Lookup(h).Spec().Labels.Get("role"); return []string{v} }})
	for _, d := range []time.Duration{300 * time.Microsecond, 2 * time.Millisecond, 7 * time.Millisecond} {
		hist.Observe("web1", "icmp", obs.KindICMP, d)
	}
	srv, err := api.New(api.Config{Routes: []api.Route{NewProbeRoute(cfg, nil, nil).Route()}, ExportLabels: cfg.ExportLabels,
		Collectors: []io.WriterTo{hist}}, table, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hb := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeListener(ctx, ln)

	dir := t.TempDir()
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: hb-probe
    static_configs:
      - targets: ['%[1]s']
        labels: {location: lab}
  - job_name: hb-probe-http
    metrics_path: /probe
    params:
      module: [http]
    static_configs:
      - targets: ['%[2]s/', '%[3]s']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: '%[1]s'
  - job_name: hb-probe-tcp
    metrics_path: /probe
    params:
      module: [tcp]
      check: ['banner_contains:SSH-']
    static_configs:
      - targets: ['%[4]s']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: '%[1]s'
`, hb, web.URL, "http://"+hostPort(refused)+"/", hostPort(ssh))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
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

	wait := func(q string, ok func([]map[string]string) bool) []map[string]string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			r := promQuery(t, base, q)
			if ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("query %s: %v", q, r)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	// Multi-target: one series per target, instance = the target.
	wait(`probe_success{job="hb-probe-http"}`, func(r []map[string]string) bool {
		got := map[string]string{}
		for _, m := range r {
			got[m["instance"]] = m["__value__"]
		}
		return got[web.URL+"/"] == "1" && got["http://"+hostPort(refused)+"/"] == "0"
	})
	wait(`probe_http_status_code{job="hb-probe-http",instance="`+web.URL+`/"}`, func(r []map[string]string) bool {
		return len(r) == 1 && r[0]["__value__"] == "200"
	})
	wait(`probe_tcp_duration_seconds{job="hb-probe-tcp",phase="banner"} > 0 and on(instance) probe_success == 1`, func(r []map[string]string) bool {
		return len(r) == 1 && r[0]["instance"] == hostPort(ssh)
	})
	wait(`up{job=~"hb-probe.*"}`, func(r []map[string]string) bool {
		for _, m := range r {
			if m["__value__"] != "1" {
				return false
			}
		}
		return len(r) == 4
	})
	// /metrics: exported label on per-host series, histogram usable by
	// histogram_quantile, and zone (not exported) absent.
	r := wait(`hb_host_up{role="web"}`, func(r []map[string]string) bool { return len(r) == 1 })
	if _, ok := r[0]["zone"]; ok || r[0]["host"] != "web1" || r[0]["location"] != "lab" {
		t.Fatalf("hb_host_up labels %v", r[0])
	}
	wait(`hb_check_rtt_seconds_count{host="web1",check="icmp",role="web"}`, func(r []map[string]string) bool {
		return len(r) == 1 && r[0]["__value__"] == "3"
	})
	r = wait(`histogram_quantile(0.5, hb_check_rtt_seconds_bucket{host="web1"})`, func(r []map[string]string) bool { return len(r) == 1 })
	// The median of 0.3, 2 and 7 ms lies in the (1 ms, 2.5 ms] bucket.
	var med float64
	fmt.Sscan(r[0]["__value__"], &med)
	if med <= 0.001 || med > 0.0025 {
		t.Fatalf("median %v outside (1ms, 2.5ms]", med)
	}
}
