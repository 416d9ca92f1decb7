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
	shot("alerts.png", chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#alerts table, #alerts p")))
	shot("settings.png", chromedp.Navigate(d.url+"/ui/settings"), chromedp.WaitVisible(chromedp.CSS("#settings")))
	shot("login.png", chromedp.Navigate(d.url+"/ui/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
}
