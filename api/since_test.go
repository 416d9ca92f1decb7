// SPDX-License-Identifier: MIT

package api

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2025, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1764669600", want},
		{"1764669600.25", want.Add(250 * time.Millisecond)},
		{"1764669600.123456789123", want.Add(123456789)},
		{"1764669600.", want},
		{"2025-12-02T10:00:00Z", want},
		{"2025-12-02T11:00:00+01:00", want},
		{"2025-12-02T10:00:00.5Z", want.Add(500 * time.Millisecond)},
		{"0", time.Unix(0, 0).UTC()},
	} {
		got, err := ParseTime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-1", "1e9", "NaN", "Inf", "0x10", ".5", "1.2.3", "1764669600000", "2025-12-02", "2025-12-02 10:00:00", "yesterday"} {
		if got, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}
