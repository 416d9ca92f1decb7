// SPDX-License-Identifier: MIT

package web_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestScreenshots writes a screenshot of every page at 100k hosts into
// $HB_SCREENSHOTS (docs/screenshots): `HB_SCREENSHOTS=$PWD/docs/screenshots
// go test ./web -run TestScreenshots`. Skipped otherwise.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("HB_SCREENSHOTS")
	if dir == "" {
		t.Skip("set HB_SCREENSHOTS=DIR to write the dashboard's screenshots")
	}
	const n = 100_000
	d := startDaemon(t, n, true)
	d.fillFleet(t, n)
	time.Sleep(1500 * time.Millisecond) // the alert engine evaluates once a second; the store flushes
	for _, ep := range []string{"/ui/api/alerts", "/ui/api/hosts", "/ui/api/events"} {
		t0 := time.Now()
		b := getJSON(t, d.url+ep, adaToken)
		t.Logf("%s: %d bytes in %v", ep, len(b), time.Since(t0))
	}
	ctx := browser(t)
	must(t, ctx, login(d.url, "ada", adaPW))
	shot := func(file string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		must(t, ctx, steps...)
		time.Sleep(300 * time.Millisecond)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(dir, 0o755)
	shot("overview.png", chromedp.Navigate(d.url+"/ui/?limit=40"), chromedp.WaitVisible(chromedp.CSS("#hosts tbody tr")))
	shot("overview-down.png", chromedp.Navigate(d.url+"/ui/?state=down&label=site%3Ddc1&limit=40"), chromedp.WaitVisible(chromedp.CSS("#hosts tbody tr")))
	shot("host.png", chromedp.Navigate(d.url+"/ui/host?name=h000001&r=6h"), chromedp.WaitVisible(chromedp.CSS("#checks")),
		chromedp.Click(chromedp.CSS(`[data-range="6h"]`)), chromedp.Sleep(time.Second))
	// Silences as an operator leaves them: two pinned to a host (with
	// +1h and Lift for the admin), a weekly window (Lift only).
	ada := client{url: d.url, token: adaToken}
	for _, body := range []string{
		`{"matchers":"host=h000007","for":"2h","comment":"kernel update"}`,
		`{"matchers":"host=h000057,check=icmp","for":"30m","comment":"switch port swap"}`,
		`{"matchers":"site=dc2","schedule":"0 2 * * 0","duration":"2h","comment":"weekly maintenance window"}`,
	} {
		if code, resp := ada.do(t, "POST", "/api/v1/silences", body); code != 201 {
			t.Fatalf("silence %s: %d %s", body, code, resp)
		}
	}
	shot("alerts.png", chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#alerts table")),
		chromedp.WaitVisible(chromedp.CSS("#silences [data-lift]")))
	// The two silenced hosts' alerts (the first rows) carry the badge, no
	// other does (unless the weekly window is open: Sunday 02:00-04:00 UTC).
	expr := `(() => { const rows = [...document.querySelectorAll('#alerts tr.silenced')].map(r => r.children[1].textContent);
		return rows[0] === "h000007" && rows[1] === "h000057" && document.querySelectorAll('#alerts tr.silenced .badge.silenced').length === rows.length; })()`
	if u := time.Now().UTC(); u.Weekday() != time.Sunday || u.Hour() < 2 || u.Hour() >= 4 {
		expr += ` && document.querySelectorAll('#alerts .badge.silenced').length === 2`
	}
	mustJS(t, ctx, expr, 5*time.Second)
	// The page's foot: the silence form and the active silences, each
	// with its buttons (+1h only where the silence has an end).
	mustJS(t, ctx, `document.querySelectorAll('#silence-list tbody tr').length === 3 &&
		document.querySelectorAll('#silences [data-lift]').length === 3 && document.querySelectorAll('#silences [data-extend]').length === 2`, 5*time.Second)
	mustJS(t, ctx, `(document.querySelector('#silence').previousElementSibling.scrollIntoView({block: 'start'}), true)`, 5*time.Second)
	shot("silences.png")
	shot("settings.png", chromedp.Navigate(d.url+"/ui/settings"), chromedp.WaitVisible(chromedp.CSS("#settings")))
	shot("login.png", chromedp.Navigate(d.url+"/ui/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
}
