// SPDX-License-Identifier: MIT

package obs

import (
	"math"
	"time"

	"github.com/hbmon/hb/wire"
)

// Health is the one JSON shape of a host's health sample (an HBH1 blob),
// used by the API (/api/v1/hosts/…) and `hb-probe --once --json` alike:
// one set of field names, base units (ratios 0..1, bytes, seconds).
type Health struct {
	Hostname      string     `json:"hostname"`
	CollectedAt   time.Time  `json:"collected_at"` // responder's clock
	ReceivedAt    *time.Time `json:"received_at"`  // prober's clock; null when not known
	AgeSeconds    float64    `json:"age_seconds"`  // at the time of the answer, by the responder's clock
	Sealed        bool       `json:"sealed"`
	Generation    uint64     `json:"generation"`
	CPUBusy       float64    `json:"cpu_busy_ratio"`
	NumCPU        uint16     `json:"num_cpu"`
	Load1         float64    `json:"load1"`
	Load5         float64    `json:"load5"`
	Load15        float64    `json:"load15"`
	Procs         uint32     `json:"procs"`
	MemTotal      uint64     `json:"memory_total_bytes"`
	MemAvailable  uint64     `json:"memory_available_bytes"`
	SwapTotal     uint64     `json:"swap_total_bytes"`
	SwapUsed      uint64     `json:"swap_used_bytes"`
	RootTotal     uint64     `json:"root_total_bytes"`
	RootUsed      uint64     `json:"root_used_bytes"`
	FullestMount  float64    `json:"fullest_mount_used_ratio"`
	NetRx         uint64     `json:"net_rx_bytes_per_second"`
	NetTx         uint64     `json:"net_tx_bytes_per_second"`
	UptimeSeconds uint64     `json:"uptime_seconds"`
	BootTime      time.Time  `json:"boot_time"`
}

// HealthOf converts a decoded blob. receivedAt is when the prober got it
// (zero: unknown, null in JSON); now is the time of the answer, for
// AgeSeconds. Pure: the clock is passed in.
func HealthOf(h *wire.Health, receivedAt, now time.Time) *Health {
	return &Health{
		Hostname:      h.HostnameString(),
		CollectedAt:   time.Unix(0, h.CollectedAt).UTC(),
		ReceivedAt:    timePtr(receivedAt),
		AgeSeconds:    now.Sub(time.Unix(0, h.CollectedAt)).Seconds(),
		Sealed:        h.Sealed(),
		Generation:    h.Generation,
		CPUBusy:       float64(h.CPUBusy) / 1000,
		NumCPU:        h.NumCPU,
		Load1:         float64(h.Load1) / 1000,
		Load5:         float64(h.Load5) / 1000,
		Load15:        float64(h.Load15) / 1000,
		Procs:         h.Procs,
		MemTotal:      h.MemTotal,
		MemAvailable:  h.MemAvailable,
		SwapTotal:     h.SwapTotal,
		SwapUsed:      h.SwapUsed,
		RootTotal:     h.RootTotal,
		RootUsed:      h.RootUsed,
		FullestMount:  float64(h.FullestMount) / 1000,
		NetRx:         h.NetRxRate,
		NetTx:         h.NetTxRate,
		UptimeSeconds: uint64(h.Uptime),
		BootTime:      time.Unix(int64(h.BootTime), 0).UTC(),
	}
}

// HBM2 is the one JSON shape of a legacy HBM v2 payload, in the same
// names and units as Health.
type HBM2 struct {
	Timestamp    time.Time  `json:"timestamp"`
	ReceivedAt   *time.Time `json:"received_at"`
	AgeSeconds   float64    `json:"age_seconds"`
	CPUBusy      float64    `json:"cpu_busy_ratio"`
	MemUsed      float64    `json:"memory_used_ratio"`
	MemAvailable float64    `json:"memory_available_bytes"`
	DiskUsed     float64    `json:"disk_used_ratio"`
}

// HBM2Of converts a decoded HBM v2 payload; like HealthOf.
func HBM2Of(m *wire.HBM2, receivedAt, now time.Time) *HBM2 {
	sec, frac := math.Modf(m.Timestamp)
	t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return &HBM2{
		Timestamp: t, ReceivedAt: timePtr(receivedAt), AgeSeconds: now.Sub(t).Seconds(),
		CPUBusy: float64(m.CPUPercent) / 100, MemUsed: float64(m.MemPercent) / 100,
		MemAvailable: float64(m.MemAvailMB) * (1 << 20), DiskUsed: float64(m.DiskPercent) / 100,
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
