package store

import (
	"net/netip"
	"time"

	"github.com/hbmon/hb/wire"
)

// Host is a configured target as the store keeps it.
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

// Probe is one probe result for the rollups.
type Probe struct {
	Host   string
	At     time.Time
	OK     bool
	RTT    time.Duration // OK with a measured RTT; 0 otherwise
	Health *Health       // nil when the reply carried none
}

// Transition is a host's state change.
type Transition struct {
	Host     string
	At       time.Time
	From, To string // "unknown", "up", "degraded", "down"
	// Count is the host's total number of transitions after this one; the
	// store keeps it with the host's last state so a restart restores it.
	Count uint32
}

// Problem kinds.
const (
	KindTimeout   = "timeout"
	KindICMPError = "icmp-error"
	KindSendError = "send-error"
)

// Problem is one failed probe: a timeout, an ICMP error (with its type,
// code and sender) or a local send error.
type Problem struct {
	ID       int64 // set when read back
	Host     string
	At       time.Time
	Kind     string // KindTimeout, KindICMPError, KindSendError
	ICMPType uint8
	ICMPCode uint8
	From     netip.Addr // who sent the ICMP error; invalid otherwise
	Detail   string
}

type eventKind uint8

const (
	evProbe eventKind = iota + 1
	evTransition
	evProblem
	evHosts
)

// event is one queued write. Probes, the bulk, travel by value; the rarer
// kinds by pointer in ext (*Transition, *Problem, []Host) to keep the queue
// small.
type event struct {
	kind  eventKind
	probe Probe
	ext   any
}

// RecordProbe queues one probe result for the per-minute rollups (and the
// host's last-seen time when OK). It never blocks.
func (s *Store) RecordProbe(p Probe) { s.enqueue(event{kind: evProbe, probe: p}) }

// RecordTransition queues a state change. It never blocks.
func (s *Store) RecordTransition(t Transition) { s.enqueue(event{kind: evTransition, ext: &t}) }

// RecordProblem queues a failed probe. It never blocks.
func (s *Store) RecordProblem(p Problem) { s.enqueue(event{kind: evProblem, ext: &p}) }

// SetHosts queues the configured host list: new hosts are added, existing
// ones get their address and labels updated. Hosts missing from the list
// are kept (their history stays until retention removes it). Call it at
// start and after every reload.
func (s *Store) SetHosts(hosts []Host) {
	cp := make([]Host, len(hosts))
	copy(cp, hosts)
	s.enqueue(event{kind: evHosts, ext: cp})
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
