// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/web"
)

// withStdin runs f with os.Stdin reading s.
func withStdin(t *testing.T, s string, f func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(s)
	w.Close()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	f()
}

// TestPasswd: `hb-probe passwd USER` prints a [[users]] table whose hash
// verifies the password read from stdin and validates as config;
// --token prints the token once (stderr) and its SHA-256 (stdout).
func TestPasswd(t *testing.T) {
	var out, errb bytes.Buffer
	withStdin(t, "correct horse battery\n", func() {
		if rc := runPasswd([]string{"alice"}, &out, &errb); rc != exitOK {
			t.Fatalf("rc %d: %s", rc, errb.String())
		}
	})
	var c struct{ Users []config.User }
	if err := toml.Unmarshal(out.Bytes(), &c); err != nil || len(c.Users) != 1 {
		t.Fatalf("output is not a [[users]] table: %v\n%s", err, out.String())
	}
	u := c.Users[0]
	if u.Name != "alice" || !strings.HasPrefix(u.Password, "pbkdf2:sha256:260000$") || !web.CheckPassword(u.Password, "correct horse battery") || web.CheckPassword(u.Password, "correct horse") {
		t.Fatalf("user %+v", u)
	}
	p := config.DefaultProbe()
	p.Users = c.Users
	if err := p.Validate(); err != nil {
		t.Fatalf("config with the printed user: %v", err)
	}

	out.Reset()
	errb.Reset()
	withStdin(t, "short\n", func() {
		if rc := runPasswd([]string{"alice"}, &out, &errb); rc != exitSetup || !strings.Contains(errb.String(), "at least 8") {
			t.Fatalf("short password: rc %d %q", rc, errb.String())
		}
	})

	out.Reset()
	errb.Reset()
	if rc := runPasswd([]string{"--token", "bob"}, &out, &errb); rc != exitOK {
		t.Fatalf("--token rc %d", rc)
	}
	tok := regexp.MustCompile(`hbu_[A-Za-z0-9_-]+`).FindString(errb.String())
	if tok == "" || strings.Contains(out.String(), tok) || !strings.Contains(out.String(), web.TokenHash(tok)) {
		t.Fatalf("--token: stdout %q stderr %q", out.String(), errb.String())
	}
}
