package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

type rollKey struct {
	host   string
	minute int64 // unix ms, start of the minute
}

// rollAcc is the change to one rollup row since the last commit; the commit
// adds it to the row, so a restart in the middle of a minute adds to what
// was committed instead of overwriting it.
type rollAcc struct {
	probes, losses int64
	rttN, rttSum   int64
	rttMin, rttMax int64 // ns; valid when rttN > 0
	healthN        int64
	cpu, mem, disk float64
	load           float64
}

// hostUpd is the change to one host row since the last commit.
type hostUpd struct {
	lastSeen    int64
	hasState    bool
	state       string
	since       int64
	transitions uint32
}

// writer is the one goroutine that writes the database. Everything in it is
// owned by that goroutine.
type writer struct {
	s   *Store
	ids map[string]int64 // host name → hosts.id, committed rows only

	roll   map[rollKey]*rollAcc
	upd    map[string]*hostUpd
	trs    []*Transition
	probs  []*Problem
	hosts  [][]Host
	events uint64 // in the pending batch

	nextRetention time.Time
	retentionBusy bool // the last pass hit its batch limit: continue next tick
}

func newWriter(s *Store) (*writer, error) {
	w := &writer{
		s:    s,
		ids:  map[string]int64{},
		roll: map[rollKey]*rollAcc{},
		upd:  map[string]*hostUpd{},
	}
	rows, err := s.w.Query(`SELECT id, name FROM hosts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		w.ids[name] = id
	}
	return w, rows.Err()
}

func (w *writer) run() {
	defer close(w.s.done)
	t := time.NewTicker(w.s.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case ev := <-w.s.in:
			w.add(ev)
		case <-t.C:
			w.commit()
			w.retention()
		case c := <-w.s.calls:
			w.drain()
			err := w.commit()
			if err == nil && c.fn != nil {
				err = c.fn(w)
			}
			c.done <- err
		case <-w.s.stop:
			w.drain()
			w.commit()
			return
		}
	}
}

// drain takes every event queued so far.
func (w *writer) drain() {
	for {
		select {
		case ev := <-w.s.in:
			w.add(ev)
		default:
			return
		}
	}
}

func (w *writer) add(ev event) {
	w.events++
	switch ev.kind {
	case evProbe:
		p := &ev.probe
		at := ms(p.At)
		k := rollKey{host: p.Host, minute: at - at%60000}
		a := w.roll[k]
		if a == nil {
			a = &rollAcc{}
			w.roll[k] = a
		}
		a.probes++
		if !p.OK {
			a.losses++
		} else {
			u := w.hostUpd(p.Host)
			u.lastSeen = max(u.lastSeen, at)
			if p.RTT > 0 {
				r := int64(p.RTT)
				if a.rttN == 0 || r < a.rttMin {
					a.rttMin = r
				}
				if a.rttN == 0 || r > a.rttMax {
					a.rttMax = r
				}
				a.rttN++
				a.rttSum += r
			}
		}
		if h := p.Health; h != nil {
			a.healthN++
			a.cpu += h.CPU
			a.mem += h.Mem
			a.disk += h.Disk
			a.load += h.Load1
		}
	case evTransition:
		t := ev.ext.(*Transition)
		w.trs = append(w.trs, t)
		u := w.hostUpd(t.Host)
		u.hasState, u.state, u.since, u.transitions = true, t.To, ms(t.At), t.Count
	case evProblem:
		w.probs = append(w.probs, ev.ext.(*Problem))
	case evHosts:
		w.hosts = append(w.hosts, ev.ext.([]Host))
	}
}

func (w *writer) hostUpd(name string) *hostUpd {
	u := w.upd[name]
	if u == nil {
		u = &hostUpd{}
		w.upd[name] = u
	}
	return u
}

func (w *writer) reset() {
	clear(w.roll)
	clear(w.upd)
	clear(w.trs)
	w.trs = w.trs[:0]
	clear(w.probs)
	w.probs = w.probs[:0]
	w.hosts = nil
	w.events = 0
}

// commit writes the pending batch in one transaction. On failure the batch
// is dropped (and counted): retrying forever would grow memory without
// bound while the disk is full or broken.
func (w *writer) commit() error {
	if w.events == 0 {
		return nil
	}
	start := time.Now()
	n := w.events
	newIDs := map[string]int64{}
	err := w.write(newIDs)
	w.reset()
	s := w.s
	if err != nil {
		s.errs.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		if s.opts.Log != nil {
			s.opts.Log.Error("store: commit failed, batch dropped", "events", n, "err", err)
		}
		return err
	}
	for k, v := range newIDs {
		w.ids[k] = v
	}
	total := s.committed.Add(n)
	s.commits.Add(1)
	s.lastCommit.Store(time.Now().UnixNano())
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(CommitInfo{Events: n, Total: total, Duration: time.Since(start)})
	}
	return nil
}

const (
	qHostUpsert = `INSERT INTO hosts (name, address, labels, first_seen) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET address = excluded.address, labels = excluded.labels
		RETURNING id`
	qHostEnsure = `INSERT INTO hosts (name, first_seen) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET name = name RETURNING id`
	qRollup = `INSERT INTO rollups (host_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max,
			health_n, cpu_sum, mem_sum, disk_sum, load_sum)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_id, minute) DO UPDATE SET
			probes = probes + excluded.probes,
			losses = losses + excluded.losses,
			rtt_n = rtt_n + excluded.rtt_n,
			rtt_sum = rtt_sum + excluded.rtt_sum,
			rtt_min = min(coalesce(rtt_min, excluded.rtt_min), coalesce(excluded.rtt_min, rtt_min)),
			rtt_max = max(coalesce(rtt_max, excluded.rtt_max), coalesce(excluded.rtt_max, rtt_max)),
			health_n = health_n + excluded.health_n,
			cpu_sum = cpu_sum + excluded.cpu_sum,
			mem_sum = mem_sum + excluded.mem_sum,
			disk_sum = disk_sum + excluded.disk_sum,
			load_sum = load_sum + excluded.load_sum`
	qTransition = `INSERT INTO transitions (host_id, at, from_state, to_state) VALUES (?, ?, ?, ?)`
	qProblem    = `INSERT INTO problems (host_id, at, kind, icmp_type, icmp_code, from_addr, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	qLastSeen = `UPDATE hosts SET last_seen = max(last_seen, ?) WHERE id = ?`
	qState    = `UPDATE hosts SET state = ?, state_since = ?, transitions = ? WHERE id = ?`
)

func (w *writer) write(newIDs map[string]int64) error {
	ctx := context.Background()
	tx, err := w.s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := ms(w.s.opts.Now())

	upsert, err := tx.Prepare(qHostUpsert)
	if err != nil {
		return err
	}
	for _, list := range w.hosts {
		for _, h := range list {
			labels := h.Labels
			if labels == nil {
				labels = map[string]string{}
			}
			lj, err := json.Marshal(labels)
			if err != nil {
				return err
			}
			var id int64
			if err := upsert.QueryRow(h.Name, h.Address, string(lj), now).Scan(&id); err != nil {
				return fmt.Errorf("host %q: %w", h.Name, err)
			}
			newIDs[h.Name] = id
		}
	}
	ensure, err := tx.Prepare(qHostEnsure)
	if err != nil {
		return err
	}
	id := func(name string) (int64, error) {
		if v, ok := newIDs[name]; ok {
			return v, nil
		}
		if v, ok := w.ids[name]; ok {
			return v, nil
		}
		var v int64
		if err := ensure.QueryRow(name, now).Scan(&v); err != nil {
			return 0, fmt.Errorf("host %q: %w", name, err)
		}
		newIDs[name] = v
		return v, nil
	}

	if len(w.roll) > 0 {
		st, err := tx.Prepare(qRollup)
		if err != nil {
			return err
		}
		for k, a := range w.roll {
			hid, err := id(k.host)
			if err != nil {
				return err
			}
			var rmin, rmax any
			if a.rttN > 0 {
				rmin, rmax = a.rttMin, a.rttMax
			}
			if _, err := st.Exec(hid, k.minute, a.probes, a.losses, a.rttN, a.rttSum, rmin, rmax,
				a.healthN, a.cpu, a.mem, a.disk, a.load); err != nil {
				return fmt.Errorf("rollup: %w", err)
			}
		}
	}
	if len(w.trs) > 0 {
		st, err := tx.Prepare(qTransition)
		if err != nil {
			return err
		}
		for _, t := range w.trs {
			hid, err := id(t.Host)
			if err != nil {
				return err
			}
			if _, err := st.Exec(hid, ms(t.At), t.From, t.To); err != nil {
				return fmt.Errorf("transition: %w", err)
			}
		}
	}
	if len(w.probs) > 0 {
		st, err := tx.Prepare(qProblem)
		if err != nil {
			return err
		}
		for _, p := range w.probs {
			hid, err := id(p.Host)
			if err != nil {
				return err
			}
			var typ, code any
			from := ""
			if p.Kind == KindICMPError {
				typ, code = int64(p.ICMPType), int64(p.ICMPCode)
			}
			if p.From.IsValid() {
				from = p.From.String()
			}
			if _, err := st.Exec(hid, ms(p.At), p.Kind, typ, code, from, p.Detail); err != nil {
				return fmt.Errorf("problem: %w", err)
			}
		}
	}
	if len(w.upd) > 0 {
		seen, err := tx.Prepare(qLastSeen)
		if err != nil {
			return err
		}
		state, err := tx.Prepare(qState)
		if err != nil {
			return err
		}
		for name, u := range w.upd {
			hid, err := id(name)
			if err != nil {
				return err
			}
			if u.lastSeen != 0 {
				if _, err := seen.Exec(u.lastSeen, hid); err != nil {
					return err
				}
			}
			if u.hasState {
				if _, err := state.Exec(u.state, u.since, int64(u.transitions), hid); err != nil {
					return err
				}
			}
		}
	}
	return tx.Commit()
}

// retention deletes rows older than the retention period in small batches,
// each its own transaction, at most retentionBatches batches per table per
// tick so the writer gets back to committing within the second.
const retentionBatches = 10

var retentionTables = [...]struct{ table, col string }{
	{"rollups", "minute"},
	{"transitions", "at"},
	{"problems", "at"},
}

func (w *writer) retention() {
	o := &w.s.opts
	if o.Retention < 0 {
		return
	}
	now := o.Now()
	if !w.retentionBusy && now.Before(w.nextRetention) {
		return
	}
	w.nextRetention = now.Add(o.RetentionEvery)
	cutoff := ms(now.Add(-o.Retention))
	busy := false
	for _, t := range retentionTables {
		q := fmt.Sprintf(`DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE %s < ? LIMIT ?)`, t.table, t.table, t.col)
		full := true
		for i := 0; i < retentionBatches && full; i++ {
			res, err := w.s.w.Exec(q, cutoff, o.DeleteBatch)
			if err != nil {
				msg := "retention: " + err.Error()
				w.s.lastErr.Store(&msg)
				w.s.errs.Add(1)
				full = false
				break
			}
			n, _ := res.RowsAffected()
			w.s.deleted.Add(uint64(n))
			full = n == int64(o.DeleteBatch)
		}
		busy = busy || full
	}
	w.retentionBusy = busy
}
