// SPDX-License-Identifier: MIT

package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/monitor"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/web"
)

// feed is a source the test drives: it hands the test the monitor's sink,
// so observations go through the real writer, table, bus, hub and
// stream, exactly as the prober's do. (A netns fleet with a cut route
// would need Chromium inside the namespace to reach the API's loopback;
// the observation path from the sink on is the same.)
type feed struct {
	mu     sync.Mutex // guards gen, checks
	gen    uint64
	checks map[string]obs.Check // by host
	sink   chan obs.Sink
}

func newFeed() *feed { return &feed{sink: make(chan obs.Sink, 1), checks: map[string]obs.Check{}} }

func (f *feed) Name() string      { return "feed" }
func (f *feed) Kinds() []obs.Kind { return []obs.Kind{obs.KindICMP} }
func (f *feed) SetChecks(gen uint64, cs []obs.Check) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen = gen
	clear(f.checks)
	for _, c := range cs {
		f.checks[c.Spec.Host] = c
	}
}
func (f *feed) Run(ctx context.Context, s obs.Sink) error {
	f.sink <- s
	<-ctx.Done()
	return nil
}

// daemon is a running monitor with the dashboard on loopback.
type daemon struct {
	url    string
	m      *monitor.Monitor
	feed   *feed
	sink   obs.Sink
	reload chan struct{} // a send is a SIGHUP
	stop   func()        // ends the daemon (also at the end of the test)
}

// observe applies one result to host's check through the monitor's sink.
func (d *daemon) observe(host string, ok bool, rtt time.Duration, at time.Time) {
	d.feed.mu.Lock()
	c, ok0 := d.feed.checks[host]
	gen := d.feed.gen
	d.feed.mu.Unlock()
	if !ok0 {
		panic("no check for host " + host)
	}
	o := obs.Observation{At: at, Outcome: obs.OK, RTT: rtt, Method: obs.MethodUser}
	if !ok {
		o = obs.Observation{At: at, Outcome: obs.Timeout, Problem: "timeout: no reply within 1s"}
	}
	d.sink.Observe(gen, c.ID, o)
}

const (
	adaPW    = "ada-password-1"
	adaToken = "ada-api-token"
	miaPW    = "mia-password-1"
	miaToken = "mia-api-token"
	moePW    = "moe-password-1"
	moeToken = "moe-api-token"
)

var hashes struct {
	sync.Mutex
	m map[string]string
}

// hashFor is the hash of pw, the same for every daemon a test binary
// starts (a changed hash would end the sessions a restart must keep).
func hashFor(t testing.TB, pw string) string {
	hashes.Lock()
	defer hashes.Unlock()
	if h, ok := hashes.m[pw]; ok {
		return h
	}
	h, err := web.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if hashes.m == nil {
		hashes.m = map[string]string{}
	}
	hashes.m[pw] = h
	return h
}

// startDaemon runs hb-probe's monitor over n hosts named h000001…: hosts
// with an odd number are owned by olga, managed by mia and monitored by
// moe, even ones owned by otto. Users: ada (admin), mia (manager of
// olga's hosts), moe (monitor of them), each with a password and a token.
func startDaemon(t testing.TB, n int, store bool, mods ...func(*config.Probe)) *daemon {
	t.Helper()
	dir := t.TempDir()
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		owner := "otto"
		extra := ""
		if i%2 == 1 {
			owner, extra = "olga", " managers=mia monitors=moe"
		}
		fmt.Fprintf(&sb, "198.%d.%d.%d name=h%06d owner=%s%s site=dc%d\n", 18+i>>16, (i>>8)&0xff, i&0xff, i, owner, extra, i%3)
	}
	targets := filepath.Join(dir, "targets")
	if err := os.WriteFile(targets, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.MaxTargets = targets, n+10
	cfg.Store.DB = filepath.Join(dir, "hb.db")
	cfg.Users = []config.User{{Name: "ada", Admin: true, Password: hashFor(t, adaPW), Tokens: []string{web.TokenHash(adaToken)}}, {Name: "mia", Password: hashFor(t, miaPW), Tokens: []string{web.TokenHash(miaToken)}},
		{Name: "moe", Password: hashFor(t, moePW), Tokens: []string{web.TokenHash(moeToken)}},
		{Name: "olga"}, {Name: "otto"}}
	cfg.Alerts.Rules = []config.AlertRule{{Name: "down", State: "down"}}
	cfg.Alerts.GroupWait = config.Duration(0)
	for _, m := range mods {
		m(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFeed()
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	m, err := monitor.New(ctx, cfg, "", monitor.Options{Sources: []obs.Source{f}, Listener: ln, NoStore: !store,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Reload: reload})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			ln.Close()
		})
	}
	t.Cleanup(stop)
	d := &daemon{url: "http://" + ln.Addr().String(), m: m, feed: f, sink: <-f.sink, reload: reload, stop: stop}
	return d
}

// fleetUp makes every host up with a few results.
func (d *daemon) fleetUp(n int) {
	now := time.Now()
	for r := 3; r >= 1; r-- {
		for i := 1; i <= n; i++ {
			d.observe(fmt.Sprintf("h%06d", i), true, time.Duration(200+i%700)*time.Microsecond+time.Duration(r)*50*time.Microsecond, now.Add(-time.Duration(r)*time.Second))
		}
	}
}

// browser starts headless Chromium (Debian's chromium) with a fresh
// profile; the test skips when it is not installed. The context it
// returns ends 120 s after the call: call it once slow set-up (building
// a binary, starting a daemon) is done.
func browser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (scripts/install-deps.sh installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("chromium does not start: %v", err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second) // after the first run: bounds the steps, not the browser
	t.Cleanup(cancelT)
	return ctx
}

func login(url, user, pw string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url+"/ui/login"),
		chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#hosts")),
	)
}

// waitJS polls expr until it is true or d passes.
func waitJS(ctx context.Context, expr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true within %v: %s", d, expr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%v\n%s", err, pageDump(ctx))
	}
}

func mustJS(t *testing.T, ctx context.Context, expr string, d time.Duration) {
	t.Helper()
	if err := waitJS(ctx, expr, d); err != nil {
		t.Fatalf("%v\n%s", err, pageDump(ctx))
	}
}

// pageDump is the page's address and main text, for failures.
func pageDump(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, _ := chromedp.Run(c, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 3000)`))
	return s
}

func TestBrowserDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	ctx := browser(t)
	const n = 40
	d := startDaemon(t, n, true)
	d.fleetUp(n)

	// Unauthenticated: the dashboard redirects to the login page.
	must(t, ctx, chromedp.Navigate(d.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if loc := location(t, ctx); !strings.Contains(loc, "/ui/login?next=") {
		t.Fatalf("unauthenticated /ui/ went to %s", loc)
	}
	// A wrong password is refused on the page.
	must(t, ctx, chromedp.SendKeys(chromedp.CSS("#user"), "ada"), chromedp.SendKeys(chromedp.CSS("#password"), "wrong"),
		chromedp.Click(chromedp.CSS("#login-submit")))
	mustJS(t, ctx, `document.querySelector('#login-error').textContent.includes("wrong user or password")`, 5*time.Second)

	// Log in as the admin: the whole fleet, all up.
	must(t, ctx, login(d.url, "ada", adaPW))
	mustJS(t, ctx, `document.querySelector('.count[data-state="up"] b').textContent === "40" && document.querySelectorAll('#hosts tbody tr').length === 40`, 5*time.Second)
	// Server-side filter: a name search.
	must(t, ctx, chromedp.SendKeys(chromedp.CSS("#search"), "h00001"), chromedp.Submit(chromedp.CSS("#search")))
	mustJS(t, ctx, `location.search.includes("q=h00001") && document.querySelectorAll('#hosts tbody tr').length === 10`, 5*time.Second)

	// Watch h000013 go down live: no reload (the marker survives), within
	// 2 s of its state change (the bound; the figure is logged).
	must(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](`window.__marker = 1`)(ctx, tg)
		return err
	}))
	const victim = "h000013"
	now := time.Now()
	d.observe(victim, false, 0, now)
	d.observe(victim, false, 0, now.Add(time.Millisecond)) // failures_to_down = 2
	t0 := time.Now()
	mustJS(t, ctx, `(() => { const r = document.querySelector('#hosts tr[data-host="`+victim+`"]'); return !!r && r.dataset.state === "down" && window.__marker === 1 &&
		document.querySelector('.count[data-state="down"] b').textContent === "1" && document.querySelector('.count[data-state="up"] b').textContent === "39"; })()`, 2*time.Second)
	t.Logf("host down shown %v after its state change", time.Since(t0).Round(time.Millisecond))

	// A host that goes down off the first page of a problems-first view
	// comes to the top (the page refreshes its rows, not itself).
	must(t, ctx, chromedp.Navigate(d.url+"/ui/?limit=5"), chromedp.WaitVisible(chromedp.CSS(`#hosts tr[data-host="`+victim+`"]`)))
	mustJS(t, ctx, `(window.__marker = 2) === 2 && document.querySelectorAll('#hosts tbody tr').length === 5 && !document.querySelector('#hosts tr[data-host="h000033"]')`, 5*time.Second)
	now = time.Now()
	d.observe("h000033", false, 0, now)
	d.observe("h000033", false, 0, now.Add(time.Millisecond))
	mustJS(t, ctx, `(() => { const r = document.querySelector('#hosts tr[data-host="h000033"]'); return !!r && r.dataset.state === "down" && window.__marker === 2 &&
		document.querySelector('.count[data-state="down"] b').textContent === "2"; })()`, 5*time.Second)

	// A hidden tab gives its stream back; shown again, it resumes after
	// the last change it saw and gets what happened meanwhile.
	mustJS(t, ctx, `Object.defineProperty(document, 'hidden', {value: true, configurable: true}), document.dispatchEvent(new Event('visibilitychange')), document.querySelector('#live').className === "live off"`, 5*time.Second)
	now = time.Now()
	d.observe("h000035", false, 0, now)
	d.observe("h000035", false, 0, now.Add(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	mustJS(t, ctx, `document.querySelector('.count[data-state="down"] b').textContent === "2"`, time.Second) // not yet
	mustJS(t, ctx, `Object.defineProperty(document, 'hidden', {value: false, configurable: true}), document.dispatchEvent(new Event('visibilitychange')), true`, time.Second)
	mustJS(t, ctx, `document.querySelector('.count[data-state="down"] b').textContent === "3" && window.__marker === 2`, 5*time.Second)

	must(t, ctx, chromedp.Navigate(d.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`#hosts tr[data-host="`+victim+`"]`)))

	// Its page: checks, charts drawn (uPlot canvases with points).
	must(t, ctx, chromedp.Click(chromedp.CSS(`#hosts tr[data-host="`+victim+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#checks")))
	mustJS(t, ctx, `window.hbCharts.length === 3 && window.hbCharts.every(c => c.canvas && c.points > 0)`, 5*time.Second)
	if st := text(t, ctx, "#hoststate"); st != "down" {
		t.Fatalf("host page state %q", st)
	}

	// Acknowledge its alert (the state rule "down" fired).
	must(t, ctx, chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS(`#alerts [data-ack]`)),
		chromedp.Click(chromedp.CSS(`#alerts [data-ack]`)))
	mustJS(t, ctx, `!!document.querySelector('#alerts td.ack') && document.querySelector('#alerts td.ack').textContent.includes("acked by ada")`, 5*time.Second)
	// The engine has it acknowledged (read through the admin's session).
	ack, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch('/api/v1/alerts?host=`+victim+`').then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(ack, `"acknowledged":true`) || !strings.Contains(ack, `"acknowledged_by":"ada"`) {
		t.Fatalf("alert after ack: %v %s", err, ack)
	}

	// Settings (admin): the effective config, password hashes redacted.
	must(t, ctx, chromedp.Navigate(d.url+"/ui/settings"), chromedp.WaitVisible(chromedp.CSS("#settings")))
	if s := text(t, ctx, "#settings"); !strings.Contains(s, `"name": "ada"`) || strings.Contains(s, "pbkdf2") {
		t.Fatalf("settings page:\n%.2000s", s)
	}
	// Events page: the daemon runs without the push sources here, so
	// without an event log, and the page says so.
	must(t, ctx, chromedp.Navigate(d.url+"/ui/events?source="+victim), chromedp.WaitVisible(chromedp.CSS("#ev-filters")))
	mustJS(t, ctx, `document.querySelector('#events').textContent.includes("No event log")`, 5*time.Second)

	// Log out: the session is gone, the dashboard redirects again.
	must(t, ctx, chromedp.Navigate(d.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#logout")), chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")), chromedp.Navigate(d.url+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if loc := location(t, ctx); !strings.Contains(loc, "/ui/login") {
		t.Fatalf("after logout /ui/alerts went to %s", loc)
	}

	// A manager sees only the hosts they manage (olga's, odd numbers),
	// not otto's: in the table, the counts, by URL, and not /api/v1.
	must(t, ctx, login(d.url, "mia", miaPW))
	mustJS(t, ctx, `document.querySelectorAll('#hosts tbody tr').length === 20 && [...document.querySelectorAll('#hosts tbody tr')].every(r => +r.dataset.host.slice(1) % 2 === 1)`, 5*time.Second)
	if total := text(t, ctx, "#total"); !strings.HasPrefix(total, "20 ") {
		t.Fatalf("mia's total %q", total)
	}
	must(t, ctx, chromedp.Navigate(d.url+"/ui/host?name=h000002"), chromedp.WaitVisible(chromedp.CSS("#main .error")))
	if body := text(t, ctx, "#main"); !strings.Contains(body, "unknown host") {
		t.Fatalf("mia opened otto's host: %q", body)
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch('/api/v1/hosts').then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || st != 401 {
		t.Fatalf("mia's session on /api/v1/hosts: %d %v, want 401 (the machine API is for admins)", st, err)
	}
}

func getJSON(t testing.TB, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}
