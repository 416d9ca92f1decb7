// SPDX-License-Identifier: MIT

package cron

import (
	"testing"
	"time"
)

func TestCron(t *testing.T) {
	base := time.Date(2026, 12, 2, 10, 7, 30, 0, time.UTC) // a Wednesday
	for spec, want := range map[string]string{
		"*/5 * * * *":   "2026-12-02T10:10:00Z",
		"0 3 * * *":     "2026-12-03T03:00:00Z",
		"30 9 * * 1-5":  "2026-12-03T09:30:00Z",
		"0 0 1 * *":     "2027-01-01T00:00:00Z",
		"0 12 * * 0":    "2026-12-06T12:00:00Z",
		"0 12 * * 7":    "2026-12-06T12:00:00Z",
		"15,45 * * * *": "2026-12-02T10:15:00Z",
		"@hourly":       "2026-12-02T11:00:00Z",
		"0 0 13 * 5":    "2026-12-04T00:00:00Z", // day 13 OR Friday
	} {
		c, err := Parse(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := c.Next(base).Format(time.RFC3339); got != want {
			t.Errorf("%s: next %s, want %s", spec, got, want)
		}
	}
	for _, bad := range []string{"* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	c, _ := Parse("0 0 31 2 *")
	if !c.Next(base).IsZero() {
		t.Error("February 31 fires")
	}
}
