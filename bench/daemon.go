// SPDX-License-Identifier: MIT

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// DaemonSummary is the part of hb-probe's GET /api/v1/summary the monitor
// benchmark reads: hosts per state and the engine's probe counters.
type DaemonSummary struct {
	Hosts  int            `json:"hosts"`
	States map[string]int `json:"states"`
	Mode   string         `json:"mode"`
	Probes struct {
		PerSecond  float64 `json:"per_second"`
		Sent       uint64  `json:"sent_total"`
		Received   uint64  `json:"received_total"`
		Timeouts   uint64  `json:"timeouts_total"`
		ICMPErrors uint64  `json:"icmp_errors_total"`
	} `json:"probes"`
}

// ParseDaemonSummary decodes a /api/v1/summary body.
func ParseDaemonSummary(r io.Reader) (DaemonSummary, error) {
	var s DaemonSummary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	if s.States == nil {
		return s, fmt.Errorf("summary: no states object")
	}
	return s, nil
}

// Window is what a daemon did between two summaries.
type Window struct {
	Sent, Answered, Failed uint64  // probes sent; results: replies, timeouts + ICMP errors
	SentPerSec             float64 // Sent over the window's length
	LossPct                float64 // Failed / (Answered + Failed), NaN without results
}

// DaemonWindow is the difference of two summaries taken d apart. Results
// of probes sent just before the window count in it (and probes in flight
// at its end do not): over several intervals the edges are noise.
func DaemonWindow(a, b DaemonSummary, d time.Duration) Window {
	sub := func(x, y uint64) uint64 {
		if y < x { // counters reset: the daemon restarted
			return 0
		}
		return y - x
	}
	w := Window{
		Sent:     sub(a.Probes.Sent, b.Probes.Sent),
		Answered: sub(a.Probes.Received, b.Probes.Received),
		Failed:   sub(a.Probes.Timeouts, b.Probes.Timeouts) + sub(a.Probes.ICMPErrors, b.Probes.ICMPErrors),
	}
	if d > 0 {
		w.SentPerSec = float64(w.Sent) / d.Seconds()
	}
	w.LossPct = math.NaN()
	if w.Answered+w.Failed > 0 {
		w.LossPct = 100 * float64(w.Failed) / float64(w.Answered+w.Failed)
	}
	return w
}
