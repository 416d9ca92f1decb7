// SPDX-License-Identifier: MIT

package prober

import (
	"math"
	"time"

	"github.com/hbmon/hb/wire"
)

// Summary aggregates one target's results over a --once run. It is kept
// compact (about 100 bytes; a sweep holds one per target): the target is
// referenced, not copied, and of the last result it keeps only what the
// outputs print (Last rebuilds a Result from it).
type Summary struct {
	// Target points into the slice passed to Engine.Once.
	Target   *Target
	Sent     int
	Received int // OK results
	Errors   int // ICMP errors and send errors
	Min, Max time.Duration
	Sum      time.Duration
	SumSq    float64 // of RTT in seconds², for the standard deviation
	lastRTT  time.Duration
	idx      int32 // Result.Target of the results folded in
	Method   TSMethod
	last     Outcome
	// health is the last OK result's health payload; nil when it had none
	// (a plain echo) or no result was OK.
	health *LastHealth
	// LastProblem is the last ICMP or send error, when there was one.
	LastProblem *Result
}

// LastHealth is the health part of a summary's last OK result (the
// fields of Result with the same names).
type LastHealth struct {
	HealthKind HealthKind
	Health     wire.Health // HealthHBH1
	HBM2       wire.HBM2   // HealthHBM2
	BlobErr    error
	Stale      bool
}

var noHealth LastHealth

// Health returns the last OK result's health fields (the zero LastHealth,
// shared and read-only, when it carried none or no probe was answered).
func (s *Summary) Health() *LastHealth {
	if s.health == nil || s.Received == 0 {
		return &noHealth
	}
	return s.health
}

// Add folds r into s.
func (s *Summary) Add(r *Result) {
	s.Sent++
	s.idx = int32(r.Target)
	switch r.Outcome {
	case OutcomeOK:
		if s.Received == 0 || r.RTT < s.Min {
			s.Min = r.RTT
		}
		if r.RTT > s.Max {
			s.Max = r.RTT
		}
		s.Received++
		s.Sum += r.RTT
		s.SumSq += r.RTT.Seconds() * r.RTT.Seconds()
		s.Method = r.Method
		s.last, s.lastRTT = OutcomeOK, r.RTT
		if r.HealthKind == HealthNone && r.BlobErr == nil && !r.Stale {
			if s.health != nil {
				*s.health = LastHealth{}
			}
			return
		}
		if s.health == nil {
			s.health = new(LastHealth)
		}
		*s.health = LastHealth{HealthKind: r.HealthKind, Health: r.Health, HBM2: r.HBM2, BlobErr: r.BlobErr, Stale: r.Stale}
	case OutcomeICMPError, OutcomeSendError:
		s.Errors++
		p := *r
		s.LastProblem = &p
		if s.Received == 0 {
			s.last = r.Outcome
		}
	default:
		if s.Received == 0 {
			s.last = r.Outcome
		}
	}
}

// Last rebuilds the last OK result, or the last result when none was OK:
// its outcome, RTT, method and health (an ICMP or send error in full, as
// LastProblem). Seq and Sent are not kept.
func (s *Summary) Last() Result {
	if s.Received == 0 && (s.last == OutcomeICMPError || s.last == OutcomeSendError) && s.LastProblem != nil {
		return *s.LastProblem
	}
	r := Result{Target: int(s.idx), Outcome: s.last}
	if s.Target != nil {
		r.Addr = s.Target.Addr
	}
	if s.Received > 0 {
		r.RTT, r.Method = s.lastRTT, s.Method
		h := s.Health()
		r.HealthKind, r.Health, r.HBM2, r.BlobErr, r.Stale = h.HealthKind, h.Health, h.HBM2, h.BlobErr, h.Stale
	}
	return r
}

// Avg is the mean RTT of the OK results.
func (s *Summary) Avg() time.Duration {
	if s.Received == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.Received)
}

// StdDev is the RTT standard deviation (population) of the OK results.
func (s *Summary) StdDev() time.Duration {
	if s.Received < 2 {
		return 0
	}
	m := s.Avg().Seconds()
	v := s.SumSq/float64(s.Received) - m*m
	return time.Duration(math.Sqrt(max(v, 0)) * 1e9)
}

// Loss is the fraction of probes not answered, 0–1.
func (s *Summary) Loss() float64 {
	if s.Sent == 0 {
		return 0
	}
	return 1 - float64(s.Received)/float64(s.Sent)
}
