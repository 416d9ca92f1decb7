// SPDX-License-Identifier: MIT

package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// maxUnixSeconds bounds a time given as Unix seconds (the year 2242): a
// larger number is more likely milliseconds than a time.
const maxUnixSeconds = 1 << 33

// ParseTime reads a time given either as Unix seconds — an integer or a
// decimal fraction, "1764669600" or "1764669600.25" (hbd's style) — or
// as RFC 3339, "2026-12-02T10:00:00Z" (with fractional seconds and any
// offset). The result is UTC.
func ParseTime(s string) (time.Time, error) {
	if s != "" && strings.Trim(s, "0123456789.") == "" {
		whole, frac, _ := strings.Cut(s, ".")
		sec, err := strconv.ParseInt(whole, 10, 64)
		if err == nil && (whole == "" || sec > maxUnixSeconds) {
			err = fmt.Errorf("out of range")
		}
		var ns int64
		if err == nil && frac != "" {
			if len(frac) > 9 {
				frac = frac[:9]
			}
			ns, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		}
		if err == nil {
			return time.Unix(sec, ns).UTC(), nil
		}
		return time.Time{}, fmt.Errorf("want Unix seconds up to %d or RFC 3339, got %q", int64(maxUnixSeconds), s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want Unix seconds (1764669600) or RFC 3339 (2026-12-02T10:00:00Z), got %q", s)
	}
	return t.UTC(), nil
}

// SinceArg reads the query argument "since" (ParseTime): the zero time
// when absent; ok false when it answered 400 itself.
func SinceArg(ctx *fasthttp.RequestCtx) (t time.Time, ok bool) {
	raw := ctx.QueryArgs().Peek("since")
	if raw == nil {
		return time.Time{}, true
	}
	t, err := ParseTime(string(raw))
	if err != nil {
		WriteError(ctx, fasthttp.StatusBadRequest, "since: "+err.Error())
		return time.Time{}, false
	}
	return t, true
}
