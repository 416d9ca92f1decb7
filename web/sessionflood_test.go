// SPDX-License-Identifier: MIT

package web

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
)

// TestSessionFloodSparesOthers: with the table full, user A logging in
// 1,000 times never ends user B's or user C's sessions: A's own oldest
// go (PerUser), A keeps exactly the newest PerUser, and, with a database,
// the table and a restart agree.
func TestSessionFloodSparesOthers(t *testing.T) {
	for _, mode := range []string{"memory", "own"} {
		t.Run(mode, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
			var db *sessDB
			s := &Sessions{TTL: 24 * time.Hour, Now: clk.now, Max: 30, PerUser: 20}
			if mode == "own" {
				db = openSessDB(t, filepath.Join(t.TempDir(), "hb.db"), mode)
				defer db.close()
				s.DB = db.DB
				if err := s.Load(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			login := func(u string) string {
				t.Helper()
				clk.t = clk.t.Add(time.Second)
				id, _, err := s.New(u, "tag")
				if err != nil {
					t.Fatalf("login %s: %v", u, err)
				}
				return id
			}
			bob := login("bob")
			var cy []string
			for range 9 {
				cy = append(cy, login("cy"))
			}
			var ann []string
			for i := range 1000 {
				ann = append(ann, login("ann"))
				for _, id := range append([]string{bob}, cy...) {
					if _, err := s.Get(id); err != nil {
						t.Fatalf("after ann's login %d another user's session ended: %v", i+1, err)
					}
				}
				if n := s.Len(); n > 30 {
					t.Fatalf("after ann's login %d: %d sessions, Max 30", i+1, n)
				}
			}
			check := func(s *Sessions) {
				t.Helper()
				for i, id := range ann {
					_, err := s.Get(id)
					if live := i >= len(ann)-20; live != (err == nil) {
						t.Fatalf("ann's login %d: live %v, want %v (only her newest 20)", i+1, err == nil, live)
					}
				}
				for _, id := range append([]string{bob}, cy...) {
					if _, err := s.Get(id); err != nil {
						t.Fatalf("another user's session: %v", err)
					}
				}
			}
			check(s)
			if db == nil {
				return
			}
			if n := db.rows(t); n != 30 {
				t.Fatalf("web_sessions holds %d rows, want 30 (ann's evicted ones deleted)", n)
			}
			s2 := &Sessions{TTL: 24 * time.Hour, Now: clk.now, DB: db.DB, PerUser: 20}
			if err := s2.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			check(s2)
		})
	}
}

// TestSessionsFullShare: when the table is full and the user logging in
// holds fewer than PerUser, the session ended is the oldest of the user
// with the most, never bringing them below the one logging in; a user
// with one session keeps it.
func TestSessionsFullShare(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	s := &Sessions{TTL: 24 * time.Hour, Now: clk.now, Max: 10, PerUser: 20}
	login := func(u string) string {
		t.Helper()
		clk.t = clk.t.Add(time.Second)
		id, _, err := s.New(u, "tag")
		if err != nil {
			t.Fatalf("login %s: %v", u, err)
		}
		return id
	}
	bob := login("bob")
	var cy []string
	for range 6 {
		cy = append(cy, login("cy"))
	}
	var ann []string
	for range 100 {
		ann = append(ann, login("ann"))
		if _, err := s.Get(bob); err != nil {
			t.Fatal("bob's only session ended by ann's logins")
		}
	}
	// ann's 4th login took cy's oldest (cy 6 > ann 4); from then on cy's
	// 5 are no more than ann's 4 plus her new one: she ends her own.
	if _, err := s.Get(cy[0]); err == nil {
		t.Fatal("cy's oldest session is live, want it ended by ann's 4th login")
	}
	for i, id := range cy[1:] {
		if _, err := s.Get(id); err != nil {
			t.Fatalf("cy's session %d ended: %v", i+2, err)
		}
	}
	for i, id := range ann {
		_, err := s.Get(id)
		if live := i >= len(ann)-4; live != (err == nil) {
			t.Fatalf("ann's login %d: live %v, want %v", i+1, err == nil, live)
		}
	}
	if n := s.Len(); n != 10 {
		t.Fatalf("%d sessions, want 10", n)
	}
}

// TestSessionsFullRefused: through the real HTTP server, when every
// session slot is held by a different user, a login by one more user is
// refused with 503 (no one loses their only session), while a user who
// holds one may log in again (ending their own older session).
func TestSessionsFullRefused(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	var users []config.User
	for i := range 4 {
		h, _ := hashWith(fmt.Sprintf("pw-%d", i), fmt.Sprintf("salt%d", i), 1000)
		users = append(users, config.User{Name: fmt.Sprintf("u%d", i), Password: h})
	}
	db := &sessDB{} // memory only
	w := startWeb(t, db, clk, users, io.Discard)
	w.s.sessions.mu.Lock() // max() is read under the lock
	w.s.sessions.Max = 3
	w.s.sessions.mu.Unlock()
	var ids []string
	for i := range 3 {
		id, _ := httpLogin(t, w.url, fmt.Sprintf("u%d", i), fmt.Sprintf("pw-%d", i))
		ids = append(ids, id)
	}
	code, body, cookie := httpDo(t, "POST", w.url+"/ui/api/login", `{"user":"u3","password":"pw-3"}`, nil)
	if code != 503 || cookie != "" || !strings.Contains(body, errSessionsFull) {
		t.Fatalf("u3's login with 3 users holding the 3 slots: %d %s (cookie %q), want 503", code, body, cookie)
	}
	code, _, _ = httpDo(t, "POST", w.url+"/api/0/auth/login", `{"username":"u3","password":"pw-3"}`, nil)
	if code != 503 {
		t.Fatalf("u3's login on /api/0/auth/login: %d, want 503", code)
	}
	for i, id := range ids {
		if code, _ := me(t, w.url, id); code != 200 {
			t.Fatalf("u%d's session after the refused login: %d", i, code)
		}
	}
	again, _ := httpLogin(t, w.url, "u0", "pw-0")
	if code, _ := me(t, w.url, ids[0]); code != 401 {
		t.Fatalf("u0's older session after u0 logged in again: %d, want 401", code)
	}
	for _, id := range []string{again, ids[1], ids[2]} {
		if code, _ := me(t, w.url, id); code != 200 {
			t.Fatalf("a session after u0 logged in again: %d", code)
		}
	}
}
