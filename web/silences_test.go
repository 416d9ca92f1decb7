// SPDX-License-Identifier: MIT

package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

type apiSilence struct {
	ID        int64     `json:"id"`
	Matchers  string    `json:"matchers"`
	Comment   string    `json:"comment"`
	EndsAt    time.Time `json:"ends_at"`
	UpdatedBy string    `json:"updated_by"`
	CanChange *bool     `json:"can_change"`
}

// silencesOf is GET path ("/api/v1/silences" or "/ui/api/silences") as c
// sees it, by id.
func silencesOf(t *testing.T, c client, path string) map[int64]apiSilence {
	t.Helper()
	code, body := c.do(t, "GET", path, "")
	var out struct{ Silences []apiSilence }
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	m := map[int64]apiSilence{}
	for _, s := range out.Silences {
		m[s.ID] = s
	}
	return m
}

// TestSilenceChange: changing and lifting silences through the real
// daemon's HTTP server, on /api/v1 (PATCH, DELETE) and the dashboard's
// silences/{id} (PATCH, DELETE, with the session's CSRF token), with the
// roles that apply to creating them: a manager extends, re-comments and
// lifts the silences of her hosts; a monitor sees them (can_change
// false) and gets 403; a silence of a host she cannot see is 404 to her;
// a session's change without its CSRF token is 403.
func TestSilenceChange(t *testing.T) {
	d := startDaemon(t, 4, true)
	ada := client{url: d.url, token: adaToken}
	mia := sessionOf(t, d.url, "mia", miaPW)
	miaTok := client{url: d.url, token: miaToken}
	moe := sessionOf(t, d.url, "moe", moePW)
	moeTok := client{url: d.url, token: moeToken}
	create := func(host string) apiSilence {
		t.Helper()
		code, body := ada.do(t, "POST", "/api/v1/silences", `{"matchers":"host=`+host+`","for":"1h","comment":"kernel update"}`)
		var s apiSilence
		if code != 201 || json.Unmarshal([]byte(body), &s) != nil {
			t.Fatalf("create: %d %s", code, body)
		}
		return s
	}
	olgas, ottos := create("h000001"), create("h000002")
	p := func(s apiSilence, ui bool) string {
		if ui {
			return fmt.Sprintf("/ui/api/silences/%d", s.ID)
		}
		return fmt.Sprintf("/api/v1/silences/%d", s.ID)
	}

	// What each sees on the dashboard.
	if got := silencesOf(t, moe, "/ui/api/silences"); len(got) != 1 || got[olgas.ID].CanChange == nil || *got[olgas.ID].CanChange {
		t.Errorf("moe's dashboard silences: %+v, want olga's host's, can_change false", got)
	}
	if got := silencesOf(t, mia, "/ui/api/silences"); len(got) != 1 || got[olgas.ID].CanChange == nil || !*got[olgas.ID].CanChange {
		t.Errorf("mia's dashboard silences: %+v, want olga's host's, can_change true", got)
	}

	for _, s := range []struct {
		name         string
		c            client
		method, path string
		body         string
		want         int
	}{
		{"monitor extends on the dashboard", moe, "PATCH", p(olgas, true), `{"extend":"1h"}`, 403},
		{"monitor lifts on the dashboard", moe, "DELETE", p(olgas, true), "", 403},
		{"monitor extends through /api/v1", moeTok, "PATCH", p(olgas, false), `{"extend":"1h"}`, 403},
		{"manager lifts without the CSRF token", client{url: d.url, cookie: mia.cookie}, "DELETE", p(olgas, true), "", 403},
		{"manager extends without the CSRF token", client{url: d.url, cookie: mia.cookie}, "PATCH", p(olgas, true), `{"extend":"1h"}`, 403},
		{"manager extends otto's on the dashboard", mia, "PATCH", p(ottos, true), `{"extend":"1h"}`, 404},
		{"manager extends otto's through /api/v1", miaTok, "PATCH", p(ottos, false), `{"extend":"1h"}`, 404},
		{"manager lifts otto's on the dashboard", mia, "DELETE", p(ottos, true), "", 404},
		{"manager gives nothing to change", mia, "PATCH", p(olgas, true), `{}`, 400},
		{"manager ends it before it starts", miaTok, "PATCH", p(olgas, false), `{"ends_at":"2001-01-01T00:00:00Z"}`, 400},
		{"anonymous", client{url: d.url}, "PATCH", p(olgas, false), `{"extend":"1h"}`, 401},
	} {
		if code, body := s.c.do(t, s.method, s.path, s.body); code != s.want {
			t.Errorf("%s: %s %s answered %d %s, want %d", s.name, s.method, s.path, code, body, s.want)
		}
	}
	all := silencesOf(t, ada, "/api/v1/silences")
	if len(all) != 2 || !all[olgas.ID].EndsAt.Equal(olgas.EndsAt) || !all[ottos.ID].EndsAt.Equal(ottos.EndsAt) || all[olgas.ID].UpdatedBy != "" {
		t.Fatalf("a refused request changed a silence: %+v", all)
	}

	// The manager extends (dashboard), re-comments (her token) and lifts.
	code, body := mia.do(t, "PATCH", p(olgas, true), `{"extend":"1h"}`)
	var got apiSilence
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || !got.EndsAt.Equal(olgas.EndsAt.Add(time.Hour)) || got.UpdatedBy != "mia" {
		t.Fatalf("mia extends on the dashboard: %d %s", code, body)
	}
	if code, body := miaTok.do(t, "PATCH", p(olgas, false), `{"comment":"kernel and firmware","by":"not-mia"}`); code != 200 || !strings.Contains(body, `"comment":"kernel and firmware"`) || !strings.Contains(body, `"updated_by":"mia"`) {
		t.Fatalf("mia re-comments through /api/v1: %d %s", code, body)
	}
	if code, body := mia.do(t, "DELETE", p(olgas, true), ""); code != 200 {
		t.Fatalf("mia lifts on the dashboard: %d %s", code, body)
	}
	if all := silencesOf(t, ada, "/api/v1/silences?all=1"); len(all) != 1 || all[ottos.ID].ID == 0 {
		t.Fatalf("after mia lifted hers: %+v", all)
	}
	// The API token (admin) extends otto's with ends_at.
	end := ottos.EndsAt.Add(24 * time.Hour).UTC().Format(time.RFC3339)
	if code, body := ada.do(t, "PATCH", p(ottos, false), `{"ends_at":"`+end+`"}`); code != 200 || !strings.Contains(body, `"ends_at":"`+end+`"`) || !strings.Contains(body, `"updated_by":"ada"`) {
		t.Fatalf("ada sets ends_at: %d %s", code, body)
	}
}

// TestBrowserSilences: in Chromium, the alerts page lists the silences
// of the hosts the user may see; a monitor gets no buttons; a manager
// silences a host with the form, extends the silence by an hour and
// lifts it with its buttons (their DELETE and PATCH carry the session's
// CSRF token, or the server would refuse them), and the engine agrees.
func TestBrowserSilences(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	ctx := browser(t)
	d := startDaemon(t, 4, true)
	d.fleetUp(4)
	ada := client{url: d.url, token: adaToken}
	if code, body := ada.do(t, "POST", "/api/v1/silences", `{"matchers":"host=h000001","for":"1h","comment":"kernel update"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}

	// The monitor sees the silence of his host, without buttons.
	must(t, ctx, login(d.url, "moe", moePW), chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#silence-list")))
	mustJS(t, ctx, `document.querySelectorAll('#silence-list tbody tr').length === 1 && document.querySelector('#silence-list tbody tr').textContent.includes("kernel update") &&
		!document.querySelector('#silences [data-lift]') && !document.querySelector('#silences [data-extend]')`, 5*time.Second)
	must(t, ctx, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))

	// The manager: the same silence with buttons; she adds one with the form.
	must(t, ctx, login(d.url, "mia", miaPW), chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#silences [data-lift]")))
	must(t, ctx, chromedp.SendKeys(chromedp.CSS(`#silence input[name="host"]`), "h000003"),
		chromedp.SendKeys(chromedp.CSS(`#silence input[name="comment"]`), "disk swap"),
		chromedp.Click(chromedp.CSS(`#silence button[type="submit"]`)))
	mustJS(t, ctx, `document.querySelectorAll('#silences [data-lift]').length === 2`, 5*time.Second)
	ss := silencesOf(t, ada, "/api/v1/silences")
	var mine apiSilence
	for _, s := range ss {
		if s.Matchers == "host=h000003" {
			mine = s
		}
	}
	if len(ss) != 2 || mine.ID == 0 || mine.Comment != "disk swap" {
		t.Fatalf("after the form: %+v", ss)
	}

	// +1h on her new silence: one hour later, changed by her.
	must(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#silences [data-extend="%d"]`, mine.ID))))
	deadline := time.Now().Add(5 * time.Second)
	for s := silencesOf(t, ada, "/api/v1/silences")[mine.ID]; !s.EndsAt.Equal(mine.EndsAt.Add(time.Hour)) || s.UpdatedBy != "mia"; s = silencesOf(t, ada, "/api/v1/silences")[mine.ID] {
		if time.Now().After(deadline) {
			t.Fatalf("after +1h: %+v, want ends_at %v by mia\n%s", s, mine.EndsAt.Add(time.Hour), pageDump(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Lift it: gone from the page and from the engine; the other stays.
	must(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#silences [data-lift="%d"]`, mine.ID))))
	mustJS(t, ctx, fmt.Sprintf(`!document.querySelector('#silences tr[data-silence="%d"]') && document.querySelectorAll('#silence-list tbody tr').length === 1`, mine.ID), 5*time.Second)
	if ss := silencesOf(t, ada, "/api/v1/silences?all=1"); len(ss) != 1 || ss[mine.ID].ID != 0 {
		t.Fatalf("after lifting: %+v", ss)
	}
	// And the last one: the list says none.
	must(t, ctx, chromedp.Click(chromedp.CSS(`#silences [data-lift]`)))
	mustJS(t, ctx, `document.querySelector('#silences').textContent.includes("None.")`, 5*time.Second)
	if ss := silencesOf(t, ada, "/api/v1/silences?all=1"); len(ss) != 0 {
		t.Fatalf("after lifting both: %+v", ss)
	}
}
