// SPDX-License-Identifier: MIT

package state

import (
	"math"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// Window is the number of recent results a host keeps; RTT statistics and
// loss are computed over them (a sliding window of the last Window probes).
const Window = 20

// Stats are RTT and loss figures over the window. RTT figures cover the
// successful results only; all are zero when there were none.
type Stats struct {
	Min, Avg, Max, StdDev time.Duration
	Samples               uint8   // successful results in the window
	Results               uint8   // results in the window
	Loss                  float64 // failed / results, 0..1; 0 when empty
}

// Snapshot is one check's complete view at one instant: a value, copied
// out of the table (Check.Snapshot), so a reader holding one sees a
// consistent check forever, never a half-updated one.
//
// The table keeps each check's pointer-free part (everything but HBM2
// and Problem) as a record of recWords words in a slab off the Go heap,
// and its health blob in a slot of a second such slab, both written in
// place under the record's sequence lock (record.go); a reader copies the
// record's words, and the health slot's only when the check has one.
type Snapshot struct {
	State      State
	head       uint8  // ring index of the next write
	n          uint8  // results in the ring
	unit       uint8  // ring offsets' unit: unitNanos[unit]
	consecFail uint16 // saturating; input to Step
	consecOK   uint16

	Since UnixNano // when the check entered State (0 while unknown and never checked)

	Probes   uint64 // results applied since the check was added
	Failures uint64 // of which failed (timeouts and errors)

	LastOKAt UnixNano // newest successful result

	EWMA time.Duration // smoothed RTT over all successes, not just the window

	Health   wire.Health // newest health blob, valid when HasHealth (HealthAt set); a copy
	HealthAt UnixNano    // when it arrived (prober clock); 0: none ever arrived
	HBM2     *wire.HBM2  // newest legacy HBM v2 payload; shared, read-only
	HBM2At   UnixNano

	Problem   string // newest failure's cause
	ProblemAt UnixNano

	Transitions uint32 // state changes since the check was first added, leaving unknown included

	// The ring of recent results, 11 bytes a result instead of a
	// Result's 16: slot i holds its instant's offset from base (the
	// oldest result's instant, or an older one) in its low 32 bits and
	// its RTT in ns in its high 32; meta[3i:3i+3] are its outcome |
	// method<<4, ICMP type and code. Offsets are in microseconds, or in
	// milliseconds while the ring spans more than a uint32 of
	// microseconds (71 minutes: checks every 3.5 minutes or slower), or
	// in seconds past 49 days (weekly pulses); see push. The layout is
	// the record's (record.go), so storing a snapshot copies words.
	base  UnixNano
	slots [Window]uint64
	meta  [metaBytes]uint8
}

// metaBytes is the ring's meta array: 3 bytes a result, rounded up to
// whole words (the last 4 bytes are unused).
const metaBytes = (Window*3 + 7) / 8 * 8

func (s *Snapshot) off(i int) uint32 { return uint32(s.slots[i]) }
func (s *Snapshot) rtt(i int) uint32 { return uint32(s.slots[i] >> 32) }
func (s *Snapshot) setOff(i int, o uint32) {
	s.slots[i] = s.slots[i]&^math.MaxUint32 | uint64(o)
}

// unitNanos are the ring offsets' units: µs, ms, s (Snapshot.unit).
var unitNanos = [...]int64{int64(time.Microsecond), int64(time.Millisecond), int64(time.Second)}

// result decodes ring slot i.
func (s *Snapshot) result(i int) Result {
	m := s.meta[3*i : 3*i+3 : 3*i+3]
	return Result{At: s.base + UnixNano(int64(s.off(i))*unitNanos[s.unit]), RTTNanos: s.rtt(i),
		Outcome: Outcome(m[0] & 0xf), Method: Method(m[0] >> 4), ICMPType: m[1], ICMPCode: m[2]}
}

// Last returns the newest result (the zero Result before the first).
func (s *Snapshot) Last() Result {
	if s.n == 0 {
		return Result{}
	}
	return s.result((int(s.head) + Window - 1) % Window)
}

// Recent appends the ring's results to dst, oldest first, and returns it.
func (s *Snapshot) Recent(dst []Result) []Result {
	start := (int(s.head) - int(s.n) + Window) % Window
	for i := 0; i < int(s.n); i++ {
		dst = append(dst, s.result((start+i)%Window))
	}
	return dst
}

// Stats are the RTT and loss figures over the ring, computed on each call
// (a pass over Window results).
func (s *Snapshot) Stats() Stats { return s.window() }

// push writes r into the ring, dropping the oldest result when it is
// full. The offsets take the finest unit that spans the ring:
// microseconds up to 71 minutes, milliseconds up to 49 days, seconds
// beyond. An instant reads back to its unit (truncated); results kept
// through a coarser span stay that coarse. The base stays where it is
// while r's offset fits (so a push changes one slot, not all of them: the
// table stores only the words that changed); when the unit changes, r is
// older than the base or its offset overflows, the base moves to the
// oldest instant kept (or r's, if older: a clock step) and the offsets
// are recomputed. Either way an instant reads back to its unit.
func (s *Snapshot) push(r Result) {
	if s.n == Window { // the slot at head, the oldest, is overwritten
		s.n--
	}
	at := int64(r.At)
	if s.inPlace(r.At) {
		s.setSlot(int(s.head), uint32((at-int64(s.base))/int64(time.Microsecond)), r)
		return
	}
	// Live slots, oldest first, excluding the one about to be written.
	start := (int(s.head) - int(s.n) + Window) % Window
	u := unitNanos[s.unit]
	minOff, maxOff := uint32(math.MaxUint32), uint32(0)
	for i := 0; i < int(s.n); i++ {
		o := s.off((start + i) % Window)
		minOff, maxOff = min(minOff, o), max(maxOff, o)
	}
	lo, hi := at, at  // instants, ns
	stepBack := false // r is older than every result kept
	if s.n > 0 {
		loT := int64(s.base) + int64(minOff)*u
		stepBack = at < loT
		lo, hi = min(at, loT), max(at, int64(s.base)+int64(maxOff)*u)
	}
	k := uint8(0)
	for k < uint8(len(unitNanos)-1) && (hi-lo)/unitNanos[k] > math.MaxUint32 {
		k++
	}
	nu := unitNanos[k]
	if k == s.unit && s.n > 0 && !stepBack && (at-int64(s.base))/u <= math.MaxUint32 {
		// The usual case: the same unit and r fits above the base.
		s.setSlot(int(s.head), uint32((at-int64(s.base))/u), r)
		return
	}
	for i := 0; i < int(s.n); i++ {
		j := (start + i) % Window
		t := int64(s.base) + int64(s.off(j))*u
		s.setOff(j, uint32(min((t-lo)/nu, math.MaxUint32)))
	}
	s.base, s.unit = UnixNano(lo), k
	s.setSlot(int(s.head), uint32(min((at-lo)/nu, math.MaxUint32)), r) // past 136 years: saturates
}

// inPlace reports whether push(r) with r.At at takes the usual path,
// without a pass over the ring: the unit is µs and at's offset from the
// base fits, so every offset, r's included, fits in µs and the unit stays.
// It reads only the header and the base.
func (s *Snapshot) inPlace(at UnixNano) bool {
	d := int64(at) - int64(s.base)
	return s.unit == 0 && s.n > 0 && d >= 0 && d/int64(time.Microsecond) <= math.MaxUint32
}

// setSlot writes r at ring slot i with offset off and advances the head.
func (s *Snapshot) setSlot(i int, off uint32, r Result) {
	s.slots[i] = uint64(off) | uint64(r.RTTNanos)<<32
	s.meta[3*i], s.meta[3*i+1], s.meta[3*i+2] = uint8(r.Outcome)&0xf|uint8(r.Method)<<4, r.ICMPType, r.ICMPCode
	s.head = (s.head + 1) % Window
	s.n++
}

// HasHealth reports whether a health blob ever arrived (Health is valid).
func (s *Snapshot) HasHealth() bool { return s.HealthAt != 0 }

// Checked reports whether the host has had any result.
func (s *Snapshot) Checked() bool { return s.Probes > 0 }

// HealthAge is how old the newest health sample is at now, by the
// responder's collected-at clock (so it includes clock skew between the two
// hosts), or -1 if there is none.
func (s *Snapshot) HealthAge(now time.Time) time.Duration {
	switch {
	case s.HasHealth():
		return now.Sub(time.Unix(0, s.Health.CollectedAt))
	case s.HBM2 != nil:
		sec, frac := math.Modf(s.HBM2.Timestamp)
		return now.Sub(time.Unix(int64(sec), int64(frac*1e9)))
	}
	return -1
}

// InStateFor is how long the host has been in its state at now, or 0 if it
// was never probed.
func (s *Snapshot) InStateFor(now time.Time) time.Duration {
	if s.Since == 0 {
		return 0
	}
	return now.Sub(s.Since.Time())
}

// step moves s on by obs, in place.
func (s *Snapshot) step(c *Config, obs *Observation) {
	n, old := s, s.State
	at := NanoOf(obs.At)
	failed := obs.Outcome.Failed()

	r := Result{At: at, Outcome: obs.Outcome, Method: obs.Method, ICMPType: obs.ICMPType, ICMPCode: obs.ICMPCode}
	if !failed {
		rtt := obs.RTT
		if rtt < 0 {
			rtt = 0
		}
		r.RTTNanos = uint32(min(rtt, math.MaxUint32))
	}
	n.push(r)
	n.Probes++
	if failed {
		n.Failures++
		n.consecOK = 0
		if n.consecFail < math.MaxUint16 {
			n.consecFail++
		}
		n.Problem = obs.Problem
		if n.Problem == "" {
			n.Problem = describe(obs)
		}
		n.ProblemAt = at
	} else {
		n.consecFail = 0
		if n.consecOK < math.MaxUint16 {
			n.consecOK++
		}
		n.LastOKAt = at
		if n.EWMA == 0 {
			n.EWMA = time.Duration(r.RTTNanos)
		} else {
			n.EWMA += time.Duration(c.EWMAAlpha * float64(time.Duration(r.RTTNanos)-n.EWMA))
		}
		if obs.HasHealth && at != 0 {
			n.Health, n.HealthAt = obs.Health, at
		}
		if obs.HBM2 != nil {
			n.HBM2, n.HBM2At = obs.HBM2, at
		}
	}

	ns := Step(*c, old, failed, int(n.consecFail), int(n.consecOK))
	if ns != old || n.Since == 0 {
		n.Since = at
	}
	if ns != old {
		n.State = ns
		n.Transitions++
	}
}

// window computes Stats over the ring.
func (s *Snapshot) window() Stats {
	var st Stats
	st.Results = s.n
	if s.n == 0 {
		return st
	}
	var sum, sumSq float64
	var lost int
	first := true
	start := (int(s.head) - int(s.n) + Window) % Window
	for i := 0; i < int(s.n); i++ {
		j := (start + i) % Window
		if Outcome(s.meta[3*j] & 0xf).Failed() {
			lost++
			continue
		}
		d := time.Duration(s.rtt(j))
		if first || d < st.Min {
			st.Min = d
		}
		if first || d > st.Max {
			st.Max = d
		}
		first = false
		st.Samples++
		f := float64(d)
		sum += f
		sumSq += f * f
	}
	st.Loss = float64(lost) / float64(s.n)
	if st.Samples > 0 {
		k := float64(st.Samples)
		mean := sum / k
		st.Avg = time.Duration(mean)
		v := sumSq/k - mean*mean // population variance
		if v > 0 {
			st.StdDev = time.Duration(math.Sqrt(v))
		}
	}
	return st
}

// describe derives a failure's problem text when the prober gave none.
// The strings are constants where possible so a timeout allocates nothing.
func describe(o *Observation) string {
	if o.Outcome == Timeout {
		return "timeout"
	}
	if o.ICMPType == 0 && o.ICMPCode == 0 {
		return "error"
	}
	s := obs.ICMPText(o.From.Is6() && !o.From.Is4In6(), o.ICMPType, o.ICMPCode)
	if o.From.IsValid() {
		s += " from " + o.From.String()
	}
	return s
}
