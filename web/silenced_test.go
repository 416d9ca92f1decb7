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

// downHosts takes hosts down (failures_to_down = 2) and waits until the
// alert engine lists an alert for each.
func downHosts(t *testing.T, d *daemon, hosts ...string) {
	t.Helper()
	now := time.Now()
	for _, h := range hosts {
		d.observe(h, false, 0, now)
		d.observe(h, false, 0, now.Add(time.Millisecond))
	}
	ada := client{url: d.url, token: adaToken}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := ada.do(t, "GET", "/api/v1/alerts", "")
		n := 0
		for _, h := range hosts {
			if strings.Contains(body, `"host":"`+h+`"`) {
				n++
			}
		}
		if n == len(hosts) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts for %v not listed: %s", hosts, body)
		}
	}
}

// silence creates a silence through /api/v1 with the admin's token.
func silence(t *testing.T, d *daemon, body string) apiSilence {
	t.Helper()
	code, resp := client{url: d.url, token: adaToken}.do(t, "POST", "/api/v1/silences", body)
	var s apiSilence
	if code != 201 || json.Unmarshal([]byte(resp), &s) != nil {
		t.Fatalf("silence %s: %d %s", body, code, resp)
	}
	return s
}

// TestDashboardSilenced: the dashboard's alerts (/ui/api/alerts) carry
// the silence covering each alert and count them; silenced=0 hides them;
// a manager sees who made a silence and why only for one pinned to a host
// of hers (a site= silence: its id and end only), the admin sees all.
func TestDashboardSilenced(t *testing.T) {
	d := startDaemon(t, 6, true)
	d.fleetUp(6)
	downHosts(t, d, "h000001", "h000002", "h000003")
	site := silence(t, d, `{"matchers":"site=dc1","for":"3h","comment":"site move"}`) // h000001, h000004
	pinned := silence(t, d, `{"matchers":"host=h000003","for":"1h","comment":"disk swap"}`)

	type row struct {
		Alert struct {
			Host     string `json:"host"`
			Silenced *struct {
				ID       int64     `json:"id"`
				Until    time.Time `json:"until"`
				By       string    `json:"by"`
				Comment  string    `json:"comment"`
				Matchers string    `json:"matchers"`
			} `json:"silenced"`
		} `json:"alert"`
		CanAck bool `json:"can_ack"`
	}
	list := func(c client, q string) (map[string]row, int, int) {
		t.Helper()
		code, body := c.do(t, "GET", "/ui/api/alerts"+q, "")
		var out struct {
			Alerts          []row
			Total, Silenced int
		}
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("GET /ui/api/alerts%s: %d %s", q, code, body)
		}
		m := map[string]row{}
		for _, r := range out.Alerts {
			m[r.Alert.Host] = r
		}
		return m, out.Total, out.Silenced
	}

	ada := sessionOf(t, d.url, "ada", adaPW)
	rows, total, n := list(ada, "")
	if total != 3 || n != 2 || len(rows) != 3 {
		t.Fatalf("ada: %d alerts, %d silenced: %+v", total, n, rows)
	}
	if s := rows["h000001"].Alert.Silenced; s == nil || s.ID != site.ID || s.Comment != "site move" || s.By != "ada" || s.Matchers != "site=dc1" || !s.Until.Equal(site.EndsAt) {
		t.Errorf("ada sees h000001 silenced by %+v, want silence %d", s, site.ID)
	}
	if s := rows["h000003"].Alert.Silenced; s == nil || s.ID != pinned.ID || s.Comment != "disk swap" {
		t.Errorf("ada sees h000003 silenced by %+v", s)
	}
	if s := rows["h000002"].Alert.Silenced; s != nil {
		t.Errorf("h000002 silenced by %+v", s)
	}
	if rows, total, n := list(ada, "?silenced=0"); total != 1 || n != 0 || rows["h000002"].Alert.Host == "" {
		t.Errorf("silenced=0: %d alerts, %d silenced: %+v", total, n, rows)
	}

	// mia manages the odd hosts: h000001 (the site silence, not pinned to
	// a host of hers: id and end only) and h000003 (pinned: whole).
	mia := sessionOf(t, d.url, "mia", miaPW)
	rows, total, n = list(mia, "")
	if total != 2 || n != 2 {
		t.Fatalf("mia: %d alerts, %d silenced: %+v", total, n, rows)
	}
	if s := rows["h000001"].Alert.Silenced; s == nil || s.ID != site.ID || !s.Until.Equal(site.EndsAt) || s.Comment != "" || s.By != "" || s.Matchers != "" {
		t.Errorf("mia sees h000001 silenced by %+v, want id %d and its end only", s, site.ID)
	}
	if s := rows["h000003"].Alert.Silenced; s == nil || s.ID != pinned.ID || s.Comment != "disk swap" || s.Matchers != "host=h000003" {
		t.Errorf("mia sees h000003 silenced by %+v", s)
	}
	// The host page's alerts too.
	code, body := mia.do(t, "GET", "/ui/api/host?name=h000001", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"silenced":{"id":%d,"until":`, site.ID)) || strings.Contains(body, "site move") {
		t.Errorf("mia's host page of h000001: %d %s", code, body)
	}
}

// TestBrowserSilencedAlerts: in Chromium, the alerts page marks the alert
// of a silenced host — a "silenced until …" badge, a muted row — and no
// other; the badge jumps to the silence in the list; its Acknowledge
// still works; "hide silenced" hides it; the host page shows the badge
// and it opens the alerts page at the silence; lifting the silence
// removes the mark.
func TestBrowserSilencedAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	ctx := browser(t)
	d := startDaemon(t, 6, true)
	d.fleetUp(6)
	downHosts(t, d, "h000001", "h000002", "h000003")
	s := silence(t, d, `{"matchers":"host=h000001","for":"2h","comment":"kernel update"}`)

	// rowOf(host) is the alerts table's row of host's alert.
	const rowOf = `const rowOf = h => [...document.querySelectorAll('#alerts tr[data-alert]')].find(r => r.children[1].textContent === h);`
	must(t, ctx, login(d.url, "ada", adaPW), chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS(`#alerts tr[data-alert]`)))
	mustJS(t, ctx, `(() => { `+rowOf+`
		const r = rowOf("h000001"), b = r && r.querySelector('.badge.silenced');
		return document.querySelectorAll('#alerts tr[data-alert]').length === 3 && !!b && b.textContent.startsWith("silenced until ") &&
			b.getAttribute('href') === "/ui/alerts#silence-`+fmt.Sprint(s.ID)+`" && b.title.includes("kernel update") &&
			r.classList.contains("silenced") && getComputedStyle(r.children[1]).color !== getComputedStyle(rowOf("h000002").children[1]).color &&
			document.querySelectorAll('#alerts .badge.silenced').length === 1 && !rowOf("h000002").classList.contains("silenced") && !rowOf("h000003").querySelector('.badge') &&
			document.querySelector('#alert-summary').textContent.includes("3 alerts, 1 of them silenced"); })()`, 5*time.Second)

	// The badge jumps to the silence (flashed), the address says where.
	must(t, ctx, chromedp.Click(chromedp.CSS(`#alerts .badge.silenced`)))
	mustJS(t, ctx, fmt.Sprintf(`location.pathname === "/ui/alerts" && location.hash === "#silence-%d" && document.querySelector('#silence-%d').classList.contains("flash")`, s.ID, s.ID), 5*time.Second)

	// Acknowledge still works on the silenced alert.
	must(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => { `+rowOf+` rowOf("h000001").querySelector('[data-ack]').click(); })()`))
	mustJS(t, ctx, `(() => { `+rowOf+` const r = rowOf("h000001"); return !!r && r.querySelector('td.ack').textContent.includes("acked by ada") && !!r.querySelector('.badge.silenced'); })()`, 5*time.Second)
	if body := getJSON(t, d.url+"/api/v1/alerts?host=h000001", adaToken); !strings.Contains(body, `"acknowledged":true`) || !strings.Contains(body, fmt.Sprintf(`"silenced":{"id":%d`, s.ID)) {
		t.Fatalf("h000001 after the ack: %s", body)
	}

	// Hide silenced: two rows, h000001 gone; shown again: three.
	must(t, ctx, chromedp.Click(chromedp.CSS(`#hide-silenced`)))
	mustJS(t, ctx, `(() => { `+rowOf+` return location.search.includes("silenced=0") && document.querySelectorAll('#alerts tr[data-alert]').length === 2 && !rowOf("h000001") && !document.querySelector('#alerts .badge.silenced'); })()`, 5*time.Second)
	must(t, ctx, chromedp.Click(chromedp.CSS(`#hide-silenced`)))
	mustJS(t, ctx, `document.querySelectorAll('#alerts tr[data-alert]').length === 3 && !location.search.includes("silenced=0")`, 5*time.Second)

	// The host page: the badge on h000001's alert, none on h000002's; it
	// opens the alerts page at the silence.
	must(t, ctx, chromedp.Navigate(d.url+"/ui/host?name=h000002"), chromedp.WaitVisible(chromedp.CSS(`#host-alerts tr[data-alert]`)))
	mustJS(t, ctx, `!document.querySelector('#host-alerts .badge')`, time.Second)
	must(t, ctx, chromedp.Navigate(d.url+"/ui/host?name=h000001"), chromedp.WaitVisible(chromedp.CSS(`#host-alerts .badge.silenced`)),
		chromedp.Click(chromedp.CSS(`#host-alerts .badge.silenced`)))
	mustJS(t, ctx, fmt.Sprintf(`location.pathname === "/ui/alerts" && location.hash === "#silence-%d" && !!document.querySelector('#silence-%d.flash')`, s.ID, s.ID), 5*time.Second)

	// Lift it: the mark is gone.
	must(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#silences [data-lift="%d"]`, s.ID))))
	mustJS(t, ctx, `(() => { `+rowOf+` const r = rowOf("h000001"); return !!r && !r.classList.contains("silenced") && !document.querySelector('#alerts .badge.silenced') &&
		!document.querySelector('#alert-summary').textContent.includes("silenced"); })()`, 5*time.Second)
}
