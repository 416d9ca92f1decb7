// SPDX-License-Identifier: MIT

package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a cron expression of five fields, minute hour day-of-month
// month day-of-week, evaluated in UTC. Fields take *, numbers, ranges
// (1-5), steps (*/15, 0-30/10) and lists (1,15). Day-of-week is 0-7 with
// 0 and 7 both Sunday. As in cron, when both day fields are restricted a
// day matches if either does.
type Schedule struct {
	min, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar           bool
	src                        string
}

// Parse parses a five-field cron expression; "@daily", "@midnight",
// "@weekly", "@hourly" and "@monthly" are accepted too.
func Parse(s string) (*Schedule, error) {
	src := strings.TrimSpace(s)
	switch src {
	case "@hourly":
		s = "0 * * * *"
	case "@daily", "@midnight":
		s = "0 0 * * *"
	case "@weekly":
		s = "0 0 * * 0"
	case "@monthly":
		s = "0 0 1 * *"
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return nil, fmt.Errorf("schedule %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", src, len(f))
	}
	sc := &Schedule{src: src}
	var err error
	parse := func(i, lo, hi int, dst *uint64, star *bool) {
		if err != nil {
			return
		}
		var e error
		*dst, e = parseField(f[i], lo, hi)
		if e != nil {
			err = fmt.Errorf("schedule %q: field %d: %w", src, i+1, e)
		}
		if star != nil {
			*star = f[i] == "*"
		}
	}
	parse(0, 0, 59, &sc.min, nil)
	parse(1, 0, 23, &sc.hour, nil)
	parse(2, 1, 31, &sc.dom, &sc.domStar)
	parse(3, 1, 12, &sc.month, nil)
	parse(4, 0, 7, &sc.dow, &sc.dowStar)
	if err != nil {
		return nil, err
	}
	if sc.dow&(1<<7) != 0 {
		sc.dow |= 1
	}
	return sc, nil
}

func parseField(f string, lo, hi int) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(f, ",") {
		rng, stepS, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("bad step %q", part)
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" {
			x, y, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = strconv.Atoi(x); err != nil {
				return 0, fmt.Errorf("bad value %q", part)
			}
			b = a
			if isRange {
				if b, err = strconv.Atoi(y); err != nil {
					return 0, fmt.Errorf("bad range %q", part)
				}
			} else if hasStep {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return 0, fmt.Errorf("%q out of range %d-%d", part, lo, hi)
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func (s *Schedule) String() string { return s.src }

// Matches reports whether the minute containing t (UTC) is a start time.
func (s *Schedule) Matches(t time.Time) bool {
	t = t.UTC()
	if s.min&(1<<uint(t.Minute())) == 0 || s.hour&(1<<uint(t.Hour())) == 0 || s.month&(1<<uint(t.Month())) == 0 {
		return false
	}
	return s.dayOK(t)
}

// Active reports whether t falls in a window of length d that starts at a
// scheduled minute, and if so when that window started. It looks back at
// most d (minute by minute), so keep d to days, not months.
func (s *Schedule) Active(t time.Time, d time.Duration) (time.Time, bool) {
	t = t.UTC()
	start := t.Truncate(time.Minute)
	for m := start; t.Sub(m) < d; m = m.Add(-time.Minute) {
		if s.Matches(m) {
			return m, true
		}
	}
	return time.Time{}, false
}

// Next returns the first time after t (to the minute, UTC) the schedule
// fires; the zero time if none within 5 years (e.g. February 31).
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(5, 0, 0)
	for t.Before(end) {
		if s.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !s.dayOK(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if s.hour&(1<<uint(t.Hour())) == 0 {
			t = t.Truncate(time.Hour).Add(time.Hour)
			continue
		}
		if s.min&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

func (s *Schedule) dayOK(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return dow
	case s.dowStar:
		return dom
	}
	return dom || dow
}
