// SPDX-License-Identifier: MIT

package monitor

// The store's wiring, in one file: open, restore, the event subscriber
// that feeds it, the host list on reload, the API's history adapter, and
// close. It keeps today's store API (host-level rows, probes of the
// address checks); the per-check store replaces this file.

import (
	"context"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
	"github.com/hbmon/hb/targets"
)

// storeQueue is the store subscriber's event queue.
const storeQueue = 1 << 16

type storeWiring struct {
	st   *store.Store
	sub  *event.Sub
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
	ret := c.Store.Retention.D()
	if ret == 0 {
		ret = -1 // forever (the store's zero is its default)
	}
	st, err := store.Open(db, &store.Options{Retention: ret, Log: m.log})
	if err != nil {
		return err
	}
	m.store = &storeWiring{st: st}
	m.log.Info("history", "db", db, "retention", c.Store.Retention.String())
	return nil
}

// restore puts each configured host's primary check back in the state the
// store last recorded for the host. Runs before the writer starts.
func (m *Monitor) restore(ctx context.Context) {
	recs, err := m.store.st.Hosts(ctx)
	if err != nil {
		m.log.Error("restore: reading host states", "err", err)
		return
	}
	v := m.table.View()
	n := 0
	for _, rec := range recs {
		h := v.Lookup(rec.Name)
		st, ok := state.ParseState(rec.State)
		if h == nil || !ok || st == state.Unknown || h.NumChecks() == 0 || h.Spec.Addr.String() != rec.Address {
			continue
		}
		if err := m.table.Restore(h.Check(0).ID, st, rec.StateSince, rec.Transitions); err != nil {
			m.log.Warn("restore", "host", rec.Name, "err", err)
			continue
		}
		n++
	}
	m.log.Info("restored host states", "hosts", n)
}

func storeHosts(hs []targets.Host) []store.Host {
	out := make([]store.Host, len(hs))
	for i, h := range hs {
		addr := ""
		if h.Addr.IsValid() {
			addr = h.Addr.String()
		}
		out[i] = store.Host{Name: h.Name, Address: addr, Labels: h.Labels}
	}
	return out
}

// setHosts tells the store the current hosts (start and every reload).
func (m *Monitor) setStoreHosts(hs []targets.Host) { m.store.st.SetHosts(storeHosts(hs)) }

// startStore subscribes the store to the bus.
func (m *Monitor) startStore() {
	w := m.store
	w.sub = m.bus.Subscribe("store", storeQueue, event.Result, event.Problem, event.StateChange)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		for e := range w.sub.C() {
			recordEvent(w.st, &e)
		}
	}()
}

// recordEvent writes one event the way the host-level store keeps it:
// probes and problems of the address checks (icmp, udp), host state
// changes.
func recordEvent(st *store.Store, e *event.Event) {
	addrCheck := e.Kind == obs.KindICMP || e.Kind == obs.KindUDP
	switch e.Type {
	case event.Result:
		if !addrCheck {
			return
		}
		o := e.Obs
		p := store.Probe{Host: e.Host, At: e.At, OK: o.Outcome == obs.OK, RTT: o.RTT}
		switch {
		case o.Health != nil:
			x := store.HealthFromBlob(o.Health)
			p.Health = &x
		case o.HBM2 != nil:
			x := store.HealthFromHBM2(o.HBM2)
			p.Health = &x
		}
		st.RecordProbe(p)
	case event.Problem:
		if !addrCheck {
			return
		}
		o := e.Obs
		kind := store.KindSendError
		switch {
		case o.Outcome == obs.Timeout:
			kind = store.KindTimeout
		case o.ICMPType != 0 || o.ICMPCode != 0 || o.From.IsValid():
			kind = store.KindICMPError
		}
		st.RecordProblem(store.Problem{Host: e.Host, At: e.At, Kind: kind,
			ICMPType: o.ICMPType, ICMPCode: o.ICMPCode, From: o.From, Detail: e.Text})
	case event.StateChange:
		if e.HostOld == e.HostNew {
			return
		}
		// The host's transition count: its status, read now (close enough
		// for a log row; the table is the truth).
		st.RecordTransition(store.Transition{Host: e.Host, At: e.At, From: e.HostOld.String(), To: e.HostNew.String(), Count: e.Snap.Transitions})
	}
}

// closeStore stops the subscriber after the writer stopped (no more
// events), flushes and closes the store.
func (m *Monitor) closeStore() {
	w := m.store
	if w == nil {
		return
	}
	if w.sub != nil {
		w.sub.Close()
		<-w.done
	}
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.st.Flush(fctx); err != nil {
		m.log.Error("store flush", "err", err)
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
	trs, err := h.s.Transitions(ctx, store.Query{Host: host, From: from, To: to, Limit: 10000})
	if err != nil {
		return api.History{}, err
	}
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
		out.Changes = append(out.Changes, api.StateChange{At: trs[i].At, From: trs[i].From, To: trs[i].To})
	}
	return out, nil
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
