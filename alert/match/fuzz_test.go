// SPDX-License-Identifier: MIT

package match

import (
	"testing"
	"time"
)

// FuzzParseSelector: no panic; an accepted selector prints as one that
// parses to the same matchers.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"env=prod", "a!=b,c=~d.*", `x="a,b"`, "k!~", "=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		sel.Match(MapLabels{"env": "prod"})
		for _, m := range sel {
			if m.Key == "" || m.Op < OpEq || m.Op > OpNotRegex {
				t.Fatalf("%q gave matcher %+v", s, m)
			}
		}
	})
}

// FuzzParseSchedule: no panic; Active never reports a start after t or
// further back than the duration.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0 2 * * 0", "*/15 9-17 1,15 * *", "@daily", "60 * * * *", "1-2/0 * * * *"} {
		f.Add(s)
	}
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseSchedule(s)
		if err != nil {
			return
		}
		if start, ok := sc.Active(t0, 3*time.Hour); ok && (start.After(t0) || t0.Sub(start) >= 3*time.Hour) {
			t.Fatalf("%q: start %v for %v", s, start, t0)
		}
	})
}
