// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/wire"
)

// engineSource runs the prober engine as the obs.Source of the icmp and
// udp checks. The engine keeps each target's check id and the table
// generation of its list (prober.Engine.SetTargetFunc) and hands them
// back with every result, so the adapter keeps nothing per check.
type engineSource struct {
	eng *prober.Engine
	gen atomic.Uint64 // the generation last handed to the engine

	healthOK, healthBad, unmapped atomic.Uint64
}

func newEngineSource(eng *prober.Engine) *engineSource { return &engineSource{eng: eng} }

func (s *engineSource) Name() string      { return "engine" }
func (s *engineSource) Kinds() []obs.Kind { return []obs.Kind{obs.KindICMP, obs.KindUDP} }

// SetChecks hands the engine the addresses of checks, with their ids and
// gen.
func (s *engineSource) SetChecks(gen uint64, checks []obs.Check) {
	s.gen.Store(gen)
	s.eng.SetTargetFunc(gen, len(checks), func(i int) prober.Target { return probeTarget(&checks[i]) })
}

// probeTarget is the engine's target for c: legacy=hbm2 (the value
// validated by targets.Parse) lets a target's HBM v2 replies answer.
func probeTarget(c *obs.Check) prober.Target {
	return prober.Target{Addr: c.Spec.Addr, ID: c.ID, Legacy: c.Spec.Params["legacy"] == "hbm2"}
}

// Run probes until ctx ends. A sink that takes batches (the writer) gets
// each loop turn's results in one ObserveBatch at the turn's end
// (prober.Engine.RunTurns), so the writer wakes once a turn, after the
// turn's sends and reads, rather than with the turn's first result.
func (s *engineSource) Run(ctx context.Context, sink obs.Sink) error {
	bs, batched := sink.(obs.BatchSink)
	if !batched {
		return s.eng.Run(ctx, func(r *prober.Result) {
			if o, ok := s.observation(r); ok {
				sink.Observe(r.Gen, r.ID, o)
			}
		})
	}
	var buf []obs.Item
	flush := func() {
		bs.ObserveBatch(buf)
		clear(buf) // health blobs
		buf = buf[:0]
		if cap(buf) > maxTurnBuf {
			buf = nil // a burst's (start-up, catching up)
		}
	}
	return s.eng.RunTurns(ctx, func(r *prober.Result) {
		if o, ok := s.observation(r); ok {
			buf = append(buf, obs.Item{Gen: r.Gen, ID: r.ID, Obs: o})
			if len(buf) >= maxTurnBuf {
				flush() // a long turn's: in pieces
			}
		}
	}, func() {
		if len(buf) > 0 {
			flush()
		}
	})
}

// maxTurnBuf is the most results engineSource gathers before it hands
// them over, and the largest buffer it keeps: a turn at 10k probes a
// second has ~100-250 (~330 B each: the health blob goes by value).
const maxTurnBuf = 4096

// observation counts r's health and maps it, or reports false for a
// result not to observe: for a target list replaced since, or of no
// outcome.
func (s *engineSource) observation(r *prober.Result) (obs.Observation, bool) {
	switch {
	case r.HealthKind != prober.HealthNone && r.BlobErr == nil:
		s.healthOK.Add(1)
	case r.BlobErr != nil:
		s.healthBad.Add(1)
	}
	if r.Gen != s.gen.Load() {
		s.unmapped.Add(1) // a result for a target list replaced since
		return obs.Observation{}, false
	}
	o := observation(r, time.Now())
	return o, o.Outcome != obs.OutcomeInvalid
}

// observation maps an engine result onto an obs.Observation. Health
// payloads are copied: r is only valid during the callback.
func observation(r *prober.Result, now time.Time) obs.Observation {
	o := obs.Observation{At: now}
	switch r.Outcome {
	case prober.OutcomeOK:
		o.Outcome = obs.OK
		o.RTT = r.RTT
		o.Method = r.Method // prober.TSMethod is obs.Method
		if r.BlobErr == nil {
			switch r.HealthKind {
			case prober.HealthHBH1:
				o.Health, o.HasHealth = r.Health, true // by value: no allocation
			case prober.HealthHBM2:
				m := r.HBM2
				o.HBM2 = &m
			}
		}
	case prober.OutcomeTimeout:
		o.Outcome = obs.Timeout
	case prober.OutcomeICMPError:
		o.Outcome = obs.Error
		o.ICMPType, o.ICMPCode, o.From = r.ICMPType, r.ICMPCode, r.From
		o.Problem = r.Problem()
	case prober.OutcomeSendError:
		o.Outcome = obs.Error
		o.Problem = r.Problem()
	}
	return o
}

// stats are the engine's counters as the API reports them.
func (s *engineSource) stats() api.EngineStats {
	st := s.eng.Stats()
	return api.EngineStats{
		Mode:       s.eng.Mode().Socket.String(),
		Sent:       st.Sent,
		Received:   st.Matched,
		Timeouts:   st.Timeouts,
		ICMPErrors: st.ICMPErrors,
		Late:       st.Late,
		Duplicates: st.Duplicates,
		Invalid:    st.BadCookie + st.WrongSrc + st.Unmatched,
		SendErrors: st.SendErrors,
		HealthOK:   s.healthOK.Load(),
		HealthBad:  s.healthBad.Load(),
		ENOBUFS:    st.ENOBUFS,
		Stalls:     st.Stalls,
		TxMissing:  st.TxMissing,
		TxFrames:   st.TxPacket,
		TxFallback: st.TxFallback,
		RxRing:     st.RxRing, RxRingDrops: st.RxRingDrops, RxRingNotLocal: st.RxRingNotLocal,
		BlobErrors: blobErrors(&st),

		RefusedNoCookie: st.NoCookie, RefusedHBM2: st.HBM2Refused, RefusedDowngrade: st.Downgrades,
	}
}

// blobErrors names the engine's blob decode failures by kind.
func blobErrors(s *prober.Stats) map[string]uint64 {
	m := make(map[string]uint64, len(s.BlobErrors))
	for k, n := range s.BlobErrors {
		m[wire.ErrKind(k).String()] = n
	}
	return m
}
