// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	hbstate "github.com/hbmon/hb/state"
	"github.com/hbmon/hb/web"
)

// TestNotifyTestCommand: `hb-probe notify --test` sends through every
// channel and says which failed (exit 1); naming a working one exits 0.
func TestNotifyTestCommand(t *testing.T) {
	got := make(chan notify.Message, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		json.NewDecoder(r.Body).Decode(&m)
		got <- m
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[[alerts.channels]]
name = "hook"
url = %q
[[alerts.channels]]
name = "broken"
type = "exec"
command = ["/bin/false"]
`, srv.URL)), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"notify", "--test", "--config", cfg}, nil, &out, &errb); code != exitSome {
		t.Fatalf("exit %d, want %d: %s %s", code, exitSome, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "broken") || !strings.Contains(out.String(), "FAILED") || !regexpLine(out.String(), "hook", "ok") {
		t.Errorf("output:\n%s", out.String())
	}
	if m := <-got; !m.Test || m.Channel != "hook" || m.Version != notify.SchemaVersion {
		t.Errorf("test message %+v", m)
	}
	out.Reset()
	if code := run([]string{"notify", "--test", "--config", cfg, "hook"}, nil, &out, &errb); code != exitOK {
		t.Errorf("named channel: exit %d: %s", code, out.String())
	}
	<-got
	if code := run([]string{"notify", "--test", "--config", cfg, "nosuch"}, nil, &out, &errb); code != exitSetup {
		t.Errorf("unknown channel: exit %d", code)
	}
}

func regexpLine(s, a, b string) bool {
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == a && f[len(f)-1] == b {
			return true
		}
	}
	return false
}

// TestAlertsCommand: `hb-probe alerts` prints the API's alerts, with the
// token from the config's token file.
func TestAlertsCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.URL.Path != "/api/v1/alerts" {
			http.Error(w, "no", 401)
			return
		}
		io.WriteString(w, `{"alerts":[{"id":7,"host":"web1","check":"icmp","rule":"host_down","level":"CRITICAL","since":"2026-12-02T10:00:00Z","text":"web1 icmp is down","acknowledged":true,"acknowledged_by":"alice"}]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[api]\nlisten = %q\ntoken_file = %q\n", strings.TrimPrefix(srv.URL, "http://"), tok)), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"alerts", "--config", cfg}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "web1") || !strings.Contains(out.String(), "CRITICAL") || !strings.Contains(out.String(), "acked by alice") {
		t.Errorf("output:\n%s", out.String())
	}
	os.WriteFile(tok, []byte("wrong\n"), 0o600)
	if code := run([]string{"alerts", "--config", cfg}, nil, &out, &errb); code != exitSetup || !strings.Contains(errb.String(), "401") {
		t.Errorf("wrong token: exit %d: %s", code, errb.String())
	}
}

// TestAlertsAckCommand: `hb-probe alerts` and `alerts --ack` against the
// real API server (with a token) serving a real alert engine.
func TestAlertsAckCommand(t *testing.T) {
	cfgA := config.DefaultAlerts()
	cfgA.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	eng, err := alert.New(alert.Options{Config: cfgA})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	eng.Handle(&event.Event{Type: event.StateChange, At: now, Host: "web1", Check: "icmp", Kind: obs.KindICMP, New: hbstate.Down, HostNew: hbstate.Down})
	eng.Tick(now)
	table, err := hbstate.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Addr: ln.Addr().String(), TokenFile: tok, Routes: eng.Routes(nil, nil)}, table, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeListener(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[api]\nlisten = %q\ntoken_file = %q\n", ln.Addr().String(), tok)), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"alerts", "--config", cfg}, nil, &out, &errb); code != exitOK || !strings.Contains(out.String(), "web1") {
		t.Fatalf("list: exit %d: %s %s", code, out.String(), errb.String())
	}
	id := eng.List(alert.Filter{})[0].ID
	out.Reset()
	if code := run([]string{"alerts", "--config", cfg, "--ack", strconv.FormatUint(id, 10), "--by", "alice", "--comment", "on it"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("ack: exit %d: %s", code, errb.String())
	}
	if a := eng.List(alert.Filter{})[0]; !a.Acked || a.AckedBy != "alice" || a.AckComment != "on it" {
		t.Errorf("after ack: %+v", a)
	}
	if code := run([]string{"alerts", "--config", cfg, "--ack", "12345"}, nil, &out, &errb); code != exitSetup || !strings.Contains(errb.String(), "404") {
		t.Errorf("ack unknown id: exit %d: %s", code, errb.String())
	}
}

// TestAlertsAckWithUserToken: `hb-probe alerts --ack --token-file` with a
// user's API token acts as that user through the real API server with the
// dashboard's users and roles: the monitor is refused (403, exit 2, the
// alert stays unacknowledged), the manager's ack is recorded under her
// name, not --by.
func TestAlertsAckWithUserToken(t *testing.T) {
	cfgA := config.DefaultAlerts()
	cfgA.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	eng, err := alert.New(alert.Options{Config: cfgA})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	eng.Handle(&event.Event{Type: event.StateChange, At: now, Host: "web1", Check: "icmp", Kind: obs.KindICMP, New: hbstate.Down, HostNew: hbstate.Down})
	eng.Tick(now)
	table, err := hbstate.New([]hbstate.HostSpec{{Name: "web1", Labels: hbstate.Labels{{Key: "managers", Value: "mia"}, {Key: "monitors", Value: "moe"}},
		Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	apiTok := filepath.Join(dir, "token")
	os.WriteFile(apiTok, []byte("s3cret\n"), 0o600)
	miaTok, moeTok := filepath.Join(dir, "mia"), filepath.Join(dir, "moe")
	os.WriteFile(miaTok, []byte("hbu_mia\n"), 0o600)
	os.WriteFile(moeTok, []byte("hbu_moe\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w, err := web.New(web.Options{Config: config.DefaultWeb(), Listen: ln.Addr().String(), APIToken: "s3cret", Table: table, Alerts: eng,
		Users: []config.User{{Name: "mia", Tokens: []string{web.TokenHash("hbu_mia")}}, {Name: "moe", Tokens: []string{web.TokenHash("hbu_moe")}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Addr: ln.Addr().String(), TokenFile: apiTok, Routes: append(eng.Routes(nil, w.AlertAccess()), w.Routes()...),
		Authorize: w.Authorize()}, table, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeListener(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[api]\nlisten = %q\ntoken_file = %q\n", ln.Addr().String(), apiTok)), 0o644)
	id := strconv.FormatUint(eng.List(alert.Filter{})[0].ID, 10)

	var out, errb bytes.Buffer
	if code := run([]string{"alerts", "--config", cfg, "--token-file", moeTok}, nil, &out, &errb); code != exitOK || !strings.Contains(out.String(), "web1") {
		t.Fatalf("moe lists: exit %d: %s %s", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"alerts", "--config", cfg, "--token-file", moeTok, "--ack", id}, nil, &out, &errb); code != exitSetup || !strings.Contains(errb.String(), "HTTP 403") {
		t.Fatalf("moe acks: exit %d: %s, want exit %d and HTTP 403", code, errb.String(), exitSetup)
	}
	if a := eng.List(alert.Filter{})[0]; a.Acked {
		t.Fatalf("the monitor's refused ack acknowledged the alert: %+v", a)
	}
	if code := run([]string{"alerts", "--config", cfg, "--token-file", miaTok, "--ack", id, "--by", "someone-else"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("mia acks: exit %d: %s", code, errb.String())
	}
	if a := eng.List(alert.Filter{})[0]; !a.Acked || a.AckedBy != "mia" {
		t.Errorf("after mia's ack: %+v, want acknowledged by mia", a)
	}
}

// TestAlertsListsSilenced: `hb-probe alerts` against the real API server
// and engine says which alerts an active silence covers — until when, its
// id, author and comment — and not for the others; --query silenced=false
// leaves them out.
func TestAlertsListsSilenced(t *testing.T) {
	cfgA := config.DefaultAlerts()
	cfgA.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	eng, err := alert.New(alert.Options{Config: cfgA})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, h := range []string{"web1", "web2"} {
		eng.Handle(&event.Event{Type: event.StateChange, At: now, Host: h, Check: "icmp", Kind: obs.KindICMP, New: hbstate.Down, HostNew: hbstate.Down})
	}
	eng.Tick(now)
	s, err := eng.AddSilence(alert.Silence{Matchers: "host=web1", Author: "alice", Comment: "kernel update", EndsAt: now.Add(2 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	table, err := hbstate.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Addr: ln.Addr().String(), TokenFile: tok, Routes: eng.Routes(nil, nil)}, table, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeListener(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[api]\nlisten = %q\ntoken_file = %q\n", ln.Addr().String(), tok)), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"alerts", "--config", cfg}, nil, &out, &errb); code != exitOK {
		t.Fatalf("list: exit %d: %s %s", code, out.String(), errb.String())
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 2 {
			lines[f[2]] = l
		}
	}
	until := s.EndsAt.Local().Format("15:04")
	if s.EndsAt.Local().Format(time.DateOnly) != time.Now().Format(time.DateOnly) {
		until = s.EndsAt.Local().Format("2006-01-02 15:04")
	}
	if want := fmt.Sprintf("silenced until %s (silence %d by alice: kernel update)", until, s.ID); !strings.Contains(lines["web1"], want) {
		t.Errorf("web1's line %q lacks %q\n%s", lines["web1"], want, out.String())
	}
	if lines["web2"] == "" || strings.Contains(lines["web2"], "silenced") {
		t.Errorf("web2's line %q\n%s", lines["web2"], out.String())
	}
	out.Reset()
	if code := run([]string{"alerts", "--config", cfg, "--query", "silenced=false"}, nil, &out, &errb); code != exitOK || strings.Contains(out.String(), "web1") || !strings.Contains(out.String(), "web2") {
		t.Errorf("silenced=false: exit %d:\n%s", code, out.String())
	}
}
