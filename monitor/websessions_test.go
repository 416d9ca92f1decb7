// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/obs"
)

// TestWebSessionsWiring: with a history store, the dashboard's sessions
// are written by the store's writer and their own connection cannot
// write (the file has one writer); a login's row is committed when the
// login answers, a logout's deletion when the logout answers.
func TestWebSessionsWiring(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hb.db")
	k, err := pbkdf2.Key(sha256.New, "olga-password", []byte("salt"), 1000, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultProbe()
	cfg.Store.DB = path
	cfg.Users = []config.User{{Name: "olga", Admin: true, Password: "pbkdf2:sha256:1000$salt$" + hex.EncodeToString(k)}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := newTestSource(obs.KindICMP)
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{src}, Listener: ln, Args: []string{"198.18.0.1 name=gw"},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-src.ready

	if m.web == nil || m.web.sessions == nil {
		t.Fatal("the dashboard keeps its sessions in memory with a history store")
	}
	if !m.web.sessions.Shared || m.web.sessions.W != m.store.st {
		t.Fatalf("sessions write on their own (shared %v)", m.web.sessions.Shared)
	}
	if _, err := m.web.sessions.Conn.Exec(`DELETE FROM web_sessions`); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("a write on the sessions' connection: %v, want a read-only error", err)
	}

	// Another reader of the file (as after a crash) sees each write once
	// the request that made it answered.
	rd, err := sql.Open("sqlite", sqlitedb.DSN(path, "_pragma=query_only(1)"))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rows := func() int {
		t.Helper()
		var n int
		if err := rd.QueryRow(`SELECT count(*) FROM web_sessions WHERE user = 'olga'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	base := "http://" + ln.Addr().String()
	post := func(path, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post("/ui/api/login", `{"user":"olga","password":"olga-password"}`)
	var out struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "hb_session" {
			cookie = c.Value
		}
	}
	if resp.StatusCode != 200 || cookie == "" || out.CSRF == "" {
		t.Fatalf("login: %d (cookie %q)", resp.StatusCode, cookie)
	}
	if n := rows(); n != 1 {
		t.Fatalf("web_sessions holds %d rows for olga after her login answered, want 1", n)
	}
	resp = post("/ui/api/logout", "{}", "Cookie", "hb_session="+cookie, "X-CSRF-Token", out.CSRF)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if n := rows(); n != 0 {
		t.Fatalf("web_sessions holds %d rows for olga after her logout answered, want 0", n)
	}
}
