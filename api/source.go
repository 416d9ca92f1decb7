// SPDX-License-Identifier: MIT

package api

import (
	"context"
	"time"
)

// HistorySource is what the API needs from the history store. The store
// package implements it; tests use a fake. All times are UTC. The API only
// asks about hosts in the current table (others get 404 before the call);
// a host with no stored rows has an empty History, not an error.
type HistorySource interface {
	// History returns host's per-minute rollups and state changes with
	// from <= t < to, oldest first.
	History(ctx context.Context, host string, from, to time.Time) (History, error)
	// Problems returns up to limit problems (all hosts) with from <= t < to,
	// newest first.
	Problems(ctx context.Context, from, to time.Time, limit int) ([]Problem, error)
}

// CheckHistorySource is implemented by a HistorySource that also keeps
// history per check: /api/v1/hosts/{name}/history?check=NAME answers
// from it (501 from a source without it).
type CheckHistorySource interface {
	// CheckHistory returns one check's per-minute rollups and state
	// changes with from <= t < to, oldest first.
	CheckHistory(ctx context.Context, host, check string, from, to time.Time) (History, error)
}

// History is one host's stored history over a time range.
type History struct {
	Rollups []Rollup      `json:"rollups"`
	Changes []StateChange `json:"state_changes"`
}

// Rollup is one minute of one host's results. Ratios are 0..1; a health
// figure is nil when no health arrived that minute.
type Rollup struct {
	Minute     time.Time `json:"minute"` // start of the minute
	Probes     int64     `json:"probes"`
	Losses     int64     `json:"losses"`
	RTTMinSec  *float64  `json:"rtt_min_seconds"` // nil when no reply that minute
	RTTAvgSec  *float64  `json:"rtt_avg_seconds"`
	RTTMaxSec  *float64  `json:"rtt_max_seconds"`
	CPURatio   *float64  `json:"cpu_busy_ratio"`
	MemRatio   *float64  `json:"memory_used_ratio"`
	DiskRatio  *float64  `json:"disk_used_ratio"`
	Load1      *float64  `json:"load1"`
	HealthSeen int64     `json:"health_samples"`
}

// StateChange is one FSM transition.
type StateChange struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// Problem is one stored failure: a timeout or an ICMP error.
type Problem struct {
	At       time.Time `json:"at"`
	Host     string    `json:"host"`
	Kind     string    `json:"kind"` // "timeout", "icmp", "error"
	ICMPType *int      `json:"icmp_type,omitempty"`
	ICMPCode *int      `json:"icmp_code,omitempty"`
	Detail   string    `json:"detail"`
}

// EngineStats are the prober engine's own counters, as totals since start.
// The daemon fills them from the engine; the API only reports them.
type EngineStats struct {
	Mode       string // how the prober probes: "raw", "ping-socket", "udp" (prober.Socket)
	Sent       uint64 // probes sent
	Received   uint64 // matching replies
	Timeouts   uint64
	ICMPErrors uint64 // ICMP errors matched to a probe
	Late       uint64 // replies after their deadline
	Duplicates uint64
	Invalid    uint64 // packets dropped: bad cookie, short, wrong source
	SendErrors uint64
	HealthOK   uint64 // blobs decoded
	HealthBad  uint64 // blobs failing CRC, tag or format
	ENOBUFS    uint64 // sends pushed back by a full socket buffer (retried)
	Stalls     uint64 // times sending waited because every in-flight slot was busy
	TxMissing  uint64 // replies measured without their kernel TX stamp
	// TxFrames: probes sent as Ethernet frames on the AF_PACKET socket
	// (tx = packet); TxFallback: probes that path could not carry
	// (neighbour not resolved, non-Ethernet link), sent by the raw socket.
	TxFrames, TxFallback uint64
	// RxRing: packets read from the TPACKET_V3 receive ring (rx = ring);
	// RxRingDrops: packets the kernel dropped because the ring was full;
	// RxRingNotLocal: ring packets whose IP destination is not this host
	// (forwarded for another machine), dropped before matching.
	RxRing, RxRingDrops, RxRingNotLocal uint64
	// BlobErrors are HealthBad by reason (wire.ErrKind names: "checksum",
	// "seal", "no_key", …); nil if the engine does not break them down.
	BlobErrors map[string]uint64
	// Replies refused by the prober's reply policy (docs/security.md): no
	// cookie (empty, foreign or spoofed echo payloads), HBM v2 from a
	// target not configured legacy=hbm2, a clear blob while a key is
	// configured (a downgrade).
	RefusedNoCookie, RefusedHBM2, RefusedDowngrade uint64
}

// StatsSource returns the engine's current counters. It is called once
// per /metrics, /healthz and /api/v1/summary request and must be safe for
// concurrent use. nil means no engine (counters reported as zero).
type StatsSource func() EngineStats
