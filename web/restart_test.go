// SPDX-License-Identifier: MIT

package web_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/hbmon/hb/config"
)

// TestSessionSurvivesDaemonRestart: the daemon keeps dashboard sessions
// in its SQLite database, so a login outlives a restart of hb-probe on
// the same file; one that logged out does not.
func TestSessionSurvivesDaemonRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hb.db")
	onDB := func(c *config.Probe) { c.Store.DB = db }
	d := startDaemon(t, 2, true, onDB)
	mia := sessionOf(t, d.url, "mia", miaPW)
	moe := sessionOf(t, d.url, "moe", moePW)
	if code, body := moe.do(t, "POST", "/api/0/auth/logout", "{}"); code != 200 {
		t.Fatalf("moe's logout: %d %s", code, body)
	}
	d.stop()

	d = startDaemon(t, 2, true, onDB)
	mia.url, moe.url = d.url, d.url
	code, body := mia.do(t, "GET", "/ui/api/me", "")
	var me struct{ User, CSRF string }
	if code != 200 || json.Unmarshal([]byte(body), &me) != nil || me.User != "mia" || me.CSRF != mia.csrf {
		t.Fatalf("mia's session after a restart: %d %s", code, body)
	}
	if code, body := mia.do(t, "GET", "/api/0/users/me", ""); code != 200 {
		t.Fatalf("mia on /api/0/users/me after a restart: %d %s", code, body)
	}
	if code, _ := moe.do(t, "GET", "/ui/api/me", ""); code != 401 {
		t.Fatalf("moe's logged-out session works after a restart: %d", code)
	}
	// The page itself, not only the JSON: no redirect to the login form.
	if code, _ := mia.do(t, "GET", "/ui/", ""); code != 200 {
		t.Fatalf("mia's dashboard page after a restart: %d", code)
	}
	if code, _ := moe.do(t, "GET", "/ui/", ""); code != 303 {
		t.Fatalf("moe's dashboard page after logout and a restart: %d, want 303 to the login form", code)
	}
}
