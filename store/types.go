// SPDX-License-Identifier: MIT

package store

import (
	"net/netip"
	"time"

	"github.com/hbmon/hb/wire"
)

// Host is a configured host as the store keeps it.
type Host struct {
	Name    string
	Address string
	Labels  map[string]string
}

// Health is the part of a health payload the rollups average. Percentages
// are 0–100.
type Health struct {
	CPU   float64 // percent of all CPUs busy
	Mem   float64 // percent of memory in use (total − available)
	Disk  float64 // percent of the root filesystem used
	Load1 float64 // 1-minute load average
}

// HealthFromBlob extracts the averaged figures from an HBH1 blob.
func HealthFromBlob(h *wire.Health) Health {
	var x Health
	x.CPU = float64(h.CPUBusy) / 10
	if h.MemTotal > 0 && h.MemAvailable <= h.MemTotal {
		x.Mem = 100 * float64(h.MemTotal-h.MemAvailable) / float64(h.MemTotal)
	}
	if h.RootTotal > 0 {
		x.Disk = 100 * float64(h.RootUsed) / float64(h.RootTotal)
	}
	x.Load1 = float64(h.Load1) / 1000
	return x
}

// HealthFromHBM2 extracts the averaged figures from a legacy HBM v2
// payload (which has no load average).
func HealthFromHBM2(m *wire.HBM2) Health {
	return Health{CPU: float64(m.CPUPercent), Mem: float64(m.MemPercent), Disk: float64(m.DiskPercent)}
}

// Problem kinds.
const (
	KindTimeout   = "timeout"
	KindICMPError = "icmp-error"
	KindError     = "error" // a send error, a refused connection, a failed HTTP check, …
)

// Problem is one stored failure: a timeout, an ICMP error (with its type,
// code and sender) or another error.
type Problem struct {
	ID        int64 // set when read back
	Host      string
	Check     string
	CheckKind string // the check's kind: "icmp", "tcp", …
	At        time.Time
	Kind      string // KindTimeout, KindICMPError, KindError
	ICMPType  uint8
	ICMPCode  uint8
	From      netip.Addr // who sent the ICMP error; invalid otherwise
	Detail    string
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
