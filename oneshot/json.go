// SPDX-License-Identifier: MIT

package oneshot

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
)

// WriteJSON prints one JSON object per summary (JSON Lines), buffered.
func WriteJSON(w io.Writer, sums []prober.Summary) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	now := time.Now() // for the health objects' age_seconds
	var line []byte
	for i := range sums {
		// The common line (no labels, health or ICMP error) is written
		// directly, byte for byte what the encoder writes (tested).
		if b, ok := appendPlainJSON(line[:0], &sums[i]); ok {
			line = b
			if _, err := bw.Write(line); err != nil {
				return err
			}
			continue
		}
		if err := enc.Encode(jsonSummary(&sums[i], now)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendPlainJSON appends the --json line of a summary without labels,
// health, blob error or ICMP error, and whose strings need no escaping;
// ok is false for any other summary (the encoder writes it).
func appendPlainJSON(b []byte, s *prober.Summary) ([]byte, bool) {
	l := s.Health()
	if s.Target.Labels != nil || s.LastProblem != nil || l.HealthKind != prober.HealthNone || l.Stale || l.BlobErr != nil ||
		!plainJSON(s.Target.Name) {
		return b, false
	}
	b = append(b, `{"target":"`...)
	b = append(b, s.Target.Name...)
	b = append(b, `","addr":"`...)
	b = s.Target.Addr.AppendTo(b)
	b = append(b, `","state":"`...)
	b = append(b, State(s)...)
	b = append(b, `","sent":`...)
	b = strconv.AppendInt(b, int64(s.Sent), 10)
	b = append(b, `,"received":`...)
	b = strconv.AppendInt(b, int64(s.Received), 10)
	b = append(b, `,"loss":`...)
	b = appendJSONFloat(b, s.Loss())
	if s.Received > 0 {
		for i, d := range [3]time.Duration{s.Min, s.Avg(), s.Max} {
			b = append(b, [3]string{`,"rtt_min_ms":`, `,"rtt_avg_ms":`, `,"rtt_max_ms":`}[i]...)
			b = appendJSONFloat(b, float64(d)/1e6)
		}
		if m := s.Method.String(); m != "" {
			b = append(b, `,"rtt_method":"`...)
			b = append(b, m...)
			b = append(b, '"')
		}
		b = append(b, `,"health_kind":"`...)
		b = append(b, l.HealthKind.String()...)
		b = append(b, `"}`...)
	} else {
		b = append(b, `,"rtt_min_ms":null,"rtt_avg_ms":null,"rtt_max_ms":null,"health_kind":"`...)
		b = append(b, prober.HealthNone.String()...)
		b = append(b, '"')
		if s.Sent > 0 {
			b = append(b, `,"problem":{"outcome":"`...)
			b = append(b, prober.OutcomeTimeout.String()...)
			b = append(b, `","text":"timeout"}`...)
		}
		b = append(b, '}')
	}
	return append(b, '\n'), true
}

// plainJSON reports whether encoding/json writes s as is between quotes
// (printable ASCII, none of its escaped characters, HTML's included).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendJSONFloat formats f as encoding/json does a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
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
	l := s.Health()
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
