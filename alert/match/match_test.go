// SPDX-License-Identifier: MIT

package match

import (
	"testing"
	"time"
)

func TestSelector(t *testing.T) {
	ls := MapLabels(map[string]string{"env": "prod", "role": "web", "site": "fra1", "note": "a,b"})
	cases := []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"env=prod", true},
		{"env=dev", false},
		{"env!=dev", true},
		{"env=prod,role=db", false},
		{"env=prod, role=web", true},
		{"site=~fra.*", true},
		{"site=~fra", false}, // anchored
		{"site!~ams.*", true},
		{"missing=", true},
		{"missing!=", false},
		{`note="a,b"`, true},
	}
	for _, c := range cases {
		s, err := ParseSelector(c.sel)
		if err != nil {
			t.Fatalf("%q: %v", c.sel, err)
		}
		if got := s.Match(ls); got != c.want {
			t.Errorf("%q.Match = %v, want %v", c.sel, got, c.want)
		}
	}
	for _, bad := range []string{"env", "=x", "env=~(", "1x=y", "a b=c"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q) accepted", bad)
		}
	}
}

func TestSchedule(t *testing.T) {
	at := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	// Sundays 02:00 UTC, for 2 hours. 2026-12-06 is a Sunday.
	s, err := ParseSchedule("0 2 * * 0")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t    string
		want bool
	}{
		{"2026-12-06T01:59:59Z", false},
		{"2026-12-06T02:00:00Z", true},
		{"2026-12-06T03:59:59Z", true},
		{"2026-12-06T04:00:00Z", false},
		{"2026-12-07T02:30:00Z", false}, // Monday
	} {
		if _, got := s.Active(at(c.t), 2*time.Hour); got != c.want {
			t.Errorf("Active(%s) = %v, want %v", c.t, got, c.want)
		}
	}
	s7, _ := ParseSchedule("30 1 * * 7")
	if !s7.Matches(at("2026-12-06T01:30:00Z")) {
		t.Error("day-of-week 7 is not Sunday")
	}
	step, _ := ParseSchedule("*/15 9-17 1,15 * *")
	if !step.Matches(at("2026-12-15T09:45:00Z")) || step.Matches(at("2026-12-15T09:40:00Z")) || step.Matches(at("2026-12-16T09:45:00Z")) {
		t.Error("step/list/range fields")
	}
	// Both day fields restricted: either matches (cron).
	either, _ := ParseSchedule("0 0 1 * 1")
	if !either.Matches(at("2026-12-07T00:00:00Z")) || !either.Matches(at("2026-12-01T00:00:00Z")) {
		t.Error("dom|dow")
	}
	if d, _ := ParseSchedule("@daily"); !d.Matches(at("2026-12-07T00:00:00Z")) {
		t.Error("@daily")
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
