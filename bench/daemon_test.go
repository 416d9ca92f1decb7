// SPDX-License-Identifier: MIT

package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDaemonSummary(t *testing.T) {
	body := `{"hosts":4,"states":{"degraded":0,"down":1,"unknown":1,"up":2},"generation":1,"mode":"raw-icmp","uptime_seconds":0,
 "probes":{"per_second":12.5,"sent_total":1000,"received_total":990,"timeouts_total":8,"icmp_errors_total":2}}`
	s, err := ParseDaemonSummary(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.Hosts != 4 || s.States["up"] != 2 || s.Mode != "raw-icmp" || s.Probes.Sent != 1000 || s.Probes.Received != 990 ||
		s.Probes.Timeouts != 8 || s.Probes.ICMPErrors != 2 || s.Probes.PerSecond != 12.5 {
		t.Fatalf("ParseDaemonSummary = %+v", s)
	}
	for _, bad := range []string{"", "{", `{"hosts":1}`, `{"error":"unknown host"}`} {
		if _, err := ParseDaemonSummary(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseDaemonSummary(%q): no error", bad)
		}
	}
}

func TestDaemonWindow(t *testing.T) {
	sum := func(sent, recv, to, icmp uint64) DaemonSummary {
		var s DaemonSummary
		s.Probes.Sent, s.Probes.Received, s.Probes.Timeouts, s.Probes.ICMPErrors = sent, recv, to, icmp
		return s
	}
	for _, c := range []struct {
		name                   string
		a, b                   DaemonSummary
		d                      time.Duration
		sent, answered, failed uint64
		rate, loss             float64
	}{
		{"clean", sum(100, 100, 0, 0), sum(1100, 1100, 0, 0), 10 * time.Second, 1000, 1000, 0, 100, 0},
		{"loss", sum(0, 0, 0, 0), sum(1000, 900, 60, 40), 2 * time.Second, 1000, 900, 100, 500, 10},
		{"restart", sum(500, 500, 5, 0), sum(10, 10, 0, 0), time.Second, 0, 0, 0, 0, math.NaN()},
		{"no time", sum(0, 0, 0, 0), sum(10, 10, 0, 0), 0, 10, 10, 0, 0, 0},
	} {
		w := DaemonWindow(c.a, c.b, c.d)
		sameLoss := w.LossPct == c.loss || (math.IsNaN(w.LossPct) && math.IsNaN(c.loss))
		if w.Sent != c.sent || w.Answered != c.answered || w.Failed != c.failed || w.SentPerSec != c.rate || !sameLoss {
			t.Errorf("%s: DaemonWindow = %+v", c.name, w)
		}
	}
}
