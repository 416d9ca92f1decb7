// SPDX-License-Identifier: MIT

package web

import (
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Vectors computed with Python's hashlib.pbkdf2_hmac (an implementation
// independent of Go's), in hbd's (werkzeug's) METHOD$SALT$HASH form.
var hashVectors = []struct{ password, hash string }{
	{"secret123", "pbkdf2:sha256:260000$8dTxYiVgws2fRH5r$6e628778162fe57fc1f1bd496ca21fa0eb2db73331bdad73f7c7790c84924fd1"},
	{"correct horse", "pbkdf2:sha256:1000$NaCl$cba50afb9ece1b6c899d921b4b7139139f7d2258b02086c1764c441575c66253"},
	{"pässwörd", "pbkdf2:sha256:260000$saltsalt$72c5c24be615a17a6751f8096053585fb05c5b89fee17dcc6881fd8a434b223a"},
}

func TestPasswordVectors(t *testing.T) {
	for _, v := range hashVectors {
		method, salt, _, _ := config.SplitPasswordHash(v.hash)
		var iter int
		if strings.HasSuffix(method, ":1000") {
			iter = 1000
		} else {
			iter = Iterations
		}
		got, err := hashWith(v.password, salt, iter)
		if err != nil {
			t.Fatal(err)
		}
		if got != v.hash {
			t.Errorf("hash(%q) = %s, want %s", v.password, got, v.hash)
		}
		if !CheckPassword(v.hash, v.password) {
			t.Errorf("CheckPassword(%q) = false", v.password)
		}
		if CheckPassword(v.hash, v.password+"x") {
			t.Errorf("CheckPassword accepts a wrong password for %q", v.password)
		}
	}
	for _, bad := range []string{"", "plain", "pbkdf2:sha256:260000$salt", "pbkdf2:sha1:260000$s$" + strings.Repeat("0", 64),
		"pbkdf2:sha256:10$s$" + strings.Repeat("0", 64), "pbkdf2:sha256:260000$s$zz"} {
		if CheckPassword(bad, "") {
			t.Errorf("CheckPassword(%q) = true", bad)
		}
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2:sha256:260000$") || config.CheckPasswordHash(h) != nil {
		t.Fatalf("hash %q has the wrong form", h)
	}
	if !CheckPassword(h, "hunter2hunter2") || CheckPassword(h, "hunter2") {
		t.Fatal("round trip failed")
	}
	h2, _ := HashPassword("hunter2hunter2")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestSessionExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := &Sessions{TTL: 24 * time.Hour, Now: clk.now}
	id, sess, _ := s.New("alice", "t")
	if sess.Expires != clk.t.Add(24*time.Hour) {
		t.Fatalf("expires %v", sess.Expires)
	}
	clk.t = clk.t.Add(24*time.Hour - time.Second)
	if got, err := s.Get(id); err != nil || got.User != "alice" {
		t.Fatalf("session gone before 24 h: %v", err)
	}
	clk.t = clk.t.Add(time.Second)
	if _, err := s.Get(id); err != ErrNoSession {
		t.Fatalf("session alive at 24 h: %v", err)
	}
	if s.Len() != 0 {
		t.Fatal("expired session kept")
	}
	if _, err := s.Get("forged"); err != ErrNoSession {
		t.Fatal("unknown id accepted")
	}
	id2, _, _ := s.New("bob", "t")
	s.Delete(id2)
	if _, err := s.Get(id2); err == nil {
		t.Fatal("deleted session alive")
	}
}

func TestRoleMatrix(t *testing.T) {
	ls := state.Labels{{Key: "managers", Value: "mia, max"}, {Key: "monitors", Value: "moe"}, {Key: "owner", Value: "olga"}}
	noOwner := state.Labels{{Key: "monitors", Value: "moe"}}
	tests := []struct {
		p      Principal
		labels state.Labels
		want   Role
	}{
		{Principal{Name: "olga"}, ls, RoleOwner},
		{Principal{Name: "mia"}, ls, RoleManager},
		{Principal{Name: "max"}, ls, RoleManager},
		{Principal{Name: "moe"}, ls, RoleMonitor},
		{Principal{Name: "eve"}, ls, RoleNone},
		{Principal{Name: "ma"}, ls, RoleNone}, // no prefix matches
		{Principal{Name: "root", Admin: true}, ls, RoleAdmin},
		{Principal{Open: true}, ls, RoleAdmin},
		{Principal{}, ls, RoleNone},
		{Principal{Name: "dora"}, noOwner, RoleOwner}, // default_owner
		{Principal{Name: "moe"}, noOwner, RoleMonitor},
		{Principal{Name: "olga"}, noOwner, RoleNone},
	}
	for _, tt := range tests {
		if got := RoleOn(tt.p, tt.labels, "dora"); got != tt.want {
			t.Errorf("RoleOn(%+v, %v) = %v, want %v", tt.p, tt.labels, got, tt.want)
		}
	}
	can := map[Role][]bool{ // view, ack, silence, settings, machine API
		RoleNone:    {false, false, false, false, false},
		RoleMonitor: {true, false, false, false, false},
		RoleManager: {true, true, true, false, false},
		RoleOwner:   {true, true, true, false, false},
		RoleAdmin:   {true, true, true, true, true},
	}
	for r, want := range can {
		for i, a := range []Action{ActView, ActAck, ActSilence, ActSettings, ActMachineAPI} {
			if r.Can(a) != want[i] {
				t.Errorf("%v.Can(%d) = %v, want %v", r, a, r.Can(a), want[i])
			}
		}
	}
}

// testServer is a web.Server over a two-host table with users.
func testServer(t *testing.T, clk *fakeClock) *Server {
	t.Helper()
	return testServerOn(t, clk, nil)
}

// testServerOn is testServer keeping its sessions in db (nil: memory).
func testServerOn(t *testing.T, clk *fakeClock, db *sessDB) *Server {
	t.Helper()
	tbl, err := state.New([]state.HostSpec{
		{Name: "a", Labels: state.Labels{{Key: "owner", Value: "olga"}}, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}},
		{Name: "b", Labels: state.Labels{{Key: "owner", Value: "otto"}}, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := hashWith("olga-password", "s1", 1000)
	o := Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:1", Table: tbl, Now: clk.now, Log: slog.New(slog.DiscardHandler),
		Users: []config.User{{Name: "olga", Password: pw}, {Name: "root", Admin: true, Tokens: []string{TokenHash("root-token")}}}}
	if db != nil {
		o.DB, o.DBWriter = db.DB, db.w
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reqCtx is a request context for method and uri.
func reqCtx(method, uri string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("hb.test")
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, nil)
	return ctx
}

// do runs one request through the server's routes.
func do(s *Server, method, uri, body string, hdr map[string]string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("hb.test")
	if body != "" {
		req.SetBodyString(body)
		req.Header.SetContentType("application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, nil)
	path := string(ctx.Path())
	for _, r := range s.Routes() {
		if strings.HasPrefix(path, r.Prefix) {
			r.Handler(&ctx)
			break
		}
	}
	resp := new(fasthttp.Response)
	ctx.Response.CopyTo(resp)
	return resp
}

func loginCookie(t *testing.T, s *Server, user, pw string) (cookie, csrf string) {
	t.Helper()
	r := do(s, "POST", "/ui/api/login", `{"user":"`+user+`","password":"`+pw+`"}`, nil)
	if r.StatusCode() != 200 {
		t.Fatalf("login: %d %s", r.StatusCode(), r.Body())
	}
	var c fasthttp.Cookie
	c.SetKey(cookieName)
	if !r.Header.Cookie(&c) {
		t.Fatal("no cookie")
	}
	if !c.HTTPOnly() || c.SameSite() != fasthttp.CookieSameSiteStrictMode {
		t.Fatalf("cookie %s lacks HttpOnly or SameSite=Strict", c.String())
	}
	b := string(r.Body())
	i := strings.Index(b, `"csrf":"`)
	csrf = b[i+8:]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	return string(c.Value()), csrf
}

func TestCSRFRejected(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	s := testServer(t, clk)
	cookie, csrf := loginCookie(t, s, "olga", "olga-password")
	ck := cookieName + "=" + cookie
	if r := do(s, "GET", "/ui/api/me", "", map[string]string{"Cookie": ck}); r.StatusCode() != 200 {
		t.Fatalf("me: %d", r.StatusCode())
	}
	body := `{"host":"a","duration":"1h"}`
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"no token", map[string]string{"Cookie": ck}},
		{"wrong token", map[string]string{"Cookie": ck, csrfHeader: csrf + "x"}},
		{"foreign origin", map[string]string{"Cookie": ck, csrfHeader: csrf, "Origin": "https://evil.example"}},
	} {
		if r := do(s, "POST", "/ui/api/logout", body, tc.hdr); r.StatusCode() != fasthttp.StatusForbidden {
			t.Errorf("%s: logout answered %d, want 403", tc.name, r.StatusCode())
		}
	}
	// A form post (not JSON) is refused even with the token.
	var ctxHdr = map[string]string{"Cookie": ck, csrfHeader: csrf, "Content-Type": "application/x-www-form-urlencoded"}
	if r := do(s, "POST", "/ui/api/logout", "a=b", ctxHdr); r.StatusCode() != fasthttp.StatusForbidden {
		t.Errorf("form post answered %d, want 403", r.StatusCode())
	}
	if r := do(s, "POST", "/ui/api/logout", "{}", map[string]string{"Cookie": ck, csrfHeader: csrf, "Origin": "http://hb.test"}); r.StatusCode() != 200 {
		t.Fatalf("logout with token: %d %s", r.StatusCode(), r.Body())
	}
	if r := do(s, "GET", "/ui/api/me", "", map[string]string{"Cookie": ck}); r.StatusCode() != 401 {
		t.Fatalf("session alive after logout: %d", r.StatusCode())
	}
	// The session expires after the TTL.
	cookie, _ = loginCookie(t, s, "olga", "olga-password")
	clk.t = clk.t.Add(24 * time.Hour)
	if r := do(s, "GET", "/ui/api/me", "", map[string]string{"Cookie": cookieName + "=" + cookie}); r.StatusCode() != 401 {
		t.Fatalf("session alive after 24 h: %d", r.StatusCode())
	}
}

func TestVisibilityAndTokens(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	s := testServer(t, clk)
	cookie, _ := loginCookie(t, s, "olga", "olga-password")
	ck := map[string]string{"Cookie": cookieName + "=" + cookie}
	r := do(s, "GET", "/ui/api/hosts", "", ck)
	if !strings.Contains(string(r.Body()), `"name":"a"`) || strings.Contains(string(r.Body()), `"name":"b"`) || !strings.Contains(string(r.Body()), `"total":1`) {
		t.Errorf("olga's overview: %s", r.Body())
	}
	if r := do(s, "GET", "/ui/api/host?name=b", "", ck); r.StatusCode() != 404 {
		t.Errorf("olga sees host b: %d", r.StatusCode())
	}
	if r := do(s, "GET", "/api/0/hosts/b/plugins", "", ck); r.StatusCode() != 404 {
		t.Errorf("olga sees host b's plugins: %d", r.StatusCode())
	}
	if r := do(s, "GET", "/ui/api/settings", "", ck); r.StatusCode() != 403 {
		t.Errorf("olga reads the settings: %d", r.StatusCode())
	}
	// The admin's API token sees both; a wrong token nothing.
	r = do(s, "GET", "/api/0/hosts", "", map[string]string{"Authorization": "Bearer root-token"})
	if !strings.Contains(string(r.Body()), `"hostname":"a"`) || !strings.Contains(string(r.Body()), `"hostname":"b"`) {
		t.Errorf("admin token: %d %s", r.StatusCode(), r.Body())
	}
	if r := do(s, "GET", "/api/0/hosts", "", map[string]string{"Authorization": "Bearer nope"}); r.StatusCode() != 401 {
		t.Errorf("wrong token: %d", r.StatusCode())
	}
	// Pages redirect to the login page without a session.
	if r := do(s, "GET", "/ui/host?name=a", "", nil); r.StatusCode() != fasthttp.StatusSeeOther || !strings.Contains(string(r.Header.Peek("Location")), "/ui/login?next=/ui/host") {
		t.Errorf("unauthenticated page: %d %s", r.StatusCode(), r.Header.Peek("Location"))
	}
	// Wrong password, then the rate limit.
	for i := 0; i < 10; i++ {
		if r := do(s, "POST", "/ui/api/login", `{"user":"olga","password":"x"}`, nil); r.StatusCode() != 401 {
			t.Fatalf("wrong password %d: %d", i, r.StatusCode())
		}
	}
	if r := do(s, "POST", "/ui/api/login", `{"user":"olga","password":"olga-password"}`, nil); r.StatusCode() != 429 {
		t.Fatalf("11th login in a minute: %d, want 429", r.StatusCode())
	}
	// The API's Authorize accepts the admin token, not olga's session.
	auth := s.Authorize()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Cookie", cookieName+"="+cookie)
	if auth(&ctx) {
		t.Error("a non-admin session opens /api/v1")
	}
	var ctx2 fasthttp.RequestCtx
	ctx2.Request.Header.Set("Authorization", "Bearer root-token")
	if !auth(&ctx2) {
		t.Error("the admin token does not open /api/v1")
	}
}

func TestOpenOnlyOnLoopback(t *testing.T) {
	tbl, _ := state.New(nil, nil)
	for _, tc := range []struct {
		listen string
		allow  bool
		ok     bool
	}{
		{"127.0.0.1:8787", false, true}, {"[::1]:8787", false, true}, {"localhost:8787", false, true},
		{"0.0.0.0:8787", false, false}, {":8787", false, false}, {"198.18.0.1:8787", false, false},
		{"0.0.0.0:8787", true, true},
	} {
		c := config.DefaultWeb()
		c.AllowOpen = tc.allow
		_, err := New(Options{Config: c, Listen: tc.listen, Table: tbl})
		if (err == nil) != tc.ok {
			t.Errorf("listen %s allow_open %v: err %v", tc.listen, tc.allow, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := config.DefaultProbe()
	c.Users = []config.User{{Name: "u", Password: "pbkdf2:sha256:1000$s$x", Tokens: []string{"sha256:abc"}}}
	c.Alerts.Channels = []config.AlertChannel{{Name: "m", URL: "smtp://user:pw@host/?to=a", Headers: map[string]string{"Authorization": "x"}}}
	m, err := Redacted(&c)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(flatten(m, ""), "\n")
	for _, secret := range []string{"pbkdf2", "sha256:abc", "user:pw"} {
		if strings.Contains(s, secret) {
			t.Errorf("secret %q shown:\n%s", secret, s)
		}
	}
	if !strings.Contains(s, "name=u") {
		t.Errorf("user name hidden:\n%s", s)
	}
}

func flatten(v any, pre string) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			out = append(out, flatten(x, pre+k+".")...)
			if s, ok := x.(string); ok {
				out = append(out, k+"="+s)
			}
		}
	case []any:
		for _, x := range t {
			out = append(out, flatten(x, pre)...)
		}
	case string:
		out = append(out, pre+"="+t)
	}
	return out
}

// TestSetUsersEndsSessions: a reload that removes a user ends their
// sessions, and their rows, in memory, own and store modes; others keep
// theirs.
func TestSetUsersEndsSessions(t *testing.T) {
	for _, mode := range append([]string{"memory"}, sessModes...) {
		t.Run(mode, func(t *testing.T) { testSetUsersEndsSessions(t, mode) })
	}
}

func testSetUsersEndsSessions(t *testing.T, mode string) {
	var db *sessDB
	if mode != "memory" {
		db = openSessDB(t, filepath.Join(t.TempDir(), "hb.db"), mode)
		t.Cleanup(db.close)
	}
	s := testServerOn(t, &fakeClock{t: time.Now()}, db)
	rows := func(want int) { // the table follows memory (a restart would bring a row back)
		t.Helper()
		if db != nil {
			if n := db.rows(t); n != want {
				t.Fatalf("web_sessions holds %d rows, want %d", n, want)
			}
		}
	}
	cookie, _ := loginCookie(t, s, "olga", "olga-password")
	ck := map[string]string{"Cookie": cookieName + "=" + cookie}
	if r := do(s, "GET", "/ui/api/me", "", ck); r.StatusCode() != 200 {
		t.Fatal(r.StatusCode())
	}
	pw, _ := hashWith("olga-password", "s1", 1000)
	s.SetUsers([]config.User{{Name: "olga", Password: pw}, {Name: "root", Admin: true}}, "")
	if r := do(s, "GET", "/ui/api/me", "", ck); r.StatusCode() != 200 {
		t.Fatalf("olga's session ended by a reload that kept her: %d", r.StatusCode())
	}
	if r := do(s, "GET", "/ui/api/me", "", map[string]string{"Authorization": "Bearer root-token"}); r.StatusCode() != 401 {
		t.Fatalf("a removed token still works: %d", r.StatusCode())
	}
	// A new password (a reload) ends the sessions made with the old one.
	newPW, _ := hashWith("olga-new-password", "s9", 1000)
	rows(1)
	s.SetUsers([]config.User{{Name: "olga", Password: newPW}, {Name: "root", Admin: true}}, "")
	if r := do(s, "GET", "/ui/api/me", "", ck); r.StatusCode() != 401 {
		t.Fatalf("olga's session survived a password change: %d", r.StatusCode())
	}
	rows(0)
	cookie, _ = loginCookie(t, s, "olga", "olga-new-password")
	ck = map[string]string{"Cookie": cookieName + "=" + cookie}
	rows(1)
	s.SetUsers([]config.User{{Name: "root", Admin: true}}, "")
	if r := do(s, "GET", "/ui/api/me", "", ck); r.StatusCode() != 401 {
		t.Fatalf("a removed user's session still works: %d", r.StatusCode())
	}
	rows(0)
}

// TestOpenMode: without users everyone is an admin (on loopback), and
// state-changing requests still need JSON from this origin.
func TestOpenMode(t *testing.T) {
	tbl, _ := state.New([]state.HostSpec{{Name: "a", Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}}}, nil)
	s, err := New(Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:8787", Table: tbl, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Authorize() != nil {
		t.Fatal("open mode adds credentials to the API")
	}
	if r := do(s, "GET", "/ui/api/settings", "", nil); r.StatusCode() != 404 { // no Settings func: 404, not 403
		t.Fatalf("settings in open mode: %d", r.StatusCode())
	}
	if r := do(s, "GET", "/ui/api/hosts", "", nil); r.StatusCode() != 200 || !strings.Contains(string(r.Body()), `"name":"a"`) {
		t.Fatalf("hosts in open mode: %d %s", r.StatusCode(), r.Body())
	}
	body := `{"host":"a","duration":"1h"}`
	if r := do(s, "POST", "/ui/api/silences", body, map[string]string{"Origin": "http://evil.example"}); r.StatusCode() != 403 {
		t.Fatalf("cross-origin POST in open mode: %d", r.StatusCode())
	}
	if r := do(s, "POST", "/ui/api/silences", "host=a", map[string]string{"Content-Type": "text/plain"}); r.StatusCode() != 403 {
		t.Fatalf("non-JSON POST in open mode: %d", r.StatusCode())
	}
	if r := do(s, "POST", "/ui/api/silences", body, map[string]string{"Origin": "http://hb.test"}); r.StatusCode() != 404 { // no alerting here
		t.Fatalf("same-origin JSON POST in open mode: %d %s", r.StatusCode(), r.Body())
	}
}
