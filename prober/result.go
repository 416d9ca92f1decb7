// SPDX-License-Identifier: MIT

package prober

import (
	"net/netip"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// Outcome is what became of one probe. The zero value is invalid.
type Outcome uint8

const (
	OutcomeInvalid   Outcome = iota
	OutcomeOK                // a reply matched the probe
	OutcomeTimeout           // no reply within the timeout
	OutcomeICMPError         // an ICMP error (unreachable, time exceeded, …) quoted the probe
	OutcomeSendError         // the kernel refused to send it (no route, …)
)

var outcomeNames = [...]string{"invalid", "ok", "timeout", "icmp-error", "send-error"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// TSMethod says where a result's RTT came from. It is obs.Method, so a
// method has one name everywhere (CLI, JSON, metrics): "kernel-tx-rx",
// "kernel-rx", "user".
type TSMethod = obs.Method

const (
	// TSInvalid: no RTT (failures).
	TSInvalid = obs.MethodNone
	// TSKernelTxRx: kernel software timestamps on both transmit (the error
	// queue, SO_TIMESTAMPING) and receive.
	TSKernelTxRx = obs.MethodKernelTxRx
	// TSKernelRx: kernel receive timestamp; the send time is the clock read
	// just before the sendmmsg call of the probe's batch.
	TSKernelRx = obs.MethodKernelRx
	// TSUser: both times from the process clock (no kernel timestamp
	// arrived).
	TSUser = obs.MethodUser
)

// HealthKind says which health payload a reply carried. The zero value
// means none: a plain echo ("reachable, no health").
type HealthKind uint8

const (
	HealthNone HealthKind = iota
	HealthHBH1            // an HBR1 reply with an HBH1 blob (Result.Health)
	HealthHBM2            // a legacy HBM v2 payload (Result.HBM2)
)

var healthNames = [...]string{"none", "hbh1", "hbm2"}

func (k HealthKind) String() string {
	if int(k) < len(healthNames) {
		return healthNames[k]
	}
	return "invalid"
}

// Result is the fate of one probe. It is plain data: the engine fills one
// in and hands it to the caller's callback, which may copy it.
type Result struct {
	Target int // index into the engine's current target slice
	// ID is the target's Target.ID and Gen the generation of the list it
	// is in (SetTargetFunc; 0 for SetTargets and Once): a probe in flight
	// across a reload to an address the new list still has resolves
	// with the new list's ID and Gen.
	ID   int
	Gen  uint64
	Addr netip.Addr // the address probed
	Seq  uint16     // the probe's sequence number (its in-flight slot)
	Sent time.Time  // when it was sent (kernel TX time when known)

	Outcome Outcome
	RTT     time.Duration // OutcomeOK only
	Method  TSMethod      // how RTT was measured (OutcomeOK only)

	// ICMP errors (OutcomeICMPError): the type and code, and the router
	// (or host) that reported it.
	ICMPType, ICMPCode uint8
	From               netip.Addr
	// Err is the send error for OutcomeSendError.
	Err error

	// Health payload of an OK reply.
	HealthKind HealthKind
	Health     wire.Health // HealthHBH1
	HBM2       wire.HBM2   // HealthHBM2
	// BlobErr is why an HBR1 reply's blob could not be used (torn, bad
	// seal, no key, …); the probe still counts as answered.
	BlobErr error
	// Stale: the blob's collected-at is older than Config.StaleAfter at
	// receive time (the responder stopped publishing fresh samples).
	Stale bool
}

// OK reports whether the probe was answered.
func (r *Result) OK() bool { return r.Outcome == OutcomeOK }

// Stats are the engine's counters since New. All are totals.
type Stats struct {
	Sent       uint64 // probes handed to the kernel
	SendErrors uint64 // probes the kernel refused (not ENOBUFS)
	ENOBUFS    uint64 // sendmmsg backoffs on ENOBUFS/EAGAIN (the probes were retried)
	Received   uint64 // packets read from the sockets (after the kernel filter)
	Matched    uint64 // replies matched to a pending probe
	Duplicates uint64 // replies to a probe already answered
	Late       uint64 // replies to a probe that had already timed out
	BadCookie  uint64 // replies whose cookie or tx time does not match the slot
	WrongSrc   uint64 // replies from an address other than the probed one
	Unmatched  uint64 // replies for a free slot, foreign id, or unparsable
	ICMPErrors uint64 // ICMP errors matched to a probe
	Timeouts   uint64 // probes with no answer within the timeout
	TxStamps   uint64 // kernel TX timestamps read from the error queue
	Stalls     uint64 // times sending waited because every in-flight slot was busy
	// TxMissing: replies measured kernel-rx on a socket that has kernel TX
	// stamps, because the probe's TX stamp never came back.
	TxMissing uint64
	HealthOK  uint64 // health payloads decoded (HBH1 and HBM2)
	// BlobErrors are health payloads that failed to decode, by reason
	// (indexed by wire.ErrKind).
	BlobErrors [wire.NumErrKinds]uint64
	// Replies refused by the reply policy (the probe stays pending):
	// NoCookie: echo replies without our cookie (empty, foreign, or
	// spoofed payloads); HBM2Refused: HBM v2 replies for a target not
	// configured legacy=hbm2; Downgrades: replies with a clear blob while
	// a key is configured and AcceptClear is off.
	NoCookie, HBM2Refused, Downgrades uint64
	// TxPacket: probes sent as frames on the AF_PACKET socket (tx =
	// packet); TxFallback: probes that socket could not carry (neighbour
	// not resolved, non-Ethernet link, no route), sent by the raw socket.
	TxPacket, TxFallback uint64
	// RxRing: packets read from the TPACKET_V3 receive ring (rx = ring;
	// also counted in Received); RxRingDrops: packets the kernel dropped
	// because the ring was full (PACKET_STATISTICS); RxRingNotLocal:
	// packets from the ring whose IP destination is not one of this
	// host's addresses (routed through a forwarding host for another
	// machine; a raw socket never sees them), dropped before matching.
	RxRing, RxRingDrops, RxRingNotLocal uint64
}
