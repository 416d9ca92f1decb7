// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/wire"
)

// engineSource runs the prober engine as the obs.Source of the icmp and
// udp checks. The engine probes addresses; the adapter maps each result
// back to its check through the target index of the generation it was
// given.
type engineSource struct {
	eng *prober.Engine
	cur atomic.Pointer[engineMap]

	healthOK, healthBad, unmapped atomic.Uint64
}

// engineMap is the engine's current target list as checks.
type engineMap struct {
	gen uint64
	ts  []engineTarget // by target index
}

// engineTarget is one target's check: id and address side by side, so a
// result (in no order the cache can guess, at 100k targets) costs one
// cache miss here, not two.
type engineTarget struct {
	addr netip.Addr // to catch a result of a former list
	id   int
}

func newEngineSource(eng *prober.Engine) *engineSource { return &engineSource{eng: eng} }

func (s *engineSource) Name() string      { return "engine" }
func (s *engineSource) Kinds() []obs.Kind { return []obs.Kind{obs.KindICMP, obs.KindUDP} }

// SetChecks hands the engine the addresses of checks.
func (s *engineSource) SetChecks(gen uint64, checks []obs.Check) {
	m := &engineMap{gen: gen, ts: make([]engineTarget, len(checks))}
	for i, c := range checks {
		m.ts[i] = engineTarget{addr: c.Spec.Addr, id: c.ID}
	}
	s.cur.Store(m)
	s.eng.SetTargets(probeTargets(checks))
}

// probeTargets are the engine's targets for checks: legacy=hbm2 (the value
// validated by targets.Parse) lets a target's HBM v2 replies answer.
func probeTargets(checks []obs.Check) []prober.Target {
	ts := make([]prober.Target, len(checks))
	for i, c := range checks {
		ts[i] = prober.Target{Addr: c.Spec.Addr, Name: c.Spec.Host, Pos: c.Spec.Target,
			Legacy: c.Spec.Params["legacy"] == "hbm2"}
	}
	return ts
}

// Run probes until ctx ends.
func (s *engineSource) Run(ctx context.Context, sink obs.Sink) error {
	return s.eng.Run(ctx, func(r *prober.Result) {
		switch {
		case r.HealthKind != prober.HealthNone && r.BlobErr == nil:
			s.healthOK.Add(1)
		case r.BlobErr != nil:
			s.healthBad.Add(1)
		}
		m := s.cur.Load()
		if m == nil || r.Target < 0 || r.Target >= len(m.ts) || m.ts[r.Target].addr != r.Addr {
			s.unmapped.Add(1) // a result for a target list replaced since
			return
		}
		id := m.ts[r.Target].id
		o := observation(r, time.Now())
		if o.Outcome == obs.OutcomeInvalid {
			return
		}
		sink.Observe(m.gen, id, o)
	})
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
				h := r.Health
				o.Health = &h
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
