// SPDX-License-Identifier: MIT

package alert

import (
	"encoding/json"
	"fmt"
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
