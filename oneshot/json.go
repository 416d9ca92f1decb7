// SPDX-License-Identifier: MIT

package oneshot

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/hbmon/hb/prober"
)

// WriteJSON prints one JSON object per summary (JSON Lines), buffered.
func WriteJSON(w io.Writer, sums []prober.Summary) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	for i := range sums {
		if err := enc.Encode(jsonSummary(&sums[i])); err != nil {
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
	Health     any               `json:"health,omitempty"`
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

type healthJSON struct {
	Hostname       string  `json:"hostname"`
	CollectedAt    string  `json:"collected_at"`
	Sealed         bool    `json:"sealed"`
	CPUBusyPct     float64 `json:"cpu_busy_pct"`
	NumCPU         uint16  `json:"num_cpu"`
	Load1          float64 `json:"load1"`
	Load5          float64 `json:"load5"`
	Load15         float64 `json:"load15"`
	Procs          uint32  `json:"procs"`
	MemTotal       uint64  `json:"mem_total_bytes"`
	MemAvailable   uint64  `json:"mem_available_bytes"`
	SwapTotal      uint64  `json:"swap_total_bytes"`
	SwapUsed       uint64  `json:"swap_used_bytes"`
	RootTotal      uint64  `json:"root_total_bytes"`
	RootUsed       uint64  `json:"root_used_bytes"`
	FullestMountPc float64 `json:"fullest_mount_pct"`
	NetRxBps       uint64  `json:"net_rx_bytes_per_second"`
	NetTxBps       uint64  `json:"net_tx_bytes_per_second"`
	UptimeSeconds  uint64  `json:"uptime_seconds"`
}

func fptr(d time.Duration) *float64 { v := float64(d) / 1e6; return &v }

func jsonSummary(s *prober.Summary) onceJSON {
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
			h := &l.Health
			j.Health = healthJSON{
				Hostname: h.HostnameString(), CollectedAt: time.Unix(0, h.CollectedAt).UTC().Format(time.RFC3339Nano), Sealed: h.Sealed(),
				CPUBusyPct: float64(h.CPUBusy) / 10, NumCPU: h.NumCPU,
				Load1: float64(h.Load1) / 1000, Load5: float64(h.Load5) / 1000, Load15: float64(h.Load15) / 1000, Procs: h.Procs,
				MemTotal: h.MemTotal, MemAvailable: h.MemAvailable, SwapTotal: h.SwapTotal, SwapUsed: h.SwapUsed,
				RootTotal: h.RootTotal, RootUsed: h.RootUsed, FullestMountPc: float64(h.FullestMount) / 10,
				NetRxBps: h.NetRxRate, NetTxBps: h.NetTxRate, UptimeSeconds: uint64(h.Uptime),
			}
		case prober.HealthHBM2:
			j.Health = l.HBM2
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
