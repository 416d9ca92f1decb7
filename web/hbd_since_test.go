// SPDX-License-Identifier: MIT

package web_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// unixArg is t as Unix seconds with nanoseconds, as hbd's clients send it.
func unixArg(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// names is the "hostname" of each object of an /api/0 list, sorted.
func names(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(map[string]any)["hostname"].(string))
	}
	sort.Strings(out)
	return out
}

// TestHbdSince: /api/0/hosts and /api/0/alerts take ?since= as Unix
// seconds or RFC 3339, the same instant either way, through the real
// daemon's HTTP server: h000001 goes down, then (1.2 s later) h000003;
// since a moment between the two, only h000003 is listed; a bad since is
// 400. (/api/0/messages: TestHbdMessagesShape.)
func TestHbdSince(t *testing.T) {
	d := startDaemon(t, 4, true)
	d.fleetUp(4)
	ada := client{url: d.url, token: adaToken}
	down := func(h string) time.Time {
		at := time.Now()
		d.observe(h, false, 0, at)
		d.observe(h, false, 0, at.Add(time.Millisecond))
		return at
	}
	t1 := down("h000001")
	time.Sleep(1200 * time.Millisecond)
	down("h000003")
	mid := t1.Add(600 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); len(getAny(t, ada, "/api/0/alerts").([]any)) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the alerts did not fire")
		}
	}
	forms := map[string]string{"unix": unixArg(mid), "rfc3339": mid.UTC().Format(time.RFC3339Nano), "rfc3339+offset": mid.In(time.FixedZone("X", 5*3600)).Format(time.RFC3339Nano)}
	for name, since := range forms {
		q := "?since=" + url.QueryEscape(since)
		if got := names(getAny(t, ada, "/api/0/hosts"+q)); strings.Join(got, " ") != "h000003" {
			t.Errorf("hosts since %s (%s): %v, want h000003", since, name, got)
		}
		if got := names(getAny(t, ada, "/api/0/alerts"+q)); strings.Join(got, " ") != "h000003" {
			t.Errorf("alerts since %s (%s): %v, want h000003", since, name, got)
		}
	}
	early := t1.Add(-time.Minute)
	for _, since := range []string{unixArg(early), early.UTC().Format(time.RFC3339), fmt.Sprint(early.Unix())} {
		if got := names(getAny(t, ada, "/api/0/alerts?since="+url.QueryEscape(since))); len(got) != 2 {
			t.Errorf("alerts since %s: %v, want both", since, got)
		}
		if got := names(getAny(t, ada, "/api/0/hosts?since="+url.QueryEscape(since))); len(got) != 4 {
			t.Errorf("hosts since %s: %v, want all four", since, got)
		}
	}
	if got := getAny(t, ada, "/api/0/alerts?since="+unixArg(time.Now().Add(time.Hour))).([]any); len(got) != 0 {
		t.Errorf("alerts since an hour ahead: %v", got)
	}
	for _, p := range []string{"/api/0/hosts", "/api/0/alerts", "/api/0/messages"} {
		for _, bad := range []string{"yesterday", "1e9", "-5", "2026-12-02"} {
			if code, body := ada.do(t, "GET", p+"?since="+url.QueryEscape(bad), ""); code != 400 || !strings.Contains(body, "since") {
				t.Errorf("%s?since=%s: %d %s, want 400", p, bad, code, body)
			}
		}
	}
}
