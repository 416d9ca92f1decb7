// SPDX-License-Identifier: MIT

package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the daemon's SQLite driver

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
)

// openDB opens the SQLite file at path as the daemon does.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqlitedb.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// sessDB is the sessions' database in one of the two ways New takes it:
// "own" (the connection writes on its own: a database of its own) or
// "store" (as in the daemon: a read-only connection, every write through
// the history store's one writer, a real store.Store on the same file).
type sessDB struct {
	*sql.DB
	w  Writer
	st *store.Store
}

var sessModes = []string{"own", "store"}

func openSessDB(t *testing.T, path, mode string) *sessDB {
	t.Helper()
	if mode == "own" {
		return &sessDB{DB: openDB(t, path)}
	}
	st, err := store.Open(path, &store.Options{CommitInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqlitedb.DSN(path, "_pragma=query_only(1)"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return &sessDB{DB: db, w: st, st: st}
}

// close closes the connection, then the store (its writer commits what
// it was given).
func (d *sessDB) close() {
	d.DB.Close()
	if d.st != nil {
		d.st.Close()
	}
}

// rows is how many sessions the table holds.
func (d *sessDB) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// webRun is one run of the dashboard: a web.Server over db behind a real
// API server on loopback.
type webRun struct {
	url  string
	s    *Server
	stop func()
}

func startWeb(t *testing.T, db *sessDB, clk *fakeClock, users []config.User, log io.Writer) *webRun {
	t.Helper()
	tbl, err := state.New([]state.HostSpec{
		{Name: "a", Labels: state.Labels{{Key: "owner", Value: "olga"}}, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:1", Table: tbl, Now: clk.now, DB: db.DB, DBWriter: db.w,
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Routes: s.Routes(), Authorize: s.Authorize()}, tbl, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeListener(ctx, ln) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return &webRun{url: "http://" + ln.Addr().String(), s: s, stop: stop}
}

// httpDo makes one real HTTP request and returns the status, the body and
// the hb_session cookie set, if any.
func httpDo(t *testing.T, method, url, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	cookie := ""
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			cookie = c.Value
		}
	}
	return resp.StatusCode, string(b), cookie
}

// httpLogin logs user in over HTTP and returns the cookie and CSRF token.
func httpLogin(t *testing.T, url, user, pw string) (cookie, csrf string) {
	t.Helper()
	code, body, cookie := httpDo(t, "POST", url+"/ui/api/login", `{"user":"`+user+`","password":"`+pw+`"}`, nil)
	var out struct{ CSRF string }
	if code != 200 || cookie == "" || json.Unmarshal([]byte(body), &out) != nil || out.CSRF == "" {
		t.Fatalf("login %s: %d %s (cookie %q)", user, code, body, cookie)
	}
	return cookie, out.CSRF
}

// me is GET /ui/api/me with a session cookie: the status and the answer.
func me(t *testing.T, url, cookie string) (int, map[string]any) {
	t.Helper()
	code, body, _ := httpDo(t, "GET", url+"/ui/api/me", "", map[string]string{"Cookie": cookieName + "=" + cookie})
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	return code, m
}

// TestSessionsSurviveRestart: logins are kept in the SQLite database
// (hashed), so a cookie still works after the dashboard restarts on the
// same file; a logged-out, expired or password-changed session does not;
// neither the database files nor the log ever hold a raw cookie. Both
// ways: the sessions' connection writing on its own, and (the daemon's)
// a read-only connection with the history store's writer making every
// write.
func TestSessionsSurviveRestart(t *testing.T) {
	for _, mode := range sessModes {
		t.Run(mode, func(t *testing.T) { testSessionsSurviveRestart(t, mode) })
	}
}

func testSessionsSurviveRestart(t *testing.T, mode string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hb.db")
	clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	olgaPW, _ := hashWith("olga-password", "s1", 1000)
	miaPW, _ := hashWith("mia-password", "s2", 1000)
	users := []config.User{{Name: "olga", Password: olgaPW}, {Name: "mia", Password: miaPW}}
	var log testutil.SyncBuffer

	db := openSessDB(t, path, mode)
	if _, err := db.Exec(`CREATE TABLE sneak (a)`); mode == "store" && (err == nil || !strings.Contains(err.Error(), "readonly")) {
		t.Fatalf("a write on the sessions' connection beside the store: %v, want a read-only error", err)
	}
	w := startWeb(t, db, clk, users, &log)
	olga, olgaCSRF := httpLogin(t, w.url, "olga", "olga-password")
	gone, goneCSRF := httpLogin(t, w.url, "olga", "olga-password")
	if code, _, _ := httpDo(t, "POST", w.url+"/ui/api/logout", "{}", map[string]string{"Cookie": cookieName + "=" + gone, csrfHeader: goneCSRF}); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	clk.t = clk.t.Add(12 * time.Hour)
	mia, _ := httpLogin(t, w.url, "mia", "mia-password") // 12 h younger than olga's
	w.stop()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("web_sessions holds %d rows (%v), want 2 (olga, mia; the logged-out one deleted)", n, err)
	}
	var id []byte
	want := sha256.Sum256([]byte(olga))
	if err := db.QueryRow(`SELECT id_sha256 FROM web_sessions WHERE user = 'olga'`).Scan(&id); err != nil || !bytes.Equal(id, want[:]) {
		t.Fatalf("olga's row holds %x (%v), want the cookie's SHA-256", id, err)
	}
	db.close()
	// No raw cookie or CSRF token in the database, its WAL, or the log.
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{olga, gone, mia, olgaCSRF} {
			if bytes.Contains(b, []byte(secret)) {
				t.Fatalf("%s holds a raw session secret", filepath.Base(f))
			}
		}
	}
	for _, secret := range []string{olga, gone, mia, olgaCSRF} {
		if strings.Contains(log.String(), secret) {
			t.Fatalf("the log holds a raw session secret:\n%s", log.String())
		}
	}

	// Restart on the same file: olga's and mia's cookies work, with the
	// same CSRF token; the logged-out one does not.
	db = openSessDB(t, path, mode)
	defer db.close()
	w = startWeb(t, db, clk, users, &log)
	code, m := me(t, w.url, olga)
	if code != 200 || m["user"] != "olga" || m["csrf"] != olgaCSRF {
		t.Fatalf("olga after a restart: %d %v", code, m)
	}
	if code, _, _ := httpDo(t, "POST", w.url+"/ui/api/silences", `{"host":"a","duration":"1h"}`, map[string]string{"Cookie": cookieName + "=" + olga, csrfHeader: olgaCSRF}); code != 404 {
		t.Fatalf("a state-changing request with the restored CSRF token: %d, want 404 (no alerting here), not 403", code)
	}
	if code, _ := me(t, w.url, mia); code != 200 {
		t.Fatalf("mia after a restart: %d", code)
	}
	if code, _ := me(t, w.url, gone); code != 401 {
		t.Fatalf("a logged-out session works after a restart: %d", code)
	}
	if code, _ := me(t, w.url, "forged"+olga[6:]); code != 401 {
		t.Fatalf("a forged cookie: %d", code)
	}
	w.stop()

	// 24 h after olga's login: hers expired, mia's (12 h younger) lives;
	// the expired row is deleted when the dashboard starts.
	clk.t = clk.t.Add(12 * time.Hour)
	w = startWeb(t, db, clk, users, &log)
	if code, _ := me(t, w.url, olga); code != 401 {
		t.Fatalf("olga's session alive 24 h after login: %d", code)
	}
	if code, _ := me(t, w.url, mia); code != 200 {
		t.Fatalf("mia's session gone 12 h after login: %d", code)
	}
	if err := db.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("web_sessions holds %d rows (%v) after expiry, want 1", n, err)
	}
	w.stop()

	// A new password for mia (a config edit, then a restart) ends her
	// session, and its row.
	newPW, _ := hashWith("mia-new-password", "s3", 1000)
	w = startWeb(t, db, clk, []config.User{users[0], {Name: "mia", Password: newPW}}, &log)
	if code, _ := me(t, w.url, mia); code != 401 {
		t.Fatalf("mia's session survived a password change: %d", code)
	}
	if err := db.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("web_sessions holds %d rows (%v) after the password change, want 0", n, err)
	}
}
