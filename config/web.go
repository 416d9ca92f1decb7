// SPDX-License-Identifier: MIT

package config

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Web configures the dashboard under /ui/ on the API listener, logins and
// TLS for the API (web/; docs/web.md). Users are [[users]] (User).
type Web struct {
	// Enabled serves the dashboard (and /api/0/) on the API listener.
	Enabled bool `toml:"enabled"`
	// AllowOpen serves the dashboard without logins on a non-loopback
	// address when no users are configured; without it hb-probe refuses
	// to start that way.
	AllowOpen bool `toml:"allow_open"`
	// SessionTTL is how long a login lasts.
	SessionTTL Duration `toml:"session_ttl"`
	// TLSCert and TLSKey are PEM files: with both, the API listener (API
	// and dashboard) speaks HTTPS only. Re-read on SIGHUP.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// LoginRate is how many failed logins per minute one client address
	// may make.
	LoginRate int `toml:"login_rate"`
}

// DefaultWeb returns the dashboard's defaults.
func DefaultWeb() Web {
	return Web{Enabled: true, SessionTTL: Duration(24 * time.Hour), LoginRate: 10}
}

// TLS reports whether the API listener serves HTTPS.
func (w *Web) TLS() bool { return w.TLSCert != "" && w.TLSKey != "" }

func (w *Web) validate() []error {
	var errs []error
	if w.SessionTTL <= 0 {
		errs = append(errs, fmt.Errorf("web.session_ttl: must be positive, got %v", w.SessionTTL))
	}
	if (w.TLSCert == "") != (w.TLSKey == "") {
		errs = append(errs, fmt.Errorf("web.tls_cert, web.tls_key: set both or neither"))
	}
	if w.LoginRate < 1 {
		errs = append(errs, fmt.Errorf("web.login_rate: must be at least 1, got %d", w.LoginRate))
	}
	return errs
}

// validateLogins checks the users' password hashes and tokens.
func validateLogins(us []User) []error {
	var errs []error
	for i, u := range us {
		if u.Password != "" {
			if err := CheckPasswordHash(u.Password); err != nil {
				errs = append(errs, fmt.Errorf("users[%d].password: %w", i, err))
			}
		}
		for j, t := range u.Tokens {
			h, ok := strings.CutPrefix(t, "sha256:")
			if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("users[%d].tokens[%d]: want sha256:<64 hex digits> (hb-probe passwd --token %s)", i, j, u.Name))
			}
		}
	}
	return errs
}

// CheckPasswordHash checks the form of a "pbkdf2:sha256:ITERATIONS$SALT$HASH"
// hash (hex salt and hash, as hbd and werkzeug write them).
func CheckPasswordHash(s string) error {
	method, salt, hash, ok := SplitPasswordHash(s)
	if !ok {
		return fmt.Errorf("want pbkdf2:sha256:ITERATIONS$SALT$HASH (hb-probe passwd USER)")
	}
	it, err := strconv.Atoi(strings.TrimPrefix(method, "pbkdf2:sha256:"))
	if !strings.HasPrefix(method, "pbkdf2:sha256:") || err != nil || it < 1000 || it > 10_000_000 {
		return fmt.Errorf("want pbkdf2:sha256 with 1000 to 10000000 iterations, got %q", method)
	}
	if salt == "" {
		return fmt.Errorf("empty salt")
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
		return fmt.Errorf("hash: want 64 hex digits")
	}
	return nil
}

// SplitPasswordHash splits METHOD$SALT$HASH.
func SplitPasswordHash(s string) (method, salt, hash string, ok bool) {
	parts := strings.Split(s, "$")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}
