// SPDX-License-Identifier: MIT

package web_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// settle waits until the monitor's writer has applied what was observed.
func (d *daemon) settle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := d.m.WriterStats()
		if st.Queued == 0 && st.Applied+st.Stale+st.Rejected+st.Dropped >= st.Observed {
			if st.Dropped > 0 {
				t.Fatalf("writer dropped %d observations", st.Dropped)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writer not settled: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// name is host i's name.
func name(i int) string { return fmt.Sprintf("h%06d", i) }

// fillFleet gives n hosts a plausible mix without probing: most up with
// RTTs of 0.2 to 2 ms, 2% down, 1% degraded, 0.5% never checked, and host
// 1 six hours of minutes with health (RTT, loss and health charts).
func (d *daemon) fillFleet(t testing.TB, n int) {
	t.Helper()
	now := time.Now()
	d.history(t, name(1), now.Add(-6*time.Hour), 360)
	for r := 3; r >= 1; r-- {
		for i := 2; i <= n; i++ {
			if i%200 == 11 {
				continue // unknown
			}
			rtt := time.Duration(200+(i*7919)%1800)*time.Microsecond + time.Duration(r*37)*time.Microsecond
			d.observe(name(i), true, rtt, now.Add(-time.Duration(r)*time.Second))
			if i%50000 == 0 {
				d.settle(t)
			}
		}
		d.settle(t)
	}
	// Let the sinks drain the startup flood (every host leaving unknown)
	// before the outages, as minutes would pass in a real start.
	time.Sleep(3 * time.Second)
	for i := 2; i <= n; i++ {
		switch {
		case i%50 == 7:
			d.observe(name(i), false, 0, now)
			d.observe(name(i), false, 0, now.Add(time.Millisecond))
		case i%100 == 3:
			d.observe(name(i), false, 0, now)
		}
	}
	d.settle(t)
}

// history feeds host one result a minute for count minutes from start,
// with a health blob: a daily-looking RTT curve, a loss episode, CPU and
// memory that move.
func (d *daemon) history(t testing.TB, host string, start time.Time, count int) {
	t.Helper()
	d.feed.mu.Lock()
	c, gen := d.feed.checks[host], d.feed.gen
	d.feed.mu.Unlock()
	for k := 0; k < count; k++ {
		at := start.Add(time.Duration(k) * time.Minute)
		x := float64(k) / float64(count)
		for j := 0; j < 6; j++ { // six probes a minute
			o := obs.Observation{At: at.Add(time.Duration(j) * 10 * time.Second), Outcome: obs.OK, Method: obs.MethodKernelTxRx,
				RTT: time.Duration((0.8+0.5*math.Sin(6*x)+0.1*float64((k*7+j*3)%5))*1000) * time.Microsecond}
			if k > count/2 && k < count/2+12 && j < 2 {
				o = obs.Observation{At: o.At, Outcome: obs.Timeout, Problem: "timeout: no reply within 1s"}
			}
			if j == 0 {
				hl := &wire.Health{CPUBusy: uint16(150 + 300*x + 100*math.Sin(20*x)), NumCPU: 8, FullestMount: 610, Generation: uint64(k + 1),
					CollectedAt: at.UnixNano(), BootTime: uint32(start.Add(-72 * time.Hour).Unix()), Uptime: uint32(72*3600 + k*60),
					Load1: uint32(800 + 900*x), Load5: 900, Load15: 1000, Procs: 212, MemTotal: 16 << 30,
					MemAvailable: uint64(float64(16<<30) * (0.55 - 0.2*x)), RootTotal: 100 << 30, RootUsed: 61 << 30,
					NetRxRate: 1 << 20, NetTxRate: 512 << 10}
				hl.SetHostname("web-01.example")
				o.Health, o.HasHealth = *hl, true
			}
			d.sink.Observe(gen, c.ID, o)
		}
	}
	d.settle(t)
}
