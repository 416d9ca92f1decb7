// SPDX-License-Identifier: MIT

package pingstate

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args   string
		target string
		err    string
	}{
		{"--protocol tcp --address 10.0.0.5 --port 22 --check banner_contains:SSH-", "tcp://10.0.0.5:22", ""},
		{"--protocol http --address example.org", "http://example.org:80/", ""},
		{"--protocol https --address example.org --path health --check status:200,204 --timeout 2.5 --interval 10", "https://example.org:443/health", ""},
		{"--protocol https --address ::1 --port 8443 --no-verify-tls", "https://[::1]:8443/", ""},
		{"-protocol=http -address=web -port=8080 -path=/x?y=1", "http://web:8080/x?y=1", ""},
		{"--protocol tcp --address h", "", "--port is required"},
		{"--protocol icmp --address h", "", "want tcp, http or https"},
		{"--protocol http", "", "--address is required"},
		{"--protocol http --address h --port 70000", "", "1-65535"},
		{"--protocol tcp --address h --port 22 --check status:200", "", "http checks only"},
		{"--protocol tcp --address h --port 22 --no-verify-tls", "", "applies to --protocol https"},
		{"--protocol http --address h --interval 0", "", "must be positive"},
		{"--protocol http --address h --timeout soon", "", "want seconds"},
		{"--protocol http --address h extra", "", "unexpected argument"},
		{"--bogus", "", "not defined"},
	} {
		var stderr bytes.Buffer
		o, err := ParseArgs("pingstate", strings.Fields(tc.args), &stderr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.args, err)
			continue
		}
		if got, _ := o.Target(); got != tc.target {
			t.Errorf("%s: target %s, want %s", tc.args, got, tc.target)
		}
	}
	o, err := ParseArgs("pingstate", []string{"--protocol", "tcp", "--address", "h", "--port", "1"}, io.Discard)
	if err != nil || o.Interval != 5*time.Second || o.APIHost != "127.0.0.1" || o.APIPort != 8787 || o.Timeout != DefaultTimeout {
		t.Errorf("defaults: %+v %v", o, err)
	}
	var help bytes.Buffer
	if _, err := ParseArgs("pingstate", []string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "--protocol") || !strings.Contains(help.String(), "/healthz") {
		t.Errorf("help: %v\n%s", err, help.String())
	}
}

func TestTrackerSequence(t *testing.T) {
	t0 := time.Unix(1772600000, 0)
	tr := NewTracker("tcp h:22", t0)
	s := tr.Status(t0)
	if s.State != "unknown" || s.LastEvent != nil || len(s.Recent) != 0 || s.Recent == nil {
		t.Fatalf("fresh: %+v", s)
	}
	// pingstate's sequence (state/state_test.go): fail ok fail ok fail fail ok.
	seq := []bool{true, false, true, false, true, true, false}
	want := []string{"down", "up", "degraded", "up", "degraded", "down", "up"}
	for i, fail := range seq {
		o := obs.Observation{At: t0.Add(time.Duration(i+1) * time.Second), Outcome: obs.OK, RTT: 1500 * time.Microsecond, Detail: "connect ok"}
		if fail {
			o = obs.Observation{At: o.At, Outcome: obs.Error, Problem: "connect: connection refused"}
		}
		if _, cur := tr.Observe(o); cur.String() != want[i] {
			t.Fatalf("step %d: %v, want %s", i, cur, want[i])
		}
	}
	now := t0.Add(10 * time.Second)
	s = tr.Status(now)
	if s.Transitions != 7 || *s.LastEvent != "ok" || *s.LastDetail != "connect ok" || *s.LastLatencyMS != 1.5 ||
		*s.LastCheckTS != float64(t0.Unix()+7) || *s.LastCheckAge != 3 || s.UptimeInState != 3 || s.Probe != "tcp h:22" {
		t.Fatalf("status %+v", s)
	}
	for i, r := range s.Recent {
		if r.State != want[i] || (r.Event == "fail") != seq[i] {
			t.Fatalf("recent[%d] = %+v", i, r)
		}
	}
	if s.Recent[0].Detail != "connect: connection refused" {
		t.Fatalf("fail detail %q", s.Recent[0].Detail)
	}
	// The ring keeps the last 20, oldest first.
	for i := range 30 {
		tr.Observe(obs.Observation{At: t0.Add(time.Duration(100+i) * time.Second), Outcome: obs.OK, Detail: strconv.Itoa(i)})
	}
	s = tr.Status(now)
	if len(s.Recent) != RecentLen || s.Recent[0].Detail != "10" || s.Recent[19].Detail != "29" {
		t.Fatalf("ring: %d entries, %q..%q", len(s.Recent), s.Recent[0].Detail, s.Recent[len(s.Recent)-1].Detail)
	}
}

// start runs pingstate with args on a loopback listener and returns its
// base URL.
func start(t *testing.T, args string) string {
	t.Helper()
	o, err := ParseArgs("pingstate", strings.Fields(args), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, ln, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func waitState(t *testing.T, base, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, b := get(t, base+"/state")
		if strings.TrimSpace(string(b)) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %q, want %q", b, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keys(t *testing.T, b []byte) ([]string, map[string]json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks, m
}

// apiStatusKeys are the keys of hb-probe's own pingstate-style object,
// /api/v1/hosts/{name}/status, from a real API server.
func apiStatusKeys(t *testing.T) []string {
	t.Helper()
	tab, err := state.New([]state.HostSpec{{Name: "h", Addr: netip.MustParseAddr("127.0.0.1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tab.Apply(0, state.Observation{At: time.Now(), Outcome: obs.OK, RTT: time.Millisecond})
	srv, err := api.New(api.Config{}, tab, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeListener(ctx, ln)
	_, b := get(t, "http://"+ln.Addr().String()+"/api/v1/hosts/h/status")
	ks, _ := keys(t, b)
	if !slices.Contains(ks, "recent") { // omitted there when empty (omitempty)
		ks = append(ks, "recent")
		slices.Sort(ks)
	}
	return ks
}

func TestPingstateCommandLines(t *testing.T) {
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
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(404)
		}
		io.WriteString(w, "OK")
	}))
	defer web.Close()
	tlsWeb := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	tlsWeb.Config.ErrorLog = log.New(io.Discard, "", 0) // the unverified run's failed handshakes
	tlsWeb.TLS = &tls.Config{}
	tlsWeb.StartTLS()
	defer tlsWeb.Close()
	port := func(u string) string { return u[strings.LastIndexByte(u, ':')+1:] }
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedPort := port(refused.Addr().String())
	refused.Close()

	wantKeys := apiStatusKeys(t)
	for _, tc := range []struct {
		args, state, detail, probe string
	}{
		{"--protocol tcp --address 127.0.0.1 --port " + port(ssh.Addr().String()) + " --check banner_contains:SSH- --interval 0.2",
			"up", "banner SSH-2.0-test", "tcp 127.0.0.1:" + port(ssh.Addr().String())},
		{"--protocol http --address 127.0.0.1 --port " + port(web.URL) + " --path /health --check status:200,204 --interval 0.2 --timeout 1",
			"up", "HTTP 200", "http 127.0.0.1:" + port(web.URL) + "/health"},
		{"--protocol http --address 127.0.0.1 --port " + port(web.URL) + " --path /nope --check status:200 --interval 0.2",
			"down", "HTTP 404, want 200", ""},
		{"--protocol https --address 127.0.0.1 --port " + port(tlsWeb.URL) + " --no-verify-tls --check body_contains:OK --interval 0.2",
			"up", "HTTP 200", ""},
		{"--protocol https --address 127.0.0.1 --port " + port(tlsWeb.URL) + " --interval 0.2",
			"down", "certificate", ""},
		{"--protocol tcp --address 127.0.0.1 --port " + refusedPort + " --interval 0.2",
			"down", "connection refused", ""},
	} {
		t.Run(tc.args, func(t *testing.T) {
			base := start(t, tc.args)
			waitState(t, base, tc.state)
			code, b := get(t, base+"/healthz")
			if (code == 200) != (tc.state == "up") {
				t.Errorf("/healthz %d in state %s", code, tc.state)
			}
			var hz struct {
				OK    bool
				State string
			}
			if json.Unmarshal(b, &hz) != nil || hz.State != tc.state || hz.OK != (tc.state == "up") {
				t.Errorf("/healthz body %s", b)
			}
			for _, path := range []string{"/", "/status"} {
				code, b := get(t, base+path)
				if code != 200 {
					t.Fatalf("%s: %d", path, code)
				}
				ks, m := keys(t, b)
				if !slices.Equal(ks, wantKeys) {
					t.Errorf("%s keys %v, want the API's %v", path, ks, wantKeys)
				}
				var s StatusJSON
				json.Unmarshal(b, &s)
				if s.State != tc.state || s.LastDetail == nil || !strings.Contains(*s.LastDetail, tc.detail) || len(s.Recent) == 0 {
					t.Errorf("%s: %s", path, b)
				}
				if tc.probe != "" && s.Probe != tc.probe {
					t.Errorf("probe %q, want %q", s.Probe, tc.probe)
				}
				var recent []map[string]any
				json.Unmarshal(m["recent"], &recent)
				for _, r := range recent {
					if len(r) != 4 || r["ts"] == nil || r["event"] == nil || r["state"] == nil || r["detail"] == nil {
						t.Fatalf("recent entry %v: want ts, event, state, detail", r)
					}
				}
			}
			if code, _ := get(t, base+"/nothing"); code != 404 {
				t.Errorf("/nothing: %d", code)
			}
			resp, err := http.Post(base+"/status", "text/plain", nil)
			if err != nil || resp.StatusCode != 405 {
				t.Errorf("POST: %v", err)
			}
			resp.Body.Close()
		})
	}
}
