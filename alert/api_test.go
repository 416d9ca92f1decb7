// SPDX-License-Identifier: MIT

package alert

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// call runs the route serving path on a request.
func call(t *testing.T, e *Engine, method, path, body string) (int, string) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBodyString(body)
	var h fasthttp.RequestHandler
	best := 0
	for _, r := range e.Routes(nil, nil) {
		p := string(ctx.Path())
		if strings.HasPrefix(p, r.Prefix) && len(r.Prefix) > best && (len(p) == len(r.Prefix) || p[len(r.Prefix)] == '/') {
			h, best = r.Handler, len(r.Prefix)
		}
	}
	if h == nil {
		t.Fatalf("no route for %s", path)
	}
	h(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

func TestAPI(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("web1", "role=web")
	fx.host("db1", "role=db")
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.check("db1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	fx.sent()
	now = func() time.Time { return fx.now }
	defer func() { now = time.Now }()

	code, body := call(t, fx.e, "GET", "/api/v1/alerts?match=role%3Dweb", "")
	var list struct{ Alerts []Alert }
	json.Unmarshal([]byte(body), &list)
	if code != 200 || len(list.Alerts) != 1 || list.Alerts[0].Host != "web1" || list.Alerts[0].Level != Critical {
		t.Fatalf("list: %d %s", code, body)
	}
	id := list.Alerts[0].ID
	if code, body := call(t, fx.e, "GET", "/api/v1/alerts/summary", ""); code != 200 || !strings.Contains(body, `"critical":2`) {
		t.Errorf("summary: %d %s", code, body)
	}
	if code, _ := call(t, fx.e, "GET", fmt.Sprintf("/api/v1/alerts/%d/ack", id), ""); code != 405 {
		t.Errorf("GET ack: %d", code)
	}
	if code, _ := call(t, fx.e, "POST", "/api/v1/alerts/123/ack", ""); code != 404 {
		t.Errorf("ack unknown: %d", code)
	}
	if code, _ := call(t, fx.e, "POST", "/api/v1/alerts/x/ack", ""); code != 400 {
		t.Errorf("ack bad id: %d", code)
	}
	if code, body := call(t, fx.e, "POST", fmt.Sprintf("/api/v1/alerts/%d/ack", id), `{"by":"alice","comment":"on it"}`); code != 200 || !strings.Contains(body, `"acknowledged_by":"alice"`) {
		t.Errorf("ack: %d %s", code, body)
	}
	if code, body := call(t, fx.e, "GET", "/api/v1/alerts?acked=false", ""); code != 200 || strings.Contains(body, "web1") || !strings.Contains(body, "db1") {
		t.Errorf("acked filter: %s", body)
	}
	if code, _ := call(t, fx.e, "GET", "/api/v1/alerts?level=bad", ""); code != 400 {
		t.Errorf("bad level: %d", code)
	}

	// Silences: create (for), list, get, bad input, delete.
	code, body = call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=db1","author":"bob","comment":"upgrade","for":"1h"}`)
	var s Silence
	json.Unmarshal([]byte(body), &s)
	if code != 201 || s.ID == 0 || !s.EndsAt.Equal(fx.now.Add(time.Hour)) {
		t.Fatalf("create silence: %d %s", code, body)
	}
	for _, bad := range []string{`{"matchers":""}`, `{"matchers":"host=db1"}`, `{"matchers":"host=~(","for":"1h"}`, `{"matchers":"a=b","schedule":"* * *","duration":"1h"}`, `nope`, `{"matchers":"a=b","for":"-1h"}`} {
		if code, body := call(t, fx.e, "POST", "/api/v1/silences", bad); code != 400 {
			t.Errorf("bad silence %s: %d %s", bad, code, body)
		}
	}
	code, body = call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"role=db","schedule":"0 2 * * 0","duration":"2h","author":"ops"}`)
	if code != 201 || !strings.Contains(body, `"schedule":"0 2 * * 0"`) {
		t.Errorf("maintenance window: %d %s", code, body)
	}
	if code, body := call(t, fx.e, "GET", "/api/v1/silences", ""); code != 200 || strings.Count(body, `"id":`) != 2 {
		t.Errorf("list silences: %s", body)
	}
	if code, _ := call(t, fx.e, "GET", fmt.Sprintf("/api/v1/silences/%d", s.ID), ""); code != 200 {
		t.Errorf("get silence: %d", code)
	}
	if code, _ := call(t, fx.e, "DELETE", fmt.Sprintf("/api/v1/silences/%d", s.ID), ""); code != 200 {
		t.Errorf("delete silence: %d", code)
	}
	if code, _ := call(t, fx.e, "DELETE", fmt.Sprintf("/api/v1/silences/%d", s.ID), ""); code != 404 {
		t.Errorf("delete again: %d", code)
	}

	// hbd-compatible endpoints.
	code, body = call(t, fx.e, "GET", "/api/0/alerts", "")
	var hb []hbdAlert
	json.Unmarshal([]byte(body), &hb)
	if code != 200 || len(hb) != 2 || hb[0].Severity != "critical" {
		t.Errorf("hbd alerts: %s", body)
	}
	if code, body := call(t, fx.e, "GET", "/api/0/alert_summary", ""); code != 200 || !strings.Contains(body, `"critical":2`) || !strings.Contains(body, `"acknowledged":1`) {
		t.Errorf("hbd summary: %s", body)
	}
	if code, body := call(t, fx.e, "POST", "/api/0/alerts/acknowledge", `{"hostname":"db1","user":"carol"}`); code != 200 || body != "{\"acknowledged\":1}\n" {
		t.Errorf("hbd ack: %d %q", code, body)
	}
	if code, _ := call(t, fx.e, "POST", "/api/0/alerts/acknowledge", `{}`); code != 400 {
		t.Errorf("hbd ack without target: %d", code)
	}
	if s := fx.e.Summary(); s.Acknowledged != 2 {
		t.Errorf("summary after acks %+v", s)
	}
	if code, _ := call(t, fx.e, "GET", "/api/v1/notifications", ""); code != 503 {
		t.Errorf("notifications without outbox: %d", code)
	}
}

// TestSilenceUpdate: PATCH /api/v1/silences/{id} extends a silence
// (extend, for, ends_at) or changes its comment, records who did, refuses
// bad changes leaving the silence as it was, survives a restart, and a
// silence cut short stops muting: the alert it held is notified.
func TestSilenceUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	fx := newFixture(t, nil, path)
	now = func() time.Time { return fx.now }
	defer func() { now = time.Now }()
	fx.host("db1")
	code, body := call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=db1","author":"bob","comment":"upgrade","for":"1h"}`)
	var s Silence
	if code != 201 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("create: %d %s", code, body)
	}
	start := fx.now
	p := fmt.Sprintf("/api/v1/silences/%d", s.ID)
	patch := func(body string) (int, Silence, string) {
		t.Helper()
		code, b := call(t, fx.e, "PATCH", p, body)
		var out Silence
		json.Unmarshal([]byte(b), &out)
		return code, out, b
	}
	if code, got, b := patch(`{"extend":"1h","by":"carol"}`); code != 200 || !got.EndsAt.Equal(start.Add(2*time.Hour)) || got.UpdatedBy != "carol" || got.Comment != "upgrade" || got.Author != "bob" {
		t.Fatalf("extend: %d %s", code, b)
	}
	if code, got, b := patch(`{"comment":"upgrade, then reindex"}`); code != 200 || got.Comment != "upgrade, then reindex" || !got.EndsAt.Equal(start.Add(2*time.Hour)) || got.UpdatedBy != "api" {
		t.Fatalf("comment: %d %s", code, b)
	}
	if code, got, b := patch(`{"for":"3h"}`); code != 200 || !got.EndsAt.Equal(start.Add(3*time.Hour)) {
		t.Fatalf("for: %d %s", code, b)
	}
	end := start.Add(5 * time.Hour).Format(time.RFC3339)
	if code, got, b := patch(`{"ends_at":"` + end + `","comment":"long one"}`); code != 200 || got.EndsAt.Format(time.RFC3339) != end || got.Comment != "long one" {
		t.Fatalf("ends_at: %d %s", code, b)
	}
	for _, bad := range []string{`{}`, `nope`, `{"for":"-1h"}`, `{"extend":"soon"}`, `{"for":"1h","extend":"1h"}`, `{"ends_at":"` + start.Add(-time.Hour).Format(time.RFC3339) + `"}`, `{"ends_at":"tomorrow"}`} {
		if code, _, b := patch(bad); code != 400 {
			t.Errorf("PATCH %s: %d %s, want 400", bad, code, b)
		}
	}
	if code, _ := call(t, fx.e, "PATCH", "/api/v1/silences/999", `{"for":"1h"}`); code != 404 {
		t.Errorf("PATCH unknown: %d", code)
	}
	if code, _ := call(t, fx.e, "PUT", p, `{"for":"1h"}`); code != 405 {
		t.Errorf("PUT: %d", code)
	}
	if ss := fx.e.Silences(fx.now, true); len(ss) != 1 || ss[0].EndsAt.Format(time.RFC3339) != end || ss[0].Comment != "long one" {
		t.Fatalf("after refused changes: %+v", ss)
	}

	// Restart: the change is in the database.
	fx2 := newFixture(t, nil, path)
	fx2.hosts, fx2.now = fx.hosts, fx.now
	if ss := fx2.e.Silences(fx2.now, true); len(ss) != 1 || ss[0].EndsAt.Format(time.RFC3339) != end || ss[0].Comment != "long one" || ss[0].UpdatedBy != "api" {
		t.Fatalf("after a restart: %+v", ss)
	}

	// The silence mutes db1 going down; cut short, it lets the alert out.
	fx2.check("db1", "icmp", obs.KindICMP, state.Down)
	fx2.advance(3 * time.Second)
	fx2.expect("while silenced", map[string]int{}, "")
	fx = fx2
	if code, _, b := patch(`{"for":"1s"}`); code != 200 {
		t.Fatalf("cut short: %d %s", code, b)
	}
	fx2.advance(2 * time.Second)
	fx2.advance(3 * time.Second)
	fx2.expect("after the silence ended", map[string]int{"ops": 1, "pager": 1}, "db1 icmp is down")
}

// callAs runs the route serving path as the caller c (access returns it).
func callAs(t *testing.T, e *Engine, c Caller, method, path string) (int, string) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	best := 0
	var h fasthttp.RequestHandler
	for _, r := range e.Routes(nil, func(*fasthttp.RequestCtx) (Caller, bool) { return c, true }) {
		p := string(ctx.Path())
		if strings.HasPrefix(p, r.Prefix) && len(r.Prefix) > best && (len(p) == len(r.Prefix) || p[len(r.Prefix)] == '/') {
			h, best = r.Handler, len(r.Prefix)
		}
	}
	if h == nil {
		t.Fatalf("no route for %s", path)
	}
	h(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

// TestAPISilenced: the alert lists carry what silences an alert now —
// /api/v1/alerts as "silenced": {id, until, by, comment, matchers}, with
// a silenced= filter, /api/0/alerts as silenced, silence_id,
// silenced_until (added to hbd's shape, which keeps its fields); the
// summaries count silenced alerts (in their level too); a non-admin sees
// who made a silence and why only when it is pinned to a host of theirs.
func TestAPISilenced(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("web1", "site=dc1")
	fx.host("db1", "site=dc1")
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.check("db1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	now = func() time.Time { return fx.now }
	defer func() { now = time.Now }()

	type listed struct {
		Alerts []struct {
			Host     string          `json:"host"`
			Level    string          `json:"level"`
			Silenced json.RawMessage `json:"silenced"`
		}
	}
	list := func(path string) map[string]string {
		t.Helper()
		code, body := call(t, fx.e, "GET", path, "")
		var l listed
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		out := map[string]string{}
		for _, a := range l.Alerts {
			out[a.Host] = string(a.Silenced)
		}
		return out
	}
	if got := list("/api/v1/alerts"); len(got) != 2 || got["web1"] != "" || got["db1"] != "" {
		t.Fatalf("before any silence: %v", got)
	}
	code, body := call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"host=web1","author":"alice","comment":"kernel update","for":"2h"}`)
	var s Silence
	if code != 201 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("silence: %d %s", code, body)
	}
	until := fx.now.Add(2 * time.Hour).UTC().Format(time.RFC3339)
	want := fmt.Sprintf(`{"id":%d,"until":%q,"by":"alice","comment":"kernel update","matchers":"host=web1"}`, s.ID, until)
	if got := list("/api/v1/alerts"); len(got) != 2 || got["web1"] != want || got["db1"] != "" {
		t.Errorf("alerts: %v\nwant web1 %s", got, want)
	}
	if got := list("/api/v1/alerts?silenced=false"); len(got) != 1 || got["db1"] != "" {
		t.Errorf("silenced=false: %v", got)
	}
	if got := list("/api/v1/alerts?silenced=1"); len(got) != 1 || got["web1"] != want {
		t.Errorf("silenced=1: %v", got)
	}
	if code, body := call(t, fx.e, "GET", "/api/v1/alerts/summary", ""); code != 200 || !strings.Contains(body, `"critical":2`) || !strings.Contains(body, `"silenced":1`) || !strings.Contains(body, `"total":2`) {
		t.Errorf("summary: %d %s", code, body)
	}
	code, body = call(t, fx.e, "GET", "/api/0/alerts", "")
	var hb []map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &hb) != nil || len(hb) != 2 {
		t.Fatalf("hbd alerts: %d %s", code, body)
	}
	for _, a := range hb {
		if len(a) != 14 {
			t.Errorf("hbd alert has %d fields, want hbd's 11 and silenced, silence_id, silenced_until: %v", len(a), a)
		}
		switch a["hostname"] {
		case "web1":
			if a["silenced"] != true || a["silence_id"] != float64(s.ID) || a["silenced_until"] != float64(fx.now.Add(2*time.Hour).Unix()) {
				t.Errorf("hbd web1: %v", a)
			}
		case "db1":
			if a["silenced"] != false || a["silence_id"] != 0.0 || a["silenced_until"] != 0.0 {
				t.Errorf("hbd db1: %v", a)
			}
		}
	}
	if code, body := call(t, fx.e, "GET", "/api/0/alert_summary", ""); code != 200 || !strings.Contains(body, `"silenced":1`) || !strings.Contains(body, `"critical":2`) {
		t.Errorf("hbd summary: %d %s", code, body)
	}
	var m strings.Builder
	fx.e.WriteTo(&m)
	if !strings.Contains(m.String(), "hb_alerts_silenced 1\n") {
		t.Errorf("metrics lack hb_alerts_silenced 1:\n%s", m.String())
	}

	// A non-admin who sees both hosts: web1's silence is pinned to a host
	// of theirs (shown whole); a site=dc1 silence is not (id and end only).
	code, body = call(t, fx.e, "POST", "/api/v1/silences", `{"matchers":"site=dc1","author":"ops","comment":"secret reason","for":"3h"}`)
	var s2 Silence
	if code != 201 || json.Unmarshal([]byte(body), &s2) != nil {
		t.Fatalf("silence: %d %s", code, body)
	}
	user := Caller{User: "mia", View: func(string) bool { return true }, Act: func(string) bool { return true }}
	code, body = callAs(t, fx.e, user, "GET", "/api/v1/alerts")
	var l listed
	if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(l.Alerts) != 2 {
		t.Fatalf("mia's alerts: %d %s", code, body)
	}
	for _, a := range l.Alerts {
		var sl Silenced
		json.Unmarshal(a.Silenced, &sl)
		// Both are covered by the dc1 silence now (it lasts longer).
		if sl.ID != s2.ID || !sl.Until.Equal(fx.now.Add(3*time.Hour)) || sl.By != "" || sl.Comment != "" || sl.Matchers != "" {
			t.Errorf("mia sees %s silenced by %s", a.Host, a.Silenced)
		}
	}
	if code, body := callAs(t, fx.e, user, "GET", "/api/v1/alerts/summary"); code != 200 || !strings.Contains(body, `"silenced":2`) {
		t.Errorf("mia's summary: %d %s", code, body)
	}
	if got := list("/api/v1/alerts"); !strings.Contains(got["db1"], `"comment":"secret reason"`) {
		t.Errorf("the admin sees db1 as %s", got["db1"])
	}
}
