// SPDX-License-Identifier: MIT

package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/push"
	hbstate "github.com/hbmon/hb/state"
	"github.com/hbmon/hb/web"
)

// shape is what docs/hbd.md promises of one JSON object: every field's
// name and type. "int" is an integral number a JavaScript client reads
// exactly (|n| ≤ 2^53); "time" an RFC 3339 string; "a|null" either.
type shape map[string]string

// jsonType names the JSON type of v (as encoding/json decodes into any).
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return "time"
		}
		return "string"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return "int"
		}
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// fits reports whether a value of JSON type got may stand where want is
// promised (an int is a number; a time is a string).
func fits(got, want string) bool {
	for _, w := range strings.Split(want, "|") {
		if got == w || (w == "number" && got == "int") || (w == "string" && got == "time") {
			return true
		}
	}
	return false
}

// checkShape fails unless obj has exactly the fields of want, each of
// its type.
func checkShape(t *testing.T, where string, obj any, want shape) {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Errorf("%s: %s, want an object", where, jsonType(obj))
		return
	}
	var extra, missing []string
	for k := range m {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	for k, ty := range want {
		v, ok := m[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		if got := jsonType(v); !fits(got, ty) {
			t.Errorf("%s: field %q is %s (%v), want %s", where, k, got, v, ty)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra)+len(missing) > 0 {
		t.Errorf("%s: fields missing %v, unexpected %v", where, missing, extra)
	}
}

// getAny GETs path as c and decodes the JSON answer.
func getAny(t *testing.T, c client, path string) any {
	t.Helper()
	code, body := c.do(t, "GET", path, "")
	var v any
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return v
}

// The shapes docs/hbd.md promises hbd's API clients.
var (
	hbdHostShape = shape{"hostname": "string", "address": "string", "status": "string", "last_seen": "time|null", "since": "time|null",
		"rtt_ms": "number|null", "loss": "number", "owner": "string", "labels": "object", "plugins": "array"}
	hbdPluginShape = shape{"name": "string", "kind": "string", "target": "string", "status": "string", "since": "time|null",
		"last_seen": "time|null", "problem": "string", "interval_seconds": "number"}
	hbdMessageShape = shape{"id": "int", "hostname": "string", "source": "string", "level": "string", "message": "string", "timestamp": "time"}
	hbdAlertShape   = shape{"id": "int", "hostname": "string", "check": "string", "metric": "string", "severity": "string", "value": "number",
		"threshold": "number", "message": "string", "since": "number", "acknowledged": "bool", "acknowledged_by": "string",
		// hb's additions (docs/hbd.md): what silences the alert now.
		"silenced": "bool", "silence_id": "int", "silenced_until": "number"}
	hbdSummaryShape = shape{"critical": "int", "warning": "int", "unknown": "int", "acknowledged": "int", "total": "int",
		"silenced": "int"} // hb's addition
	hbdMeShape    = shape{"username": "string", "role": "string", "open": "bool", "channels": "array"}
	hbdLoginShape = shape{"username": "string", "csrf_token": "string", "expires": "time"}
)

// TestHbdShapes: every /api/0/ endpoint answers, through the real
// daemon's HTTP server, with exactly the field names and JSON types
// docs/hbd.md lists — no field missing, none extra, none changing type
// between hosts that have a value and hosts that do not.
func TestHbdShapes(t *testing.T) {
	d := startDaemon(t, 4, true)
	d.fleetUp(4)
	now := time.Now()
	for _, h := range []string{"h000001", "h000003"} {
		d.observe(h, false, 0, now)
		d.observe(h, false, 0, now.Add(time.Millisecond))
	}

	// Login: {username, password} → cookie and csrf_token.
	resp, err := http.Post(d.url+"/api/0/auth/login", "application/json", strings.NewReader(`{"username":"mia","password":"`+miaPW+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login any
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %v", resp.StatusCode, login)
	}
	checkShape(t, "auth/login", login, hbdLoginShape)
	mia := client{url: d.url, csrf: login.(map[string]any)["csrf_token"].(string)}
	for _, c := range resp.Cookies() {
		if c.Name == "hb_session" {
			mia.cookie = c.Value
		}
	}
	if mia.cookie == "" {
		t.Fatal("login set no hb_session cookie")
	}

	// hosts, one host, its plugins: mia manages h000001 and h000003.
	hosts := getAny(t, mia, "/api/0/hosts").([]any)
	if len(hosts) != 2 {
		t.Fatalf("mia's hosts: %v", hosts)
	}
	for _, h := range hosts {
		checkShape(t, "hosts[]", h, hbdHostShape)
	}
	down := getAny(t, mia, "/api/0/hosts?status=down").([]any)
	if len(down) != 2 || down[0].(map[string]any)["status"] != "down" {
		t.Fatalf("hosts?status=down: %v", down)
	}
	h := getAny(t, mia, "/api/0/hosts/h000001")
	checkShape(t, "hosts/h000001", h, hbdHostShape)
	hm := h.(map[string]any)
	if hm["hostname"] != "h000001" || hm["address"] != "198.18.0.1" || hm["owner"] != "olga" || hm["labels"].(map[string]any)["managers"] != "mia" ||
		len(hm["plugins"].([]any)) != 1 || hm["plugins"].([]any)[0] != "icmp" {
		t.Errorf("hosts/h000001: %v", hm)
	}
	plugins := getAny(t, mia, "/api/0/hosts/h000001/plugins").([]any)
	if len(plugins) != 1 {
		t.Fatalf("plugins: %v", plugins)
	}
	checkShape(t, "hosts/h000001/plugins[]", plugins[0], hbdPluginShape)
	if p := plugins[0].(map[string]any); p["name"] != "icmp" || p["kind"] != "icmp" || p["status"] != "down" {
		t.Errorf("plugin: %v", p)
	}

	// users/me.
	me := getAny(t, mia, "/api/0/users/me")
	checkShape(t, "users/me", me, hbdMeShape)
	if m := me.(map[string]any); m["username"] != "mia" || m["role"] != "user" || m["open"] != false {
		t.Errorf("users/me: %v", m)
	}

	// alerts, alert_summary (the alert engine's), once both fired.
	var alerts []any
	for deadline := time.Now().Add(10 * time.Second); len(alerts) < 2; time.Sleep(50 * time.Millisecond) {
		alerts = getAny(t, mia, "/api/0/alerts").([]any)
		if time.Now().After(deadline) {
			t.Fatalf("alerts: %v", alerts)
		}
	}
	for _, a := range alerts {
		checkShape(t, "alerts[]", a, hbdAlertShape)
	}
	a0 := alerts[0].(map[string]any)
	if a0["severity"] != "critical" || a0["acknowledged"] != false || a0["acknowledged_by"] != "" || a0["since"].(float64) < float64(now.Add(-time.Minute).Unix()) {
		t.Errorf("alert: %v", a0)
	}
	sum := getAny(t, mia, "/api/0/alert_summary")
	checkShape(t, "alert_summary", sum, hbdSummaryShape)
	if s := sum.(map[string]any); s["critical"] != 2.0 || s["total"] != 2.0 || s["acknowledged"] != 0.0 {
		t.Errorf("alert_summary: %v", s)
	}

	// acknowledge: JSON with a session, a form with a token.
	code, body := mia.do(t, "POST", "/api/0/alerts/acknowledge", fmt.Sprintf(`{"id":%d,"comment":"on it"}`, int64(a0["id"].(float64))))
	var ack any
	if code != 200 || json.Unmarshal([]byte(body), &ack) != nil {
		t.Fatalf("acknowledge: %d %s", code, body)
	}
	checkShape(t, "alerts/acknowledge", ack, shape{"acknowledged": "int"})
	if ack.(map[string]any)["acknowledged"] != 1.0 {
		t.Errorf("acknowledge: %s", body)
	}
	other := alerts[1].(map[string]any)["hostname"].(string)
	req, _ := http.NewRequest("POST", d.url+"/api/0/alerts/acknowledge", strings.NewReader(url.Values{"hostname": {other}, "user": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+adaToken)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var formAck map[string]any
	json.NewDecoder(r.Body).Decode(&formAck)
	r.Body.Close()
	if r.StatusCode != 200 || formAck["acknowledged"] != 1.0 {
		t.Errorf("form acknowledge with a token: %d %v", r.StatusCode, formAck)
	}
	for _, a := range getAny(t, mia, "/api/0/alerts").([]any) {
		checkShape(t, "alerts[] after ack", a, hbdAlertShape)
		if am := a.(map[string]any); am["acknowledged"] != true || (am["acknowledged_by"] != "mia" && am["acknowledged_by"] != "ada") {
			t.Errorf("after the acks: %v", am)
		}
	}

	// logout ends the session.
	code, body = mia.do(t, "POST", "/api/0/auth/logout", "{}")
	var out any
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("logout: %d %s", code, body)
	}
	checkShape(t, "auth/logout", out, shape{"ok": "bool"})
	if code, _ := mia.do(t, "GET", "/api/0/users/me", ""); code != 401 {
		t.Errorf("users/me after logout: %d", code)
	}
}

// TestHbdMessagesShape: /api/0/messages from a real event log (SQLite)
// behind the real API server: hbd's field names and types, a user's
// hosts only. (The test daemon's sources are injected, so it has no
// event log; this serves one directly.)
func TestHbdMessagesShape(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	evs, err := push.OpenEventLog(filepath.Join(t.TempDir(), "events.db"), 24*time.Hour, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	now := time.Now().UTC()
	if err := evs.Write(context.Background(), []push.Event{
		{At: now.Add(-2 * time.Second), Host: "web1", Check: "icmp", Source: "hb", Level: "error", Type: "state_change", Message: "web1 icmp: up -> down"},
		{At: now.Add(-time.Second), Host: "web1", Source: "backup", Level: "info", Type: "message", Message: "backup done"},
		{At: now, Host: "db1", Source: "hb", Level: "error", Type: "state_change", Message: "db1 icmp: up -> down"},
	}); err != nil {
		t.Fatal(err)
	}
	tbl, err := hbstate.New([]hbstate.HostSpec{
		{Name: "web1", Labels: hbstate.Labels{{Key: "managers", Value: "mia"}}, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}},
		{Name: "db1", Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w, err := web.New(web.Options{Config: config.DefaultWeb(), Listen: ln.Addr().String(), Table: tbl, Events: evs, Log: log,
		Users: []config.User{{Name: "mia", Tokens: []string{web.TokenHash(miaToken)}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Routes: w.Routes(), Authorize: w.Authorize()}, tbl, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeListener(ctx, ln) }()
	defer func() { cancel(); <-done }()
	mia := client{url: "http://" + ln.Addr().String(), token: miaToken}

	msgs := getAny(t, mia, "/api/0/messages").([]any)
	if len(msgs) != 2 {
		t.Fatalf("mia's messages: %v, want web1's two", msgs)
	}
	for _, m := range msgs {
		checkShape(t, "messages[]", m, hbdMessageShape)
	}
	m0 := msgs[0].(map[string]any) // newest first
	if m0["hostname"] != "web1" || m0["source"] != "backup" || m0["level"] != "info" || m0["message"] != "backup done" {
		t.Errorf("newest message: %v", m0)
	}
	if ts, _ := time.Parse(time.RFC3339Nano, m0["timestamp"].(string)); !ts.Equal(now.Add(-time.Second)) {
		t.Errorf("timestamp %v, want %v", m0["timestamp"], now.Add(-time.Second))
	}
	if got := getAny(t, mia, "/api/0/messages?level=error").([]any); len(got) != 1 || got[0].(map[string]any)["level"] != "error" {
		t.Errorf("messages?level=error: %v", got)
	}
	if got := getAny(t, mia, "/api/0/messages?hostname=db1").([]any); len(got) != 0 {
		t.Errorf("mia reads db1's messages: %v", got)
	}
	// since: Unix seconds or RFC 3339, the instant itself included.
	for _, tc := range []struct {
		since string
		want  int
	}{
		{fmt.Sprint(now.Add(-time.Hour).Unix()), 2},
		{unixArg(now.Add(-time.Second)), 1},
		{now.Add(-time.Second).Format(time.RFC3339Nano), 1},
		{now.Add(-1500 * time.Millisecond).In(time.FixedZone("X", -7*3600)).Format(time.RFC3339Nano), 1},
		{unixArg(now.Add(-2 * time.Second)), 2},
		{now.Add(time.Second).Format(time.RFC3339), 0},
	} {
		if got := getAny(t, mia, "/api/0/messages?since="+url.QueryEscape(tc.since)).([]any); len(got) != tc.want {
			t.Errorf("messages?since=%s: %d messages, want %d: %v", tc.since, len(got), tc.want, got)
		}
	}
	if code, _ := mia.do(t, "GET", "/api/0/messages?since=soon", ""); code != 400 {
		t.Errorf("messages?since=soon: %d, want 400", code)
	}
}
