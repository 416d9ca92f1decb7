// SPDX-License-Identifier: MIT

package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

var now0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type fakeHistory struct {
	gotHost  string
	gotFrom  time.Time
	gotTo    time.Time
	gotLimit int
}

func (f *fakeHistory) History(_ context.Context, host string, from, to time.Time) (History, error) {
	f.gotHost, f.gotFrom, f.gotTo = host, from, to
	avg := 0.0012
	return History{
		Rollups: []Rollup{{Minute: from, Probes: 60, Losses: 1, RTTAvgSec: &avg}},
		Changes: []StateChange{{At: from.Add(time.Minute), From: "up", To: "degraded"}},
	}, nil
}

func (f *fakeHistory) Problems(_ context.Context, from, to time.Time, limit int) ([]Problem, error) {
	f.gotFrom, f.gotTo, f.gotLimit = from, to, limit
	t, c := 3, 1
	return []Problem{{At: to.Add(-time.Second), Host: "db1", Kind: "icmp", ICMPType: &t, ICMPCode: &c, Detail: "host unreachable"}}, nil
}

func engineStats() EngineStats {
	return EngineStats{Mode: "raw", Sent: 1000, Received: 990, Timeouts: 8, ICMPErrors: 2, HealthOK: 900, HealthBad: 3}
}

// icmp is the one check of an address line of the targets.
func icmp(a netip.Addr) []obs.CheckSpec {
	return []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP, Addr: a, Target: a.String()}}
}

// fixture: web1 up with a health blob, db1 down after an ICMP error,
// new1 unknown, "a b" up (a name that needs escaping in a URL).
func fixture(t testing.TB) *state.Table {
	specs := []state.HostSpec{
		{Name: "web1", Addr: netip.MustParseAddr("198.18.0.1"), Checks: icmp(netip.MustParseAddr("198.18.0.1")), Labels: state.LabelsFromMap(map[string]string{"role": "web", "zone": "a"})},
		{Name: "db1", Addr: netip.MustParseAddr("198.18.0.2"), Checks: icmp(netip.MustParseAddr("198.18.0.2")), Labels: state.LabelsFromMap(map[string]string{"role": "db"})},
		{Name: "new1", Addr: netip.MustParseAddr("2001:2::3"), Checks: icmp(netip.MustParseAddr("2001:2::3"))},
		{Name: `a"b`, Addr: netip.MustParseAddr("198.18.0.4"), Checks: icmp(netip.MustParseAddr("198.18.0.4")), Labels: state.LabelsFromMap(map[string]string{"role": "web"})},
	}
	tab, err := state.New(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &wire.Health{CollectedAt: now0.Add(-2 * time.Second).UnixNano(), CPUBusy: 250, MemTotal: 1000, MemAvailable: 400, RootTotal: 100, RootUsed: 25, Load1: 1500}
	h.SetHostname("web1.example")
	apply := func(id int, o state.Observation) {
		if _, err := tab.Apply(id, o); err != nil {
			t.Fatal(err)
		}
	}
	apply(0, state.Observation{At: now0.Add(-3 * time.Second), Outcome: state.OK, RTT: 2 * time.Millisecond, Method: obs.MethodKernelTxRx})
	apply(0, state.Observation{At: now0.Add(-time.Second), Outcome: state.OK, RTT: 4 * time.Millisecond, Method: obs.MethodKernelTxRx, Health: *h, HasHealth: true})
	apply(1, state.Observation{At: now0.Add(-time.Second), Outcome: state.Error, ICMPType: 3, ICMPCode: 1, From: netip.MustParseAddr("198.18.0.254")})
	apply(3, state.Observation{At: now0.Add(-time.Second), Outcome: state.OK, RTT: time.Millisecond, HBM2: &wire.HBM2{Timestamp: float64(now0.Unix() - 5), CPUPercent: 50, MemPercent: 20, MemAvailMB: 100, DiskPercent: 70}})
	return tab
}

type harness struct {
	t    testing.TB
	srv  *Server
	hist *fakeHistory
	cli  *fasthttp.Client
	ln   *fasthttputil.InmemoryListener
	base string
}

// getRaw sends GET path exactly as written (fasthttp's client decodes
// escapes such as %2F in the path) and returns the status and body.
func (h *harness) getRaw(path string) (int, []byte) {
	h.t.Helper()
	c, err := h.ln.Dial()
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hb\r\nConnection: close\r\n\r\n", path); err != nil {
		h.t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...)
}

func newHarness(t testing.TB, cfg Config) *harness {
	cfg.Now = func() time.Time { return now0 }
	hist := &fakeHistory{}
	srv, err := New(cfg, fixture(t), hist, engineStats)
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	cli := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	return &harness{t: t, srv: srv, hist: hist, cli: cli, ln: ln, base: "http://hb"}
}

func (h *harness) do(method, path, token string) (int, []byte, *fasthttp.ResponseHeader) {
	h.t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(h.base + path)
	req.Header.SetMethod(method)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if err := h.cli.DoTimeout(req, resp, 10*time.Second); err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	var hdr fasthttp.ResponseHeader
	resp.Header.CopyTo(&hdr)
	body := append([]byte(nil), resp.Body()...)
	code := resp.StatusCode()
	fasthttp.ReleaseResponse(resp)
	return code, body, &hdr
}

func (h *harness) getJSON(path string, v any) {
	h.t.Helper()
	code, body, hdr := h.do("GET", path, "")
	if code != 200 {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if ct := string(hdr.ContentType()); ct != "application/json" {
		h.t.Errorf("GET %s: content type %q", path, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		h.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, Config{Version: "1.2.3"})
	var got map[string]any
	h.getJSON("/healthz", &got)
	if got["ok"] != true || got["mode"] != "raw" || got["hosts"] != 4.0 || got["version"] != "1.2.3" {
		t.Errorf("healthz %v", got)
	}
}

func TestFleetStateAndStatus(t *testing.T) {
	h := newHarness(t, Config{})
	var st map[string]string
	h.getJSON("/state", &st)
	want := map[string]string{"web1": "up", "db1": "down", "new1": "unknown", `a"b`: "up"}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("/state %v, want %v", st, want)
	}
	var status map[string]pingStatusJSON
	h.getJSON("/status", &status)
	db := status["db1"]
	if db.State != "down" || db.LastEvent == nil || *db.LastEvent != "fail" || db.LastDetail == nil ||
		*db.LastDetail != "host unreachable from 198.18.0.254" || db.Transitions != 1 || db.Recent != nil {
		t.Errorf("/status db1 %+v", db)
	}
	if n := status["new1"]; n.State != "unknown" || n.LastEvent != nil || n.LastCheckTS != nil {
		t.Errorf("/status new1 %+v", n)
	}
}

func TestHostEndpoints(t *testing.T) {
	h := newHarness(t, Config{})
	code, body, hdr := h.do("GET", "/api/v1/hosts/web1/state", "")
	if code != 200 || string(body) != "up\n" || !strings.HasPrefix(string(hdr.ContentType()), "text/plain") {
		t.Errorf("host state: %d %q", code, body)
	}
	code, body, _ = h.do("GET", "/api/v1/hosts/a%22b/state", "")
	if code != 200 || string(body) != "up\n" {
		t.Errorf("escaped name: %d %q", code, body)
	}
	var ps pingStatusJSON
	h.getJSON("/api/v1/hosts/web1/status", &ps)
	if ps.State != "up" || len(ps.Recent) != 2 || ps.Recent[1].Event != "ok" || ps.LastLatencyMS == nil ||
		*ps.LastLatencyMS != 4 || *ps.LastCheckAge != 1 || ps.UptimeInState != 3 || ps.Probe != "icmp 198.18.0.1" {
		t.Errorf("host status %+v", ps)
	}
	// ICMP errors in the recent ring carry obs.ICMPText's words, as problems do.
	var dps pingStatusJSON
	h.getJSON("/api/v1/hosts/db1/status", &dps)
	if len(dps.Recent) == 0 || dps.Recent[len(dps.Recent)-1].Detail == nil || *dps.Recent[len(dps.Recent)-1].Detail != "host unreachable" {
		t.Errorf("db1 recent %+v", dps.Recent)
	}
	var hj hostJSON
	h.getJSON("/api/v1/hosts/web1", &hj)
	if hj.Name != "web1" || hj.Addr != "198.18.0.1" || hj.Labels["zone"] != "a" || hj.State != "up" ||
		hj.Probes != 2 || *hj.RTT.Min != 0.002 || *hj.RTT.Max != 0.004 || *hj.RTT.Avg != 0.003 || len(hj.Recent) != 2 {
		t.Errorf("host %+v", hj)
	}
	if hj.Health == nil || hj.Health.Hostname != "web1.example" || hj.Health.CPUBusy != 0.25 || hj.Health.AgeSeconds != 2 || hj.Health.Load1 != 1.5 {
		t.Errorf("health %+v", hj.Health)
	}
	h.getJSON("/api/v1/hosts/a%22b", &hj)
	if hj.HBM2 == nil || hj.HBM2.CPUBusy != 0.5 || hj.HBM2.AgeSeconds != 5 {
		t.Errorf("hbm2 %+v", hj.HBM2)
	}
	h.getJSON("/api/v1/hosts/db1", &hj)
	if hj.State != "down" || hj.Recent[0].ICMPType == nil || *hj.Recent[0].ICMPType != 3 || hj.RTT.Min != nil {
		t.Errorf("db1 %+v", hj)
	}
}

func TestHostsFilterAndPaging(t *testing.T) {
	h := newHarness(t, Config{})
	names := func(q string) (int, string) {
		var out hostsJSON
		h.getJSON("/api/v1/hosts"+q, &out)
		var ns []string
		for _, x := range out.Hosts {
			ns = append(ns, x.Name)
		}
		return out.Total, strings.Join(ns, ",")
	}
	tests := []struct {
		q     string
		total int
		names string
	}{
		{"", 4, `web1,db1,new1,a"b`},
		{"?state=up", 2, `web1,a"b`},
		{"?state=down,unknown", 2, "db1,new1"},
		{"?state=down&state=up", 3, `web1,db1,a"b`},
		{"?label=role:web", 2, `web1,a"b`},
		{"?label=role:web&label=zone:a", 1, "web1"},
		{"?label=zone", 1, "web1"},
		{"?label=role:db&state=down", 1, "db1"},
		{"?label=role:db&state=up", 0, ""},
		{"?limit=2", 4, "web1,db1"},
		{"?limit=2&offset=2", 4, `new1,a"b`},
		{"?offset=9", 4, ""},
		{"?state=up&limit=1&offset=1", 2, `a"b`},
	}
	for _, tt := range tests {
		total, got := names(tt.q)
		if total != tt.total || got != tt.names {
			t.Errorf("%s: total %d %q, want %d %q", tt.q, total, got, tt.total, tt.names)
		}
	}
}

func TestHistoryAndProblems(t *testing.T) {
	h := newHarness(t, Config{})
	var hist historyJSON
	h.getJSON("/api/v1/hosts/web1/history?from=2026-03-04T04:00:00Z&to=2026-03-04T05:00:00Z", &hist)
	from := time.Date(2026, 3, 4, 4, 0, 0, 0, time.UTC)
	if h.hist.gotHost != "web1" || !h.hist.gotFrom.Equal(from) || !h.hist.gotTo.Equal(from.Add(time.Hour)) {
		t.Errorf("history called with %s %v %v", h.hist.gotHost, h.hist.gotFrom, h.hist.gotTo)
	}
	if len(hist.Rollups) != 1 || hist.Rollups[0].Probes != 60 || len(hist.Changes) != 1 || hist.Changes[0].To != "degraded" {
		t.Errorf("history %+v", hist)
	}
	// Defaults: the last hour.
	h.getJSON("/api/v1/hosts/web1/history", &hist)
	if !h.hist.gotTo.Equal(now0) || !h.hist.gotFrom.Equal(now0.Add(-time.Hour)) {
		t.Errorf("default range %v..%v", h.hist.gotFrom, h.hist.gotTo)
	}
	var pr problemsJSON
	h.getJSON("/api/v1/problems?limit=5", &pr)
	if h.hist.gotLimit != 5 || len(pr.Stored) != 1 || *pr.Stored[0].ICMPType != 3 || len(pr.Current) != 1 || pr.Current[0].Host != "db1" {
		t.Errorf("problems %+v", pr)
	}
}

func TestSummary(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.rate.sample(now0, 0)
	h.srv.rate.sample(now0.Add(5*time.Second), 1000)
	var s summaryJSON
	h.getJSON("/api/v1/summary", &s)
	if s.Hosts != 4 || s.States["up"] != 2 || s.States["down"] != 1 || s.States["unknown"] != 1 || s.States["degraded"] != 0 ||
		s.Probes.PerSecond != 200 || s.Probes.Sent != 1000 || s.Mode != "raw" {
		t.Errorf("summary %+v", s)
	}
}

func TestErrors(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		method, path string
		code         int
	}{
		{"GET", "/nope", 404},
		{"GET", "/api/v1/hosts/nobody", 404},
		{"GET", "/api/v1/hosts/nobody/state", 404},
		{"GET", "/api/v1/hosts/nobody/history", 404},
		{"GET", "/api/v1/hosts/web1/other", 404},
		{"GET", "/api/v1/hosts?state=sideways", 400},
		{"GET", "/api/v1/hosts?label=:x", 400},
		{"GET", "/api/v1/hosts?limit=0", 400},
		{"GET", "/api/v1/hosts?limit=x", 400},
		{"GET", "/api/v1/hosts?limit=10001", 400},
		{"GET", "/api/v1/hosts?offset=-1", 400},
		{"GET", "/api/v1/hosts/web1/history?from=yesterday", 400},
		{"GET", "/api/v1/hosts/web1/history?to=2026-13-01T00:00:00Z", 400},
		{"GET", "/api/v1/hosts/web1/history?from=2026-03-04T05:00:00Z&to=2026-03-04T04:00:00Z", 400},
		{"GET", "/api/v1/problems?limit=-3", 400},
		{"POST", "/state", 405},
		{"DELETE", "/api/v1/hosts/web1", 405},
		{"PUT", "/metrics", 405},
	}
	for _, tt := range tests {
		code, body, hdr := h.do(tt.method, tt.path, "")
		var e errorJSON
		if code != tt.code || json.Unmarshal(body, &e) != nil || e.Error == "" || string(hdr.ContentType()) != "application/json" {
			t.Errorf("%s %s: %d %s, want %d with a JSON error", tt.method, tt.path, code, body, tt.code)
		}
		if code == 405 && string(hdr.Peek("Allow")) != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tt.method, tt.path, hdr.Peek("Allow"))
		}
	}
	// No history source: 503 for history, problems still answer.
	srv, _ := New(Config{}, fixture(t), nil, nil)
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/api/v1/hosts/web1/history")
	srv.Handler(ctx)
	if ctx.Response.StatusCode() != 503 {
		t.Errorf("history without a store: %d", ctx.Response.StatusCode())
	}
	ctx = &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/api/v1/problems")
	srv.Handler(ctx)
	if ctx.Response.StatusCode() != 200 || !bytes.Contains(ctx.Response.Body(), []byte("not configured")) {
		t.Errorf("problems without a store: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

func TestAuth(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "token")
	os.WriteFile(tf, []byte("s3cret\n"), 0o600)
	for _, open := range []bool{false, true} {
		h := newHarness(t, Config{TokenFile: tf, OpenMetrics: open})
		for _, p := range []string{"/healthz", "/state", "/status", "/metrics", "/api/v1/hosts", "/api/v1/hosts/web1", "/api/v1/summary", "/api/v1/problems", "/api/v1/hosts/web1/history"} {
			exempt := p == "/healthz" || (open && p == "/metrics")
			for _, tok := range []string{"", "wrong", "s3cret"} {
				code, _, hdr := h.do("GET", p, tok)
				want := 200
				if tok != "s3cret" && !exempt {
					want = 401
				}
				if code != want {
					t.Errorf("open=%v %s token %q: %d, want %d", open, p, tok, code, want)
				}
				if code == 401 && !strings.HasPrefix(string(hdr.Peek("WWW-Authenticate")), "Bearer") {
					t.Errorf("401 without WWW-Authenticate")
				}
			}
		}
	}
	if _, err := New(Config{TokenFile: filepath.Join(dir, "missing")}, fixture(t), nil, nil); err == nil {
		t.Error("missing token file accepted")
	}
	os.WriteFile(tf, []byte("  \n"), 0o600)
	if _, err := New(Config{TokenFile: tf}, fixture(t), nil, nil); err == nil {
		t.Error("empty token file accepted")
	}
}

func parseMetrics(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams
}

// sample returns the value of family name for the series whose labels
// include want, and whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		ls := map[string]string{}
		for _, l := range m.Label {
			ls[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if ls[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, Config{Version: "v9"})
	code, body, hdr := h.do("GET", "/metrics", "")
	if code != 200 || !strings.HasPrefix(string(hdr.ContentType()), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics %d %s", code, hdr.ContentType())
	}
	fams := parseMetrics(t, body)
	web := map[string]string{"host": "web1", "addr": "198.18.0.1"}
	db := map[string]string{"host": "db1"}
	q := map[string]string{"host": `a"b`}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
		typ    dto.MetricType
	}{
		{"hb_host_up", web, 1, dto.MetricType_GAUGE},
		{"hb_host_up", db, 0, dto.MetricType_GAUGE},
		{"hb_host_state", db, 3, dto.MetricType_GAUGE},
		{"hb_host_state", map[string]string{"host": "new1", "addr": "2001:2::3"}, 0, dto.MetricType_GAUGE},
		{"hb_host_rtt_seconds", web, 0.00225, dto.MetricType_GAUGE}, // EWMA: 2ms + (4-2)/8 ms
		{"hb_host_rtt_stddev_seconds", web, 0.001, dto.MetricType_GAUGE},
		{"hb_host_loss_ratio", db, 1, dto.MetricType_GAUGE},
		{"hb_host_loss_ratio", web, 0, dto.MetricType_GAUGE},
		{"hb_host_probes_total", web, 2, dto.MetricType_COUNTER},
		{"hb_host_failures_total", db, 1, dto.MetricType_COUNTER},
		{"hb_host_transitions_total", db, 1, dto.MetricType_COUNTER},
		{"hb_host_cpu_busy_ratio", web, 0.25, dto.MetricType_GAUGE},
		{"hb_host_cpu_busy_ratio", q, 0.5, dto.MetricType_GAUGE},
		{"hb_host_memory_used_ratio", web, 0.6, dto.MetricType_GAUGE},
		{"hb_host_memory_available_bytes", web, 400, dto.MetricType_GAUGE},
		{"hb_host_memory_available_bytes", q, 100 << 20, dto.MetricType_GAUGE},
		{"hb_host_disk_used_ratio", web, 0.25, dto.MetricType_GAUGE},
		{"hb_host_disk_used_ratio", q, 0.7, dto.MetricType_GAUGE},
		{"hb_host_load1", web, 1.5, dto.MetricType_GAUGE},
		{"hb_host_health_age_seconds", web, 2, dto.MetricType_GAUGE},
		{"hb_host_health_age_seconds", q, 5, dto.MetricType_GAUGE},
		{"hb_hosts", map[string]string{"state": "up"}, 2, dto.MetricType_GAUGE},
		{"hb_hosts", map[string]string{"state": "degraded"}, 0, dto.MetricType_GAUGE},
		{"hb_table_generation", nil, 1, dto.MetricType_GAUGE},
		{"hb_probe_info", map[string]string{"mode": "raw", "version": "v9"}, 1, dto.MetricType_GAUGE},
		{"hb_probes_sent_total", nil, 1000, dto.MetricType_COUNTER},
		{"hb_probe_replies_total", nil, 990, dto.MetricType_COUNTER},
		{"hb_probe_timeouts_total", nil, 8, dto.MetricType_COUNTER},
		{"hb_health_blobs_total", map[string]string{"result": "bad"}, 3, dto.MetricType_COUNTER},
	}
	for _, tt := range tests {
		got, ok := sample(fams, tt.name, tt.labels)
		if !ok {
			t.Errorf("%s%v missing", tt.name, tt.labels)
			continue
		}
		if d := got - tt.want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s%v = %g, want %g", tt.name, tt.labels, got, tt.want)
		}
		if typ := fams[tt.name].GetType(); typ != tt.typ {
			t.Errorf("%s type %v, want %v", tt.name, typ, tt.typ)
		}
	}
	// The table's records off the Go heap: at least this table's (other
	// tables of the test process count too; 0 under the race detector).
	if got, ok := sample(fams, "hb_table_records_bytes", nil); !ok || got < float64(h.srv.table.View().RecordBytes()) {
		t.Errorf("hb_table_records_bytes %g (present %v), this table's %d", got, ok, h.srv.table.View().RecordBytes())
	}
	if _, ok := sample(fams, "hb_host_cpu_busy_ratio", db); ok {
		t.Error("cpu for a host without health")
	}
	if _, ok := sample(fams, "hb_host_rtt_seconds", map[string]string{"host": "new1"}); ok {
		t.Error("rtt for a host never probed")
	}
	// Reload: the label memo follows the new view.
	if _, err := h.srv.table.Reload([]state.HostSpec{{Name: "z1", Addr: netip.MustParseAddr("198.18.1.1"), Checks: icmp(netip.MustParseAddr("198.18.1.1"))}}); err != nil {
		t.Fatal(err)
	}
	_, body, _ = h.do("GET", "/metrics", "")
	fams = parseMetrics(t, body)
	if _, ok := sample(fams, "hb_host_state", map[string]string{"host": "z1"}); !ok || len(fams["hb_host_state"].Metric) != 1 {
		t.Errorf("after reload: %v", fams["hb_host_state"])
	}
}

// TestRealListener runs the server on a TCP socket on 127.0.0.1.
func TestRealListener(t *testing.T) {
	srv, err := New(Config{Token: "t0k"}, fixture(t), &fakeHistory{}, engineStats)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(url + "/api/v1/hosts/web1/state")
	req.Header.Set("Authorization", "Bearer t0k")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 || string(resp.Body()) != "up\n" {
		t.Errorf("tcp: %d %q", resp.StatusCode(), resp.Body())
	}
	req.SetRequestURI(url + "/metrics")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	parseMetrics(t, resp.Body())
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open after shutdown")
	}
	if srv.Addr() != DefaultAddr {
		t.Errorf("default addr %q", srv.Addr())
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		p    string
		r    route
		name string
	}{
		{"/api/v1/hosts/x", routeHost, "x"},
		{"/api/v1/hosts/x/history", routeHostHistory, "x"},
		{"/api/v1/hosts//state", routeNone, ""},
		{"/api/v1/hosts/x/state/more", routeNone, ""},
		{"/", routeStatus, ""},
	}
	for _, tt := range tests {
		r, n, _ := match(tt.p)
		if r != tt.r || n != tt.name {
			t.Errorf("match(%q) = %v %q", tt.p, r, n)
		}
	}
}

func TestExtraRoutes(t *testing.T) {
	tab, err := state.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hit := ""
	h := func(name string) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) { hit = name }
	}
	s, err := New(Config{Token: "secret", Routes: []Route{
		{Prefix: "/probe", Handler: h("probe")},
		{Prefix: "/api/v1/alerts", Handler: h("alerts")},
		{Prefix: "/api/v1/alerts/summary", Handler: h("summary"), Open: true},
	}}, tab, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, auth, want string
		code             int
	}{
		{"/probe", "Bearer secret", "probe", 200},
		{"/probe", "", "", 401},
		{"/prober", "Bearer secret", "", 404},
		{"/api/v1/alerts/7/ack", "Bearer secret", "alerts", 200},
		{"/api/v1/alerts/summary", "", "summary", 200},
	} {
		hit = ""
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(c.path)
		if c.auth != "" {
			ctx.Request.Header.Set("Authorization", c.auth)
		}
		s.Handler(&ctx)
		if hit != c.want || ctx.Response.StatusCode() != c.code {
			t.Errorf("%s auth=%q: handler %q code %d, want %q %d", c.path, c.auth, hit, ctx.Response.StatusCode(), c.want, c.code)
		}
	}
}
