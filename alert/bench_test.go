// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

// benchRules are 20 rules: 3 state rules and 17 thresholds on the health
// fields, RTT, loss and pushed metrics, some with selectors.
func benchRules() []config.AlertRule {
	rs := []config.AlertRule{
		{Name: "host_down", Kind: "icmp,udp", State: "down"},
		{Name: "host_degraded", Kind: "icmp,udp", State: "degraded", Severity: "warning"},
		{Name: "agent_missing", State: "missing"},
	}
	for _, m := range []string{FieldCPU, FieldLoad1, FieldLoad5, FieldLoad15, FieldMemUsed, FieldSwapUsed, FieldRootUsed, FieldFullestMount,
		FieldNetRx, FieldNetTx, FieldProcs, FieldHealthAge, FieldRTT, FieldLoss, "used_ratio", "mysql.connections"} {
		rs = append(rs, config.AlertRule{Metric: m, Op: ">", Warning: f(1e12), Critical: f(2e12), Hysteresis: 0.1, Select: "env!=lab"})
	}
	rs = append(rs, config.AlertRule{Metric: "nagios.exit", Op: "nagios"})
	return rs
}

// BenchmarkEvaluate is the alert engine's cost per probe result with 20
// rules: one Result event carrying a health blob and three pushed metrics
// (13 values), all within thresholds (the steady state).
func BenchmarkEvaluate(b *testing.B) {
	e, ev := evaluateSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Handle(ev)
	}
	if e.stats.evaluations == 0 {
		b.Fatal("nothing evaluated")
	}
}

// TestHandleAllocs: the engine's handling of a probe result (10k a second
// at 100k checks) allocates nothing in the steady state.
func TestHandleAllocs(t *testing.T) {
	e, ev := evaluateSetup(t)
	if a := testing.AllocsPerRun(100, func() { e.Handle(ev) }); a > 0 && !raceOn {
		t.Errorf("%v allocations per result, want none", a)
	}
}

// evaluateSetup is BenchmarkEvaluate's engine and event, handled once.
func evaluateSetup(b testing.TB) (*Engine, *event.Event) {
	cfg := config.DefaultAlerts()
	cfg.Rules = benchRules()
	labels := state.LabelsFromMap(map[string]string{"env": "prod", "role": "web", "owner": "alice"})
	e, err := New(Options{Config: cfg, Hosts: func(string) (HostInfo, bool) { return HostInfo{Labels: labels, Parent: "gw"}, true }})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	h := &wire.Health{CPUBusy: 300, Load1: 1000, Load5: 900, Load15: 800, MemTotal: 8 << 30, MemAvailable: 4 << 30, SwapTotal: 1 << 30, SwapUsed: 1 << 20,
		RootTotal: 100 << 30, RootUsed: 40 << 30, FullestMount: 500, NetRxRate: 1e6, NetTxRate: 1e6, Procs: 200, CollectedAt: now.UnixNano()}
	o := &obs.Observation{At: now, Outcome: obs.OK, RTT: 300 * time.Microsecond, Health: *h, HasHealth: true,
		Metrics: []obs.Metric{{Name: "disk./var.used_ratio", Value: 0.5}, {Name: "plugins.mysql.connections", Value: 10}, {Name: "nagios.exit", Value: 0}}}
	// A snapshot with a full window, so the loss rules are evaluated too.
	a := netip.MustParseAddr("198.18.0.1")
	tab, err := state.New([]state.HostSpec{{Name: "web1", Addr: a, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP, Addr: a}}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range state.Window {
		tab.Apply(0, *o)
	}
	snap := tab.View().Check(0).Snapshot()
	ev := event.Event{Type: event.Result, At: now, Host: "web1", Check: "icmp", Kind: obs.KindICMP, Obs: o, Snap: &snap, HostNew: state.Up}
	e.Handle(&ev)
	return e, &ev
}

// BenchmarkSaveAlerts is one save of 4,096 changed alerts (a /20 outage's
// hosts, every alert rewritten): the transaction the history store's
// writer runs for the engine each second during such an outage, so the
// time its own commits wait behind it. Measured on the engine's own writer
// (a file of its own) to leave out the store's commit cadence.
func BenchmarkSaveAlerts(b *testing.B) {
	const n = 4096
	db, err := notify.OpenDB(filepath.Join(b.TempDir(), "hb.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := config.DefaultAlerts()
	cfg.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	e, err := New(Options{Config: cfg, DB: db, Hosts: func(string) (HostInfo, bool) { return HostInfo{}, true }})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	for i := range n {
		e.Handle(&event.Event{Type: event.StateChange, At: now, Host: fmt.Sprintf("h%d", i), Check: "icmp", Kind: obs.KindICMP,
			New: state.Down, HostNew: state.Down, Snap: &state.Snapshot{State: state.Down}})
	}
	if err := e.save(true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		e.mu.Lock()
		for _, a := range e.alerts {
			a.dirty = true
		}
		e.mu.Unlock()
		if err := e.save(true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(n, "alerts/op")
	var rows int
	db.Conn.QueryRow(`SELECT count(*) FROM alert_state`).Scan(&rows)
	if rows != n {
		b.Fatalf("%d rows saved, want %d", rows, n)
	}
}

// BenchmarkOutageSecond is one second of a 4,096-host outage in steady
// state: every host's host_down alert is evaluated once more (nothing
// stored changes), the engine ticks, and the writer is waited for. It
// reports the alert rows written per second (before the dirty tracking,
// all 4,096: one BenchmarkSaveAlerts op of writer time every second).
func BenchmarkOutageSecond(b *testing.B) {
	const n = 4096
	db, err := notify.OpenDB(filepath.Join(b.TempDir(), "hb.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := config.DefaultAlerts()
	cfg.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	e, err := New(Options{Config: cfg, DB: db, Hosts: func(string) (HostInfo, bool) { return HostInfo{}, true }})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Type: event.StateChange, At: now, Host: fmt.Sprintf("h%d", i), Check: "icmp", Kind: obs.KindICMP,
			New: state.Down, HostNew: state.Down, Snap: &state.Snapshot{State: state.Down}}
		e.Handle(&evs[i])
	}
	for range 5 { // fired, flushed (group_wait), saved
		now = now.Add(time.Second)
		e.Tick(now)
	}
	if err := e.save(true); err != nil {
		b.Fatal(err)
	}
	before := e.rowsWritten.Load()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Second)
		for i := range evs {
			evs[i].At = now
			e.Handle(&evs[i])
		}
		e.Tick(now)
		// Wait for whatever the tick queued.
		if err := db.W.Exec(context.Background(), func(*sql.Tx) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.rowsWritten.Load()-before)/float64(b.N), "rows/s")
	b.ReportMetric(n, "alerts")
}

// BenchmarkListSilenced is one List of 4,096 firing alerts (a /20
// outage, as the dashboard's alerts page and /api/v1/alerts ask for it),
// without silences and with three (one host, one label covering a
// quarter of the hosts, one weekly window that is not open): the cost of
// saying which silence covers each alert.
func BenchmarkListSilenced(b *testing.B) {
	const n = 4096
	for _, silenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("silences=%v", silenced), func(b *testing.B) {
			cfg := config.DefaultAlerts()
			cfg.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
			labels := []state.Labels{}
			for i := range 4 {
				labels = append(labels, state.LabelsFromMap(map[string]string{"site": fmt.Sprintf("dc%d", i), "owner": "alice"}))
			}
			hostOf := map[string]int{}
			e, err := New(Options{Config: cfg, Hosts: func(h string) (HostInfo, bool) { return HostInfo{Labels: labels[hostOf[h]%4]}, true }})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Unix(1_800_000_000, 0)
			for i := range n {
				h := fmt.Sprintf("h%d", i)
				hostOf[h] = i
				e.Handle(&event.Event{Type: event.StateChange, At: now, Host: h, Check: "icmp", Kind: obs.KindICMP,
					New: state.Down, HostNew: state.Down, Snap: &state.Snapshot{State: state.Down}})
			}
			e.Tick(now.Add(time.Second))
			want := 0
			if silenced {
				for _, s := range []Silence{{Matchers: "host=h7", EndsAt: now.Add(time.Hour)}, {Matchers: "site=dc1", EndsAt: now.Add(2 * time.Hour)},
					{Matchers: "site=dc2", Schedule: "0 2 * * 0", Duration: 2 * time.Hour}} {
					if _, err := e.AddSilence(s, now); err != nil {
						b.Fatal(err)
					}
				}
				want = n/4 + 1 // dc1, and h7 (dc3)
			}
			f := Filter{Now: now.Add(time.Minute)}
			b.ReportAllocs()
			for b.Loop() {
				l := e.List(f)
				got := 0
				for i := range l {
					if l[i].Silenced != nil {
						got++
					}
				}
				if len(l) != n || got != want {
					b.Fatalf("%d alerts, %d silenced; want %d, %d", len(l), got, n, want)
				}
			}
		})
	}
}
