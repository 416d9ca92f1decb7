// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

func TestParseProbeQuery(t *testing.T) {
	for _, tc := range []struct {
		args map[string]string
		want ProbeRequest
		err  string
	}{
		{map[string]string{"target": "198.18.0.1", "module": "icmp"}, ProbeRequest{Module: obs.KindICMP, Addr: netip.MustParseAddr("198.18.0.1")}, ""},
		{map[string]string{"target": "[2001:2::1]", "module": "icmp_ipv6"}, ProbeRequest{Module: obs.KindICMP, Addr: netip.MustParseAddr("2001:2::1")}, ""},
		{map[string]string{"target": "db.example", "module": "icmp"}, ProbeRequest{Module: obs.KindICMP, Host: "db.example"}, ""},
		{map[string]string{"target": "db:22", "module": "tcp_connect", "check": "banner_contains:SSH-"},
			ProbeRequest{Module: obs.KindTCP, Spec: obs.CheckSpec{Host: "probe", Kind: obs.KindTCP, Target: "tcp://db:22", Params: map[string]string{"check": "banner_contains:SSH-"}}}, ""},
		{map[string]string{"target": "web/health", "module": "http_2xx"},
			ProbeRequest{Module: obs.KindHTTP, Spec: obs.CheckSpec{Host: "probe", Kind: obs.KindHTTP, Target: "http://web/health", Params: map[string]string{}}}, ""},
		{map[string]string{"target": "web", "module": "https"},
			ProbeRequest{Module: obs.KindHTTP, Spec: obs.CheckSpec{Host: "probe", Kind: obs.KindHTTP, Target: "https://web", Params: map[string]string{}}}, ""},
		{map[string]string{"module": "tcp"}, ProbeRequest{}, "target parameter is missing"},
		{map[string]string{"target": "x"}, ProbeRequest{}, "module parameter is missing"},
		{map[string]string{"target": "x", "module": "dns"}, ProbeRequest{}, "unknown module"},
		{map[string]string{"target": "a b", "module": "icmp"}, ProbeRequest{}, "want an IP address"},
		{map[string]string{"target": "x", "module": "icmp", "timeout": "1s"}, ProbeRequest{}, "no options"},
		{map[string]string{"target": strings.Repeat("a", 3000), "module": "tcp"}, ProbeRequest{}, "too long"},
	} {
		got, err := ParseProbeQuery(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: got %+v %v\nwant %+v", tc.args, got, err, tc.want)
		}
	}
}

// apiWith serves routes on a real API server on loopback and returns its
// base URL.
func apiWith(t *testing.T, routes ...api.Route) string {
	t.Helper()
	table, err := state.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Routes: routes}, table, nil, nil)
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
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

func scrape(t *testing.T, u string) (int, map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil, string(body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("%s: %v\n%s", u, err, body)
	}
	return resp.StatusCode, mfs, string(body)
}

func gauge(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

func TestProbeRoute(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(503)
		}
		io.WriteString(w, "OK")
	}))
	defer web.Close()
	ca := newCA(t)
	tlsWeb := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ca.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	ssh := bannerServer(t, "SSH-2.0-x\r\n")
	refused := refusedPort(t)

	cfg := config.DefaultChecks()
	cfg.ProbeLimit, cfg.ProbeRate = 2, 0
	icmp := func(ctx context.Context, a netip.Addr, to time.Duration) (obs.Observation, error) {
		// Stands in for the prober engine, which needs raw sockets and a
		// running daemon; the route's own work (parse, resolve, format) is
		// what this test covers.
		return obs.Observation{Outcome: obs.OK, RTT: 1500 * time.Microsecond, Method: obs.MethodKernelRx}, nil
	}
	route := NewProbeRoute(cfg, nil, icmp)
	base := apiWith(t, route.Route())
	noICMP := apiWith(t, NewProbeRoute(cfg, nil, nil).Route())
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return base + "/probe?" + v.Encode()
	}

	_, mfs, body := scrape(t, q("module", "http", "target", web.URL+"/", "check", "body_contains:OK"))
	if gauge(t, mfs, "probe_success") != 1 || gauge(t, mfs, "probe_http_status_code") != 200 || gauge(t, mfs, "probe_http_ssl") != 0 {
		t.Fatalf("http ok:\n%s", body)
	}
	if d := gauge(t, mfs, "probe_duration_seconds"); d <= 0 || d > 5 {
		t.Fatalf("duration %v", d)
	}
	if gauge(t, mfs, "probe_http_duration_seconds", "phase", "connect") <= 0 {
		t.Fatal("no connect phase")
	}
	_, mfs, body = scrape(t, q("module", "http_2xx", "target", web.URL+"/down"))
	if gauge(t, mfs, "probe_success") != 0 || gauge(t, mfs, "probe_http_status_code") != 503 || !strings.Contains(body, "# problem: HTTP 503") {
		t.Fatalf("http down:\n%s", body)
	}
	_, mfs, body = scrape(t, q("module", "http", "target", tlsWeb.URL+"/", "no_verify_tls", "true"))
	if gauge(t, mfs, "probe_success") != 1 || gauge(t, mfs, "probe_http_ssl") != 1 || gauge(t, mfs, "probe_ssl_earliest_cert_expiry") < float64(time.Now().Unix()) {
		t.Fatalf("https:\n%s", body)
	}
	_, mfs, body = scrape(t, q("module", "tcp", "target", hostPort(ssh), "check", "banner_contains:SSH-"))
	if gauge(t, mfs, "probe_success") != 1 || gauge(t, mfs, "probe_tcp_duration_seconds", "phase", "banner") <= 0 {
		t.Fatalf("tcp:\n%s", body)
	}
	_, mfs, body = scrape(t, q("module", "tcp", "target", hostPort(refused)))
	if gauge(t, mfs, "probe_success") != 0 || !strings.Contains(body, "connection refused") {
		t.Fatalf("refused:\n%s", body)
	}
	_, mfs, body = scrape(t, q("module", "icmp", "target", "localhost"))
	if gauge(t, mfs, "probe_success") != 1 || gauge(t, mfs, "probe_icmp_duration_seconds", "phase", "rtt") != 0.0015 {
		t.Fatalf("icmp:\n%s", body)
	}
	if _, ok := mfs["probe_dns_lookup_time_seconds"]; !ok {
		t.Fatal("icmp by name: no dns time")
	}
	// Bad requests: 400 with the reason, never a probe.
	for _, u := range []string{
		q("module", "tcp"), q("target", "x"), q("module", "tcp", "target", "db"), q("module", "http", "target", "http://w/", "follow", "1"),
		noICMP + "/probe?module=icmp&target=127.0.0.1", base + "/probe?module=tcp&target=a:1&target=b:2",
	} {
		if code, _, body := scrape(t, u); code != 400 || body == "" {
			t.Errorf("%s: %d %q", u, code, body)
		}
	}
	var mb strings.Builder
	route.WriteTo(&mb)
	if !strings.Contains(mb.String(), `hb_probe_route_requests_total{result="rejected"} 5`) {
		t.Errorf("counters:\n%s", mb.String())
	}
	if code, _, _ := scrape(t, base+"/probe/x?module=tcp&target=a:1"); code != 404 {
		t.Errorf("/probe/x: %d", code)
	}
	// probe_rate: a burst of probe_limit, then 429 until tokens come back.
	rcfg := config.DefaultChecks()
	rcfg.ProbeRate, rcfg.ProbeLimit = 0.01, 2
	limited := NewProbeRoute(rcfg, nil, nil)
	lbase := apiWith(t, limited.Route())
	var codes []int
	for range 4 {
		code, _, _ := scrape(t, lbase+"/probe?module=tcp&target="+hostPort(ssh))
		codes = append(codes, code)
	}
	if !slices.Equal(codes, []int{200, 200, 429, 429}) || limited.Stats().Limited != 2 {
		t.Errorf("rate limit: codes %v, limited %d", codes, limited.Stats().Limited)
	}
	resp, err := http.Post(q("module", "tcp", "target", hostPort(ssh)), "text/plain", nil)
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	// The scrape timeout header bounds the probe.
	bh := blackhole(t)
	req, _ := http.NewRequest("GET", q("module", "tcp", "target", hostPort(bh)), nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.8")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "timeout after 300ms (connect)") || !strings.Contains(string(b), "probe_success 0") {
		t.Fatalf("scrape timeout not applied:\n%s", b)
	}
}
