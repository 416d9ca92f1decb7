// SPDX-License-Identifier: MIT

package monitor

// The store's wiring, in one file: open, restore (per check), the event
// subscription that feeds it, the host and check lists on reload, the
// API's history adapter, and close.

import (
	"context"
	"time"
	"unsafe"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
)

// storeQueue is the store subscriber's event queue: 16,384 events, over a
// second at 1M checks a minute; the store only sums results in memory and
// never waits on the database while reading it. A batch subscription: it
// takes memory for the events waiting (the writer's last batch or two),
// not for all 16,384.
const storeQueue = 1 << 14

type storeWiring struct {
	st   *store.Store
	sub  *event.Sub
	stop context.CancelFunc // ends Consume
	done chan struct{}
}

// DBPath is the history database of c: store.db, else the default
// location.
func DBPath(c *config.Probe) (string, error) {
	if c.Store.DB != "" {
		return c.Store.DB, nil
	}
	return store.DefaultPath()
}

// openStore opens the history database of c.
func (m *Monitor) openStore(c *config.Probe) error {
	db, err := DBPath(c)
	if err != nil {
		return err
	}
	st, err := store.Open(db, &store.Options{Retention: c.Store.Retention.D(), Log: m.log, Table: m.table})
	if err != nil {
		return err
	}
	m.store = &storeWiring{st: st}
	m.log.Info("history", "db", db, "retention", c.Store.Retention.String())
	return nil
}

// restore puts each configured check back in the state the store last
// recorded for it (same host, check name and kind, and the host's address
// unchanged). Runs before the writer starts.
func (m *Monitor) restore(ctx context.Context) {
	recs, err := m.store.st.Checks(ctx)
	if err != nil {
		m.log.Error("restore: reading check states", "err", err)
		return
	}
	v := m.table.View()
	hosts := map[string]bool{}
	n := 0
	for _, rec := range recs {
		c := v.LookupCheck(rec.Host, rec.Name)
		if c == nil || rec.Kind != c.Spec().Kind || rec.State == state.Unknown {
			continue
		}
		if a := c.Host().Spec().Addr; a.IsValid() && a.String() != rec.Address {
			continue
		}
		if err := m.table.Restore(c.ID, rec.State, rec.StateSince, rec.Transitions); err != nil {
			m.log.Warn("restore", "host", rec.Host, "check", rec.Name, "err", err)
			continue
		}
		hosts[rec.Host] = true
		n++
	}
	m.log.Info("restored host states", "hosts", len(hosts), "checks", n)
}

// setStoreHosts tells the store the current hosts and checks (start, every
// reload and registration), from the table's view v: the targets' hosts
// need not be kept until the store has them.
func (m *Monitor) setStoreHosts(v *state.View) {
	// In slices: the store copies what it is handed, and 100k hosts'
	// records and check specs at once are ~30 MB more at start-up.
	const chunk = 4096
	out := make([]store.Host, 0, min(v.Len(), chunk))
	var specs []obs.CheckSpec
	// Hosts sharing one Labels slice (targets interns them) share one map.
	maps := map[*state.Label]map[string]string{}
	for i := 0; i < v.Len(); {
		out, specs = out[:0], specs[:0]
		for ; i < v.Len() && len(out) < chunk; i++ {
			h := v.Host(i)
			addr := ""
			if a := h.Addr(); a.IsValid() {
				addr = a.String()
			}
			var lm map[string]string
			if ls := h.Labels(); len(ls) > 0 {
				p := unsafe.SliceData(ls)
				if lm = maps[p]; lm == nil {
					lm = ls.Map()
					maps[p] = lm
				}
			}
			out = append(out, store.Host{Name: h.Name(), Address: addr, Labels: lm})
			for j := range h.NumChecks() {
				specs = append(specs, h.Check(j).Spec())
			}
		}
		m.store.st.SetHosts(out)
		m.store.st.SetChecks(specs)
	}
}

// startStore subscribes the store to the bus.
func (m *Monitor) startStore() {
	w := m.store
	w.sub = m.bus.SubscribeBatch("store", storeQueue, store.Types...)
	w.done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go func() {
		defer close(w.done)
		if err := w.st.Consume(ctx, w.sub); err != nil {
			m.log.Error("store stopped consuming events", "err", err)
		}
	}()
}

// closeStore stops the subscriber after the writer stopped (no more
// events; Consume takes what is queued), then closes the store, which
// commits everything including the current minute's rollups.
func (m *Monitor) closeStore() {
	w := m.store
	if w == nil {
		return
	}
	if w.sub != nil {
		w.stop()
		<-w.done
		w.sub.Close()
	}
	if err := w.st.Close(); err != nil {
		m.log.Error("store close", "err", err)
	}
	s := w.st.Stats()
	m.log.Info("store closed", "committed", s.Committed, "dropped", s.Dropped, "errors", s.Errors)
}

// historySource adapts the store to the API's HistorySource.
type historySource struct{ s *store.Store }

func (h historySource) History(ctx context.Context, host string, from, to time.Time) (api.History, error) {
	rolls, err := h.s.History(ctx, host, from, to)
	if err != nil {
		return api.History{}, err
	}
	trs, err := h.s.StateChanges(ctx, store.Query{Host: host, From: from, To: to, Limit: 10000, HostChanges: true})
	if err != nil {
		return api.History{}, err
	}
	return apiHistory(rolls, trs, true), nil
}

// CheckHistory is one check's history (api.CheckHistorySource).
func (h historySource) CheckHistory(ctx context.Context, host, check string, from, to time.Time) (api.History, error) {
	rolls, err := h.s.CheckHistory(ctx, host, check, from, to)
	if err != nil {
		return api.History{}, err
	}
	trs, err := h.s.StateChanges(ctx, store.Query{Host: host, Check: check, From: from, To: to, Limit: 10000})
	if err != nil {
		return api.History{}, err
	}
	return apiHistory(rolls, trs, false), nil
}

// apiHistory converts stored rows; hostStates picks the host's derived
// states of each change rather than the check's.
func apiHistory(rolls []store.Rollup, trs []store.StateChange, hostStates bool) api.History {
	out := api.History{Rollups: make([]api.Rollup, 0, len(rolls)), Changes: make([]api.StateChange, 0, len(trs))}
	f := func(v float64) *float64 { return &v }
	for _, r := range rolls {
		ar := api.Rollup{Minute: r.Minute, Probes: r.Probes, Losses: r.Losses, HealthSeen: r.HealthSamples}
		if r.RTTSamples > 0 {
			ar.RTTMinSec, ar.RTTAvgSec, ar.RTTMaxSec = f(r.RTTMin.Seconds()), f(r.RTTAvg.Seconds()), f(r.RTTMax.Seconds())
		}
		if r.HealthSamples > 0 {
			ar.CPURatio, ar.MemRatio, ar.DiskRatio, ar.Load1 = f(r.CPU/100), f(r.Mem/100), f(r.Disk/100), f(r.Load1)
		}
		out.Rollups = append(out.Rollups, ar)
	}
	for i := len(trs) - 1; i >= 0; i-- { // the store answers newest first
		c := api.StateChange{At: trs[i].At, From: trs[i].From, To: trs[i].To}
		if hostStates {
			c.From, c.To = trs[i].HostFrom, trs[i].HostTo
		}
		out.Changes = append(out.Changes, c)
	}
	return out
}

func (h historySource) Problems(ctx context.Context, from, to time.Time, limit int) ([]api.Problem, error) {
	ps, err := h.s.Problems(ctx, store.Query{From: from, To: to, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]api.Problem, 0, len(ps))
	for _, p := range ps {
		ap := api.Problem{At: p.At, Host: p.Host, Detail: p.Detail}
		switch p.Kind {
		case store.KindTimeout:
			ap.Kind = "timeout"
		case store.KindICMPError:
			ap.Kind = "icmp"
			t, c := int(p.ICMPType), int(p.ICMPCode)
			ap.ICMPType, ap.ICMPCode = &t, &c
		default:
			ap.Kind = "error"
		}
		out = append(out, ap)
	}
	return out, nil
}
