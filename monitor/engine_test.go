// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/targets"
	"github.com/hbmon/hb/wire"
)

// TestObservation: engine results map onto obs's vocabulary (one method
// name everywhere), health payloads are copied out of the result.
func TestObservation(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := prober.Result{Outcome: prober.OutcomeOK, RTT: time.Millisecond, Method: prober.TSKernelRx, HealthKind: prober.HealthHBH1}
	r.Health.Uptime = 42
	o := observation(&r, now)
	r.Health.Uptime = 0 // the engine reuses r: the observation must not see it
	if o.Outcome != obs.OK || o.RTT != time.Millisecond || o.Method != obs.MethodKernelRx || o.Method.String() != "kernel-rx" ||
		!o.HasHealth || o.Health.Uptime != 42 || !o.At.Equal(now) {
		t.Errorf("ok: %+v", o)
	}
	for m, want := range map[prober.TSMethod]string{prober.TSKernelTxRx: "kernel-tx-rx", prober.TSUser: "user"} {
		r := prober.Result{Outcome: prober.OutcomeOK, Method: m}
		if got := observation(&r, now).Method.String(); got != want {
			t.Errorf("method %v: %q, want %q", m, got, want)
		}
	}
	r = prober.Result{Outcome: prober.OutcomeOK, HealthKind: prober.HealthHBM2, HBM2: wire.HBM2{CPUPercent: 7}}
	if o := observation(&r, now); o.HBM2 == nil || o.HBM2.CPUPercent != 7 || o.HasHealth {
		t.Errorf("hbm2: %+v", o)
	}
	r = prober.Result{Outcome: prober.OutcomeOK, HealthKind: prober.HealthHBH1, BlobErr: errors.New("torn")}
	if o := observation(&r, now); o.Outcome != obs.OK || o.HasHealth {
		t.Errorf("bad blob: %+v", o)
	}
	r = prober.Result{Outcome: prober.OutcomeTimeout}
	if o := observation(&r, now); o.Outcome != obs.Timeout || o.Method != obs.MethodNone {
		t.Errorf("timeout: %+v", o)
	}
	from := netip.MustParseAddr("198.18.0.254")
	r = prober.Result{Outcome: prober.OutcomeICMPError, Addr: netip.MustParseAddr("198.18.0.1"), ICMPType: 3, ICMPCode: 1, From: from}
	if o := observation(&r, now); o.Outcome != obs.Error || o.ICMPType != 3 || o.From != from || o.Problem != "host unreachable from 198.18.0.254" {
		t.Errorf("icmp error: %+v", o)
	}
	r = prober.Result{Outcome: prober.OutcomeSendError, Err: errors.New("no route")}
	if o := observation(&r, now); o.Outcome != obs.Error || o.Problem != "send failed: no route" {
		t.Errorf("send error: %+v", o)
	}
}

// TestProbeTargetsLegacy: legacy=hbm2 on a daemon targets line reaches the
// engine's Target (its HBM v2 replies may answer); other lines do not get it.
func TestProbeTargetsLegacy(t *testing.T) {
	lines, err := targets.Parse(strings.NewReader("198.18.0.1 name=old legacy=hbm2\n198.18.0.2 name=new\n"), "t", targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hosts, _, err := targets.Resolve(context.Background(), lines, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var checks []obs.Check
	for _, h := range hosts {
		for _, c := range h.Checks {
			checks = append(checks, obs.Check{ID: len(checks), Spec: c})
		}
	}
	if len(checks) != 2 {
		t.Fatalf("checks %+v", checks)
	}
	t0, t1 := probeTarget(&checks[0]), probeTarget(&checks[1])
	if !t0.Legacy || t1.Legacy || t0.Addr != netip.MustParseAddr("198.18.0.1") || t0.ID != checks[0].ID || t1.ID != checks[1].ID {
		t.Fatalf("targets %+v %+v", t0, t1)
	}
}

// TestHealthResultAllocs: an engine result with a health blob, mapped
// (observation) and applied through the writer, allocates nothing: the
// blob goes by value to the table, which copies it into the check's slot
// off the heap (state's hslot), and the snapshot reads it back.
func TestHealthResultAllocs(t *testing.T) {
	const n, batch = 1000, 100
	m := bareMonitor(t, n)
	gen := m.Table().View().Gen
	i := 0
	var r prober.Result
	round := func() {
		for range batch {
			r = prober.Result{Outcome: prober.OutcomeOK, RTT: time.Millisecond, Method: prober.TSKernelRx, HealthKind: prober.HealthHBH1}
			r.Health.Generation, r.Health.CollectedAt, r.Health.CPUBusy = uint64(i+1), int64(i), uint16(i%1000)
			o := observation(&r, at(i))
			m.w.Observe(gen, i%n, o)
			i++
		}
		m.w.drain()
	}
	for range 5 * n / batch { // every check up (state changes log and allocate)
		round()
	}
	if a := testing.AllocsPerRun(20, round); a > 0 {
		t.Errorf("%v allocations for %d results with health through the writer, want none", a, batch)
	}
	last := i - 1
	s := m.Table().View().Check(last % n).Snapshot()
	if !s.HasHealth() || s.Health.Generation != uint64(last+1) || s.Health.CPUBusy != uint16(last%1000) || s.HealthAt != state.NanoOf(at(last)) {
		t.Errorf("check %d: health %+v at %v, want generation %d", last%n, s.Health, s.HealthAt, last+1)
	}
}
