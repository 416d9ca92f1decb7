// SPDX-License-Identifier: MIT

package oneshot

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
)

// WriteJSON prints one JSON object per summary (JSON Lines), buffered.
func WriteJSON(w io.Writer, sums []prober.Summary) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	now := time.Now() // for the health objects' age_seconds
	for i := range sums {
		if err := enc.Encode(jsonSummary(&sums[i], now)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// onceJSON is one target in --json output.
type onceJSON struct {
	Target     string            `json:"target"`
	Addr       string            `json:"addr"`
	Labels     map[string]string `json:"labels,omitempty"`
	State      string            `json:"state"`
	Sent       int               `json:"sent"`
	Received   int               `json:"received"`
	Loss       float64           `json:"loss"`
	RTTMinMs   *float64          `json:"rtt_min_ms"`
	RTTAvgMs   *float64          `json:"rtt_avg_ms"`
	RTTMaxMs   *float64          `json:"rtt_max_ms"`
	RTTMethod  string            `json:"rtt_method,omitempty"`
	HealthKind string            `json:"health_kind"`
	Health     any               `json:"health,omitempty"` // *obs.Health or *obs.HBM2, as in the API
	Stale      bool              `json:"stale,omitempty"`
	BlobError  string            `json:"blob_error,omitempty"`
	Problem    *problemJSON      `json:"problem,omitempty"`
}

type problemJSON struct {
	Outcome  string `json:"outcome"`
	Text     string `json:"text"`
	ICMPType uint8  `json:"icmp_type,omitempty"`
	ICMPCode uint8  `json:"icmp_code,omitempty"`
	From     string `json:"from,omitempty"`
}

func fptr(d time.Duration) *float64 { v := float64(d) / 1e6; return &v }

func jsonSummary(s *prober.Summary, now time.Time) onceJSON {
	j := onceJSON{
		Target: s.Target.Name, Addr: s.Target.Addr.String(), Labels: s.Target.Labels,
		State: State(s), Sent: s.Sent, Received: s.Received, Loss: s.Loss(),
	}
	l := &s.Last
	if s.Received > 0 {
		j.RTTMinMs, j.RTTAvgMs, j.RTTMaxMs = fptr(s.Min), fptr(s.Avg()), fptr(s.Max)
		j.RTTMethod = s.Method.String()
		j.HealthKind = l.HealthKind.String()
		j.Stale = l.Stale
		if l.BlobErr != nil {
			j.BlobError = l.BlobErr.Error()
		}
		switch l.HealthKind {
		case prober.HealthHBH1:
			j.Health = obs.HealthOf(&l.Health, time.Time{}, now) // the API's health object
		case prober.HealthHBM2:
			j.Health = obs.HBM2Of(&l.HBM2, time.Time{}, now)
		}
	} else {
		j.HealthKind = prober.HealthNone.String()
	}
	if p := s.LastProblem; p != nil {
		j.Problem = &problemJSON{Outcome: p.Outcome.String(), Text: p.Problem(), ICMPType: p.ICMPType, ICMPCode: p.ICMPCode}
		if p.From.IsValid() {
			j.Problem.From = p.From.String()
		}
	} else if s.Received == 0 && s.Sent > 0 {
		j.Problem = &problemJSON{Outcome: prober.OutcomeTimeout.String(), Text: "timeout"}
	}
	return j
}
