// SPDX-License-Identifier: MIT

package api

import (
	"strings"
	"testing"
)

// /debug/pprof/ is served only when configured, and behind the token.
func TestPprof(t *testing.T) {
	off := newHarness(t, Config{})
	if code, _, _ := off.do("GET", "/debug/pprof/", ""); code != 404 {
		t.Fatalf("pprof off: %d, want 404", code)
	}
	on := newHarness(t, Config{Pprof: true, Token: "s3cret"})
	if code, _, _ := on.do("GET", "/debug/pprof/", ""); code != 401 {
		t.Fatalf("pprof without the token: %d, want 401", code)
	}
	code, body, _ := on.do("GET", "/debug/pprof/", "s3cret")
	if code != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", code, body)
	}
	code, body, _ = on.do("GET", "/debug/pprof/heap", "s3cret")
	if code != 200 || len(body) == 0 {
		t.Fatalf("heap profile: %d, %d bytes", code, len(body))
	}
}
