// SPDX-License-Identifier: MIT

package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
)

// client is a user of the daemon's HTTP API: a session cookie and its
// CSRF token, or a bearer token.
type client struct {
	url, cookie, csrf, token string
}

// noRedirect answers redirects as they are (a page's 303 to the login
// form is not its 200).
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do makes one request and returns the status and body.
func (c client) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "hb_session", Value: c.cookie})
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sessionOf logs user in through /ui/api/login.
func sessionOf(t *testing.T, url, user, pw string) client {
	t.Helper()
	resp, err := http.Post(url+"/ui/api/login", "application/json", strings.NewReader(`{"user":"`+user+`","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&out)
	c := client{url: url, csrf: out.CSRF}
	for _, ck := range resp.Cookies() {
		if ck.Name == "hb_session" {
			c.cookie = ck.Value
		}
	}
	if resp.StatusCode != 200 || c.cookie == "" || c.csrf == "" {
		t.Fatalf("login %s: %d", user, resp.StatusCode)
	}
	return c
}

type apiAlert struct {
	ID      uint64 `json:"id"`
	Host    string `json:"host"`
	Acked   bool   `json:"acknowledged"`
	AckedBy string `json:"acknowledged_by"`
}

// alertsOf is GET /api/v1/alerts as c sees it.
func alertsOf(t *testing.T, c client) map[string]apiAlert {
	t.Helper()
	code, body := c.do(t, "GET", "/api/v1/alerts", "")
	var list struct{ Alerts []apiAlert }
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("GET /api/v1/alerts: %d %s", code, body)
	}
	m := map[string]apiAlert{}
	for _, a := range list.Alerts {
		m[a.Host] = a
	}
	return m
}

// TestAlertRoles: acknowledging and silencing are role-checked on every
// path that does them — the dashboard's endpoints, hbd's /api/0/ and
// /api/v1 — through the real daemon's HTTP server: a monitor (moe) sees
// the alerts of the hosts he monitors and gets 403 when he acknowledges
// or silences them; a manager (mia) succeeds on her hosts only, recorded
// under her name whatever the request says; the API's own token and an
// admin may do everything; nobody unauthenticated may do anything.
func TestAlertRoles(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(tokFile, []byte("the-api-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, 4, true, func(c *config.Probe) { c.API.TokenFile = tokFile })
	d.fleetUp(4)
	now := time.Now()
	for _, h := range []string{"h000001", "h000002", "h000003"} { // olga's, otto's, olga's
		d.observe(h, false, 0, now)
		d.observe(h, false, 0, now.Add(time.Millisecond))
	}
	machine := client{url: d.url, token: "the-api-token"}
	ada := client{url: d.url, token: adaToken}
	var all map[string]apiAlert
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if all = alertsOf(t, machine); len(all) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts did not fire: %+v", all)
		}
	}
	olgas, ottos, olgas2 := all["h000001"].ID, all["h000002"].ID, all["h000003"].ID

	moe := sessionOf(t, d.url, "moe", moePW)
	moeTok := client{url: d.url, token: moeToken}
	mia := sessionOf(t, d.url, "mia", miaPW)
	miaTok := client{url: d.url, token: miaToken}
	anon := client{url: d.url}

	// What each sees.
	if got := alertsOf(t, moeTok); len(got) != 2 || got["h000002"].ID != 0 {
		t.Errorf("moe sees %+v, want the alerts of h000001 and h000003 only", got)
	}
	if code, body := moe.do(t, "GET", "/api/0/alerts", ""); code != 200 || !strings.Contains(body, `"hostname":"h000001"`) || strings.Contains(body, "h000002") {
		t.Errorf("moe's /api/0/alerts: %d %s", code, body)
	}
	if code, body := moe.do(t, "GET", "/api/0/alert_summary", ""); code != 200 || !strings.Contains(body, `"total":2`) {
		t.Errorf("moe's /api/0/alert_summary: %d %s", code, body)
	}
	if code, body := moe.do(t, "GET", "/ui/api/alerts", ""); code != 200 || !strings.Contains(body, `"can_ack":false`) || strings.Contains(body, `"can_ack":true`) {
		t.Errorf("moe's /ui/api/alerts: %d %s", code, body)
	}

	steps := []struct {
		name         string
		c            client
		method, path string
		body         string
		want         int
	}{
		// The monitor may look, not touch: 403 on each path.
		{"monitor acks on the dashboard", moe, "POST", fmt.Sprintf("/ui/api/alerts/%d/ack", olgas), `{}`, 403},
		{"monitor silences on the dashboard", moe, "POST", "/ui/api/silences", `{"host":"h000001","duration":"1h"}`, 403},
		{"monitor acks through hbd's API", moe, "POST", "/api/0/alerts/acknowledge", fmt.Sprintf(`{"id":%d}`, olgas), 403},
		{"monitor acks a host through hbd's API", moe, "POST", "/api/0/alerts/acknowledge", `{"hostname":"h000001"}`, 403},
		{"monitor acks through /api/v1 with his token", moeTok, "POST", fmt.Sprintf("/api/v1/alerts/%d/ack", olgas), `{}`, 403},
		{"monitor silences through /api/v1", moeTok, "POST", "/api/v1/silences", `{"matchers":"host=h000001","for":"1h"}`, 403},
		{"monitor reads the outbox", moeTok, "GET", "/api/v1/notifications", "", 403},
		{"monitor acks a host he cannot see", moe, "POST", fmt.Sprintf("/ui/api/alerts/%d/ack", ottos), `{}`, 404},
		// The manager, on someone else's host and unpinned silences.
		{"manager acks otto's alert", miaTok, "POST", fmt.Sprintf("/api/v1/alerts/%d/ack", ottos), `{}`, 404},
		{"manager silences otto's host", miaTok, "POST", "/api/v1/silences", `{"matchers":"host=h000002","for":"1h"}`, 403},
		{"manager silences by another label", miaTok, "POST", "/api/v1/silences", `{"matchers":"site=dc1","for":"1h"}`, 403},
		{"manager silences a regex of hosts", miaTok, "POST", "/api/v1/silences", `{"matchers":"host=~h00000.*","for":"1h"}`, 403},
		// A session's write without its CSRF token; no credentials at all.
		{"manager without the CSRF token", client{url: d.url, cookie: mia.cookie}, "POST", "/api/0/alerts/acknowledge", fmt.Sprintf(`{"id":%d}`, olgas), 403},
		{"anonymous ack", anon, "POST", fmt.Sprintf("/api/v1/alerts/%d/ack", olgas), `{}`, 401},
		{"anonymous hbd ack", anon, "POST", "/api/0/alerts/acknowledge", fmt.Sprintf(`{"id":%d}`, olgas), 401},
		{"anonymous list", anon, "GET", "/api/0/alerts", "", 401},
		{"wrong token", client{url: d.url, token: "nope"}, "GET", "/api/v1/alerts", "", 401},
	}
	for _, s := range steps {
		if code, body := s.c.do(t, s.method, s.path, s.body); code != s.want {
			t.Errorf("%s: %s %s answered %d %s, want %d", s.name, s.method, s.path, code, body, s.want)
		}
	}
	if got := alertsOf(t, machine); got["h000001"].Acked || got["h000002"].Acked || got["h000003"].Acked {
		t.Fatalf("an alert was acknowledged by a refused request: %+v", got)
	}
	if code, body := machine.do(t, "GET", "/api/v1/silences", ""); code != 200 || strings.Contains(body, `"matchers":"host`) {
		t.Fatalf("a silence was created by a refused request: %s", body)
	}

	// The manager succeeds on her hosts, on each path, as herself.
	if code, body := mia.do(t, "POST", "/api/0/alerts/acknowledge", fmt.Sprintf(`{"id":%d,"user":"somebody-else"}`, olgas)); code != 200 || body != "{\"acknowledged\":1}\n" {
		t.Fatalf("mia acks through hbd's API: %d %s", code, body)
	}
	if code, body := mia.do(t, "POST", fmt.Sprintf("/ui/api/alerts/%d/ack", olgas2), `{"comment":"on it"}`); code != 200 {
		t.Fatalf("mia acks on the dashboard: %d %s", code, body)
	}
	got := alertsOf(t, machine)
	if a := got["h000001"]; !a.Acked || a.AckedBy != "mia" {
		t.Errorf("h000001 after mia's ack: %+v, want acknowledged by mia", a)
	}
	if a := got["h000003"]; !a.Acked || a.AckedBy != "mia" {
		t.Errorf("h000003 after mia's ack: %+v", a)
	}
	code, body := miaTok.do(t, "POST", "/api/v1/silences", `{"matchers":"host=h000001,check=icmp","for":"1h","author":"not-mia"}`)
	var si struct {
		ID     int64  `json:"id"`
		Author string `json:"author"`
	}
	if code != 201 || json.Unmarshal([]byte(body), &si) != nil || si.Author != "mia" {
		t.Fatalf("mia silences her host through /api/v1: %d %s", code, body)
	}
	if code, body := mia.do(t, "POST", "/ui/api/silences", `{"host":"h000003","duration":"30m"}`); code != 200 || !strings.Contains(body, `"author":"mia"`) {
		t.Fatalf("mia silences on the dashboard: %d %s", code, body)
	}
	// Moe sees mia's silence but may not lift it; mia may.
	if code, body := moeTok.do(t, "GET", fmt.Sprintf("/api/v1/silences/%d", si.ID), ""); code != 200 {
		t.Errorf("moe reads a silence of his host: %d %s", code, body)
	}
	if code, body := moeTok.do(t, "DELETE", fmt.Sprintf("/api/v1/silences/%d", si.ID), ""); code != 403 {
		t.Errorf("moe lifts mia's silence: %d %s, want 403", code, body)
	}
	if code, body := miaTok.do(t, "DELETE", fmt.Sprintf("/api/v1/silences/%d", si.ID), ""); code != 200 {
		t.Errorf("mia lifts her silence: %d %s", code, body)
	}

	// The API's own token may do everything and says who acknowledges
	// (hb-probe alerts --ack --by); an admin acts as herself.
	if code, body := machine.do(t, "POST", fmt.Sprintf("/api/v1/alerts/%d/ack", ottos), `{"by":"ops-cli"}`); code != 200 || !strings.Contains(body, `"acknowledged_by":"ops-cli"`) {
		t.Fatalf("the API token acks otto's alert: %d %s", code, body)
	}
	if code, body := ada.do(t, "POST", "/api/v1/silences", `{"matchers":"site=dc1","for":"1h","author":"x"}`); code != 201 || !strings.Contains(body, `"author":"ada"`) {
		t.Fatalf("ada silences by label: %d %s", code, body)
	}
	if code, _ := ada.do(t, "GET", "/api/v1/notifications", ""); code != 200 {
		t.Errorf("ada reads the outbox: %d", code)
	}
}
