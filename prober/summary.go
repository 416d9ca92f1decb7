// SPDX-License-Identifier: MIT

package prober

import (
	"math"
	"time"
)

// Summary aggregates one target's results over a --once run.
type Summary struct {
	Target   Target
	Sent     int
	Received int // OK results
	Errors   int // ICMP errors and send errors
	Min, Max time.Duration
	Sum      time.Duration
	SumSq    float64 // of RTT in seconds², for the standard deviation
	Method   TSMethod
	// Last is the last OK result (with its health), or the last result
	// when none was OK.
	Last Result
	// LastProblem is the last ICMP or send error, when there was one.
	LastProblem *Result
}

// Add folds r into s.
func (s *Summary) Add(r *Result) {
	s.Sent++
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
		s.Last = *r
	case OutcomeICMPError, OutcomeSendError:
		s.Errors++
		p := *r
		s.LastProblem = &p
		if s.Received == 0 {
			s.Last = *r
		}
	default:
		if s.Received == 0 {
			s.Last = *r
		}
	}
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
