// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
)

func metric(o obs.Observation, name string) (float64, bool) {
	for _, m := range o.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

func run(t *testing.T, p *Prober, kind obs.Kind, target string, params map[string]string, timeout time.Duration) obs.Observation {
	t.Helper()
	pr, err := ParseProbe(obs.CheckSpec{Kind: kind, Target: target, Params: params, Timeout: timeout}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(context.Background(), pr)
	t.Logf("%s %v: %v %q %q rtt=%v metrics=%v", target, params, o.Outcome, o.Detail, o.Problem, o.RTT, o.Metrics)
	return o
}

func wantOK(t *testing.T, o obs.Observation, detail string) {
	t.Helper()
	if o.Outcome != obs.OK || o.Detail != detail || o.RTT <= 0 || o.Method != obs.MethodUser || o.Problem != "" || o.At.IsZero() {
		t.Fatalf("got %v detail %q problem %q rtt %v method %v; want ok %q", o.Outcome, o.Detail, o.Problem, o.RTT, o.Method, detail)
	}
}

func wantFail(t *testing.T, o obs.Observation, out obs.Outcome, problem string) {
	t.Helper()
	if o.Outcome != out || !strings.Contains(o.Problem, problem) || o.RTT != 0 {
		t.Fatalf("got %v problem %q rtt %v; want %v with %q", o.Outcome, o.Problem, o.RTT, out, problem)
	}
}

func TestHTTP(t *testing.T) {
	var lastMethod, lastHost atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		lastMethod.Store(r.Method)
		lastHost.Store(r.Host)
		io.WriteString(w, "all systems OK\n")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/maint", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, "under maintenance")
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", 302) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "first half")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := NewProber(ProberConfig{})

	t.Run("ok", func(t *testing.T) {
		o := run(t, p, obs.KindHTTP, srv.URL+"/", nil, 0)
		wantOK(t, o, "HTTP 200")
		if v, ok := metric(o, MetricStatus); !ok || v != 200 {
			t.Fatalf("status metric %v %v", v, ok)
		}
		for _, m := range []string{MetricConnect, MetricFirstByte, MetricDuration} {
			if v, ok := metric(o, m); !ok || v <= 0 || v > 5 {
				t.Fatalf("%s = %v %v", m, v, ok)
			}
		}
		if _, ok := metric(o, MetricDNS); ok {
			t.Fatal("dns_seconds for a literal address")
		}
		if _, ok := metric(o, MetricTLS); ok {
			t.Fatal("tls_seconds for plain http")
		}
		d, _ := metric(o, MetricDuration)
		if o.RTT.Seconds() > d {
			t.Fatalf("rtt %v exceeds the duration %v", o.RTT, d)
		}
	})
	t.Run("status", func(t *testing.T) {
		wantOK(t, run(t, p, obs.KindHTTP, srv.URL+"/204", map[string]string{"check": "status:200,204"}, 0), "HTTP 204")
		o := run(t, p, obs.KindHTTP, srv.URL+"/500", map[string]string{"check": "status:200,204"}, 0)
		wantFail(t, o, obs.Error, "HTTP 500, want 200,204")
		if o.Detail != "HTTP 500" {
			t.Fatalf("detail %q", o.Detail)
		}
		wantFail(t, run(t, p, obs.KindHTTP, srv.URL+"/500", nil, 0), obs.Error, "HTTP 500")
		// Repeated check= (the targets parser joins them with obs.ParamSep): all must pass.
		both := map[string]string{"check": "status:503" + obs.ParamSep + "body_contains:maintenance"}
		wantOK(t, run(t, p, obs.KindHTTP, srv.URL+"/maint", both, 0), "HTTP 503")
		both["check"] = "status:503" + obs.ParamSep + "body_contains:outage"
		wantFail(t, run(t, p, obs.KindHTTP, srv.URL+"/maint", both, 0), obs.Error, `lacks "outage"`)
		wantFail(t, run(t, p, obs.KindHTTP, srv.URL+"/", both, 0), obs.Error, "HTTP 200, want 503")
		// Redirects are not followed; a 3xx passes the default check.
		wantOK(t, run(t, p, obs.KindHTTP, srv.URL+"/redirect", nil, 0), "HTTP 302")
		wantFail(t, run(t, p, obs.KindHTTP, srv.URL+"/redirect", map[string]string{"check": "status:200"}, 0), obs.Error, "HTTP 302, want 200")
	})
	t.Run("body", func(t *testing.T) {
		wantOK(t, run(t, p, obs.KindHTTP, srv.URL+"/", map[string]string{"check": "body_contains:systems OK"}, 0), "HTTP 200")
		wantFail(t, run(t, p, obs.KindHTTP, srv.URL+"/", map[string]string{"check": "body_contains:FAIL"}, 0), obs.Error, `lacks "FAIL"`)
		wantFail(t, run(t, p, obs.KindHTTP, srv.URL+"/500", map[string]string{"check": "body_contains:boom"}, 0), obs.Error, "HTTP 500")
		small := NewProber(ProberConfig{MaxBodyBytes: 4})
		wantFail(t, run(t, small, obs.KindHTTP, srv.URL+"/", map[string]string{"check": "body_contains:OK"}, 0), obs.Error, "first 4 bytes")
	})
	t.Run("method and host header", func(t *testing.T) {
		wantOK(t, run(t, p, obs.KindHTTP, srv.URL+"/", map[string]string{"method": "HEAD", "host_header": "api.example"}, 0), "HTTP 200")
		if lastMethod.Load() != "HEAD" || lastHost.Load() != "api.example" {
			t.Fatalf("server saw %v %v", lastMethod.Load(), lastHost.Load())
		}
	})
	t.Run("slow body times out", func(t *testing.T) {
		o := run(t, p, obs.KindHTTP, srv.URL+"/slow", nil, 300*time.Millisecond)
		wantFail(t, o, obs.Timeout, "timeout after 300ms (body)")
		if v, ok := metric(o, MetricFirstByte); !ok || v <= 0 {
			t.Fatal("first byte not measured on a body timeout")
		}
	})
	t.Run("hostname", func(t *testing.T) {
		u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		o := run(t, p, obs.KindHTTP, u+"/", map[string]string{"ip": "4"}, 0)
		wantOK(t, o, "HTTP 200")
		if _, ok := metric(o, MetricDNS); !ok {
			t.Fatal("no dns_seconds for a name")
		}
		// The server listens on IPv4 only: ip=6 resolves ::1 and is refused
		// (or finds no address where localhost has no IPv6 entry).
		o = run(t, p, obs.KindHTTP, u+"/", map[string]string{"ip": "6"}, 0)
		if o.Outcome != obs.Error {
			t.Fatalf("ip=6 to an IPv4-only server: %v %q", o.Outcome, o.Problem)
		}
		wantFail(t, run(t, p, obs.KindHTTP, "http://no-such-host.invalid/", nil, 2*time.Second), obs.Error, "resolve")
		// An IPv6 server: a literal, and a name with ip=6.
		ln6, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		s6 := httptest.NewUnstartedServer(mux)
		s6.Listener.Close()
		s6.Listener = ln6
		s6.Start()
		defer s6.Close()
		wantOK(t, run(t, p, obs.KindHTTP, s6.URL+"/", map[string]string{"check": "body_contains:OK"}, 0), "HTTP 200")
		port := s6.URL[strings.LastIndexByte(s6.URL, ':')+1:]
		if addrs, _ := net.LookupHost("localhost"); slices.Contains(addrs, "::1") {
			wantOK(t, run(t, p, obs.KindHTTP, "http://localhost:"+port+"/", map[string]string{"ip": "6"}, 0), "HTTP 200")
			wantFail(t, run(t, p, obs.KindHTTP, "http://localhost:"+port+"/", map[string]string{"ip": "4"}, 0), obs.Error, "connection refused")
		}
	})
}

func TestHTTPS(t *testing.T) {
	ca := newCA(t)
	now := time.Now()
	good := ca.leaf(t, now.Add(-time.Hour), now.Add(30*24*time.Hour))
	expired := ca.leaf(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure OK") })
	okSrv := tlsServer(t, h, good)
	oldSrv := tlsServer(t, h, expired)
	trusting := NewProber(ProberConfig{RootCAs: ca.pool})
	system := NewProber(ProberConfig{})

	t.Run("trusted", func(t *testing.T) {
		o := run(t, trusting, obs.KindHTTP, okSrv.URL+"/", map[string]string{"check": "body_contains:OK"}, 0)
		wantOK(t, o, "HTTP 200")
		if v, ok := metric(o, MetricTLS); !ok || v <= 0 {
			t.Fatal("no tls_seconds")
		}
		if v, _ := metric(o, MetricCertEnd); int64(v) != now.Add(30*24*time.Hour).Unix() {
			t.Fatalf("cert expiry %v, want %v", v, now.Add(30*24*time.Hour).Unix())
		}
	})
	t.Run("trusted by name", func(t *testing.T) {
		u := strings.Replace(okSrv.URL, "127.0.0.1", "localhost", 1)
		wantOK(t, run(t, trusting, obs.KindHTTP, u+"/", map[string]string{"ip": "4"}, 0), "HTTP 200")
	})
	t.Run("self-signed, verify on", func(t *testing.T) {
		wantFail(t, run(t, system, obs.KindHTTP, okSrv.URL+"/", nil, 0), obs.Error, "tls: ")
		wantFail(t, run(t, system, obs.KindHTTP, okSrv.URL+"/", nil, 0), obs.Error, "unknown authority")
	})
	t.Run("self-signed, no_verify_tls", func(t *testing.T) {
		wantOK(t, run(t, system, obs.KindHTTP, okSrv.URL+"/", map[string]string{"no_verify_tls": "true"}, 0), "HTTP 200")
	})
	t.Run("expired", func(t *testing.T) {
		o := run(t, trusting, obs.KindHTTP, oldSrv.URL+"/", nil, 0)
		wantFail(t, o, obs.Error, "tls: failed to verify certificate: x509: certificate has expired")
		if strings.HasPrefix(o.Problem, "tls: tls:") {
			t.Fatalf("phase repeated: %q", o.Problem)
		}
		if !strings.HasPrefix(o.Problem, "tls: ") {
			t.Fatalf("phase of a certificate failure: %q", o.Problem)
		}
		if v, ok := metric(o, MetricCertEnd); !ok || int64(v) != now.Add(-time.Hour).Unix() {
			t.Fatalf("expiry of a rejected certificate: %v %v", v, ok)
		}
		if _, ok := metric(o, MetricTLS); ok {
			t.Fatal("tls_seconds for a failed handshake")
		}
		o = run(t, trusting, obs.KindHTTP, oldSrv.URL+"/", map[string]string{"no_verify_tls": ""}, 0)
		wantOK(t, o, "HTTP 200")
		if v, ok := metric(o, MetricCertEnd); !ok || v >= float64(now.Unix()) {
			t.Fatalf("expired cert's expiry %v %v is not in the past", v, ok)
		}
	})
	t.Run("https to plain http", func(t *testing.T) {
		plain := httptest.NewServer(h)
		defer plain.Close()
		u := strings.Replace(plain.URL, "http://", "https://", 1)
		wantFail(t, run(t, system, obs.KindHTTP, u+"/", map[string]string{"no_verify_tls": "true"}, 0), obs.Error, "tls: first record does not look like a TLS handshake")
	})
}

func TestTCP(t *testing.T) {
	p := NewProber(ProberConfig{})
	ssh := bannerServer(t, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
	t.Run("connect", func(t *testing.T) {
		o := run(t, p, obs.KindTCP, "tcp://"+hostPort(ssh), nil, 0)
		wantOK(t, o, "connect ok")
		if v, ok := metric(o, MetricConnect); !ok || v <= 0 {
			t.Fatal("no connect_seconds")
		}
	})
	t.Run("banner", func(t *testing.T) {
		o := run(t, p, obs.KindTCP, "tcp://"+hostPort(ssh), map[string]string{"check": "banner_contains:SSH-"}, 0)
		wantOK(t, o, "banner SSH-2.0-OpenSSH_9.2p1 Debian-2")
		if _, ok := metric(o, MetricFirstByte); !ok {
			t.Fatal("no first_byte_seconds for a banner")
		}
		wantFail(t, run(t, p, obs.KindTCP, "tcp://"+hostPort(ssh), map[string]string{"check": "banner_contains:220 "}, time.Second), obs.Timeout, "(banner)")
	})
	t.Run("banner closes", func(t *testing.T) {
		short := bannerServer(t, "")
		wantFail(t, run(t, p, obs.KindTCP, "tcp://"+hostPort(short), map[string]string{"check": "banner_contains:SSH-"}, 500*time.Millisecond), obs.Timeout, "(banner)")
	})
	t.Run("refused", func(t *testing.T) {
		ap := refusedPort(t)
		wantFail(t, run(t, p, obs.KindTCP, "tcp://"+hostPort(ap), nil, 0), obs.Error, "connect: connection refused")
		wantFail(t, run(t, p, obs.KindHTTP, "http://"+hostPort(ap)+"/", nil, 0), obs.Error, "connect: connection refused")
	})
	t.Run("blackhole", func(t *testing.T) {
		ap := blackhole(t)
		wantFail(t, run(t, p, obs.KindTCP, "tcp://"+hostPort(ap), nil, 300*time.Millisecond), obs.Timeout, "timeout after 300ms (connect)")
		wantFail(t, run(t, p, obs.KindHTTP, "http://"+hostPort(ap)+"/", nil, 300*time.Millisecond), obs.Timeout, "timeout after 300ms (connect)")
	})
}

// lateCtx is a parent context whose Deadline takes a while, as if the
// checking goroutine lost its CPU there.
type lateCtx struct {
	context.Context
	delay time.Duration
}

func (c lateCtx) Deadline() (time.Time, bool) {
	time.Sleep(c.delay) // stands in for a preemption inside Run
	return c.Context.Deadline()
}

// TestTimeoutDuration: a check that times out reports having taken at
// least its timeout, however late its goroutine got the CPU between
// setting the deadline and starting the clock. (Run's deadline used to
// count from before its clock started, so a check preempted in between
// reported, say, 0.376 s for a 0.4 s timeout.)
func TestTimeoutDuration(t *testing.T) {
	p := NewProber(ProberConfig{})
	silent := bannerServer(t, "")
	pr, err := ParseProbe(obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://" + hostPort(silent), Params: map[string]string{"check": "banner_contains:SSH-"}}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(lateCtx{context.Background(), 100 * time.Millisecond}, pr)
	wantFail(t, o, obs.Timeout, "timeout after 200ms (banner)")
	if d, ok := metric(o, MetricDuration); !ok || d < 0.2 {
		t.Fatalf("timed out after 200ms, reported %v s", d)
	}
}
