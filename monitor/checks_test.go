// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/hbmon/hb/checks"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
)

// TestDaemonChecks: tcp:// and http:// targets lines run through the
// checks source into the table; /metrics carries their RTT histograms with
// the exported label, and /probe is served.
func TestDaemonChecks(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer web.Close()
	ssh, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ssh.Close()
	go func() {
		for {
			c, err := ssh.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-test\r\n"))
			c.Close()
		}
	}()

	cfg := config.DefaultProbe()
	cfg.Checks.Interval = config.Duration(100 * time.Millisecond)
	cfg.Checks.ExportLabels = []string{"role"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(context.Background(), cfg, "", Options{
		Sources: []obs.Source{checks.New(cfg.Checks, nil)},
		NoStore: true,
		Args: []string{
			web.URL + "/health check=status:200 check=body_contains:OK name=web role=frontend",
			"tcp://" + ssh.Addr().String() + " check=banner_contains:SSH- name=db role=database zone=z1",
		},
		Listener: ln,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for {
		_, body = get("/metrics")
		if strings.Contains(body, `hb_check_rtt_seconds_count{host="db",check="tcp:`) &&
			strings.Contains(body, `hb_check_rtt_seconds_count{host="web",check="http:/health",kind="http",role="frontend"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no histograms for both checks:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, want := range []string{`hb_check_phase_seconds{host="web",check="http:/health",kind="http",role="frontend",phase="connect"}`,
		`hb_check_http_status_code{host="web",check="http:/health",kind="http",role="frontend"} 200`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `zone="z1"`) {
		t.Error("zone exported without being configured")
	}
	// A scraper negotiating protobuf gets native buckets (rtt_native_factor
	// defaults to 1.1: schema 3) on the histograms of both checks: counted
	// from its first protobuf scrape on (the checks run every 100 ms, so a
	// later scrape has them).
	native, ct := 0, ""
	for deadline := time.Now().Add(20 * time.Second); native < 2 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		native, ct = protoNative(t, base)
	}
	if native < 2 {
		t.Errorf("protobuf /metrics: %d native histograms, want both checks' (Content-Type %q)", native, ct)
	}
	if code, st := get("/api/v1/hosts/web/state"); code != 200 || strings.TrimSpace(st) != "up" {
		t.Errorf("web state %d %q", code, st)
	}
	if code, st := get("/api/v1/hosts/db/state"); code != 200 || strings.TrimSpace(st) != "up" {
		t.Errorf("db state %d %q", code, st)
	}
	if code, pr := get("/probe?module=http&target=" + web.URL + "/"); code != 200 || !strings.Contains(pr, "probe_success 1") {
		t.Errorf("/probe %d:\n%s", code, pr)
	}
	// module=icmp: a one-shot prober engine; loopback answers echo.
	code, pr := get("/probe?module=icmp&target=127.0.0.1")
	switch {
	case code == 200 && strings.Contains(pr, "probe_success 1") && strings.Contains(pr, `probe_icmp_duration_seconds{phase="rtt"}`):
	case code == 200 && strings.Contains(pr, "operation not permitted"):
		t.Logf("icmp module: no ICMP socket here (%s)", pr)
	default:
		t.Errorf("/probe icmp %d:\n%s", code, pr)
	}
}

// TestTargetsCheckOptions: a bad tcp/http option is an error naming the
// line when the targets load.
func TestTargetsCheckOptions(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"http://127.0.0.1/ check=status:999", "args:2: check \"status:999\": bad status code"},
		{"tcp://127.0.0.1:22 check=body_contains:x", "args:2: check \"body_contains:x\": body_contains applies to http checks only"},
		{"https://127.0.0.1/ method=BREW", "args:2: method \"BREW\""},
		{"tcp://127.0.0.1:22 ip=5", "args:2: ip \"5\""},
	} {
		_, err := New(context.Background(), config.DefaultProbe(), "", Options{
			Sources: []obs.Source{checks.New(config.DefaultChecks(), nil)}, NoStore: true,
			Args: []string{"127.0.0.1 name=lo", tc.line},
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.line, err, tc.want)
		}
	}
}

// protoNative scrapes /metrics in the protobuf exposition and returns how
// many hb_check_rtt_seconds series carry native buckets (schema 3) whose
// total is the sample count, and the Content-Type.
func protoNative(t *testing.T, base string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,text/plain;version=0.0.4;q=0.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := bytes.NewReader(pb)
	native := 0
	for {
		mf := &dto.MetricFamily{}
		if err := protodelim.UnmarshalFrom(r, mf); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("protobuf /metrics: %v", err)
			}
			break
		}
		if mf.GetName() != "hb_check_rtt_seconds" {
			continue
		}
		for _, m := range mf.Metric {
			var sum int64
			var c int64
			for _, d := range m.Histogram.PositiveDelta {
				c += d
				sum += c
			}
			if m.Histogram.GetSchema() == 3 && sum > 0 && uint64(sum) == m.Histogram.GetSampleCount() {
				native++
			}
		}
	}
	return native, resp.Header.Get("Content-Type")
}
