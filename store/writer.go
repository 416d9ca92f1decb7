// SPDX-License-Identifier: MIT

package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
)

type ckey struct{ host, check string }

// chk is one check as the writer knows it, with its rollup for the minute
// in progress.
type chk struct {
	key    ckey
	id     int64 // checks.id; 0 until the row exists
	kind   obs.Kind
	target string
	dirty  bool // kind or target to (re)write; queued in writer.newChecks
	acc    rollAcc
}

// rollAcc sums one check's results over one minute.
type rollAcc struct {
	minute         int64 // unix ms, start of the minute
	probes, losses int64
	rttN, rttSum   int64
	rttMin, rttMax int64 // ns; valid when rttN > 0
	lastOK         int64 // unix ms; 0 = no success
	healthN        int64
	cpu, mem, disk float64
	load           float64
}

// pend is a finished rollup row waiting to be written.
type pend struct {
	c   *chk
	acc rollAcc
}

// writer is the one goroutine that writes the database. Everything in it is
// owned by that goroutine.
type writer struct {
	s    *Store
	subC <-chan event.Event // Consume's subscription; nil when none

	hostIDs   map[string]int64 // committed rows only
	checks    map[ckey]*chk
	newChecks []*chk // dirty checks to insert or update
	hostList  []Host // configured hosts to upsert

	pending  []pend // finished minutes, oldest first
	changes  []event.Event
	problems []event.Event
	msgs     []event.Event
	events   uint64 // len(changes)+len(problems)+len(msgs)

	swept int64 // minutes before this (unix ms) have been moved to pending

	nextRetention time.Time
	retentionBusy bool // the last pass hit its batch limit: continue next tick
}

func newWriter(s *Store) (*writer, error) {
	w := &writer{s: s, hostIDs: map[string]int64{}, checks: map[ckey]*chk{}}
	rows, err := s.w.Query(`SELECT id, name FROM hosts`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, err
		}
		w.hostIDs[name] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.w.Query(`SELECT c.id, h.name, c.name, c.kind, c.target FROM checks c JOIN hosts h ON h.id = c.host_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c := &chk{}
		var kind string
		if err := rows.Scan(&c.id, &c.key.host, &c.key.check, &kind, &c.target); err != nil {
			return nil, err
		}
		c.kind, _ = obs.ParseKind(kind)
		w.checks[c.key] = c
	}
	s.checks.Store(int64(len(w.checks)))
	return w, rows.Err()
}

func (w *writer) run() {
	defer close(w.s.done)
	t := time.NewTicker(w.s.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case e := <-w.s.in:
			w.add(&e)
		case e, ok := <-w.subC:
			if !ok {
				w.subC = nil
				continue
			}
			w.add(&e)
		case fn := <-w.s.ctl:
			fn(w)
		case <-t.C:
			w.tick()
		case c := <-w.s.calls:
			w.drain()
			var err error
			if c.fn != nil {
				err = c.fn(w)
			}
			c.done <- err
		case <-w.s.stop:
			w.drain()
			w.finishAll()
			w.commitAll()
			return
		}
	}
}

// drain takes every event and configuration change queued so far.
func (w *writer) drain() {
	for {
		select {
		case fn := <-w.s.ctl:
			fn(w)
		case e := <-w.s.in:
			w.add(&e)
		default:
			w.drainSub()
			return
		}
	}
}

func (w *writer) drainSub() {
	if w.subC == nil {
		return
	}
	for {
		select {
		case e, ok := <-w.subC:
			if !ok {
				w.subC = nil
				return
			}
			w.add(&e)
		default:
			return
		}
	}
}

func (w *writer) add(e *event.Event) {
	switch e.Type {
	case event.Result:
		w.result(e)
	case event.StateChange:
		w.check(e.Host, e.Check, e.Kind)
		w.changes = append(w.changes, *e)
		w.events++
	case event.Problem:
		w.check(e.Host, e.Check, e.Kind)
		w.problems = append(w.problems, *e)
		w.events++
	case event.Message:
		w.msgs = append(w.msgs, *e)
		w.events++
	}
}

// check returns the writer's record of a check, creating it (to be
// inserted at the next commit) when new.
func (w *writer) check(host, name string, kind obs.Kind) *chk {
	k := ckey{host, name}
	c := w.checks[k]
	if c == nil {
		c = &chk{key: k, kind: kind}
		w.checks[k] = c
		w.s.checks.Store(int64(len(w.checks)))
		w.markNew(c)
		return c
	}
	if kind != obs.KindInvalid && kind != c.kind {
		c.kind = kind
		w.markNew(c)
	}
	return c
}

func (w *writer) markNew(c *chk) {
	if !c.dirty {
		c.dirty = true
		w.newChecks = append(w.newChecks, c)
	}
}

func minuteOf(at int64) int64 {
	m := at % 60000
	if m < 0 {
		m += 60000
	}
	return at - m
}

// result adds one observation to its check's rollup for the minute.
func (w *writer) result(e *event.Event) {
	o := e.Obs
	if o == nil || o.Outcome == obs.OutcomeInvalid {
		return
	}
	c := w.check(e.Host, e.Check, e.Kind)
	at := ms(e.At)
	m := minuteOf(at)
	if c.acc.probes > 0 && c.acc.minute != m {
		w.pending = append(w.pending, pend{c, c.acc})
		w.s.pending.Store(int64(len(w.pending)))
		c.acc = rollAcc{}
	}
	a := &c.acc
	a.minute = m
	a.probes++
	if o.Outcome.Failed() {
		a.losses++
	} else {
		a.lastOK = max(a.lastOK, at)
		if r := int64(o.RTT); r > 0 {
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
	var h Health
	switch {
	case o.Health != nil:
		h = HealthFromBlob(o.Health)
	case o.HBM2 != nil:
		h = HealthFromHBM2(o.HBM2)
	default:
		w.s.results.Add(1)
		return
	}
	a.healthN++
	a.cpu += h.CPU
	a.mem += h.Mem
	a.disk += h.Disk
	a.load += h.Load1
	w.s.results.Add(1)
}

// sweep moves the rollups of minutes that ended at least RollupGrace ago
// to pending. It walks every check once per minute.
func (w *writer) sweep(now time.Time) {
	cur := minuteOf(ms(now))
	cutoff := cur
	if ms(now)-cur < w.s.opts.RollupGrace.Milliseconds() {
		cutoff -= 60000
	}
	if cutoff <= w.swept {
		return
	}
	w.swept = cutoff
	for _, c := range w.checks {
		if c.acc.probes > 0 && c.acc.minute < cutoff {
			w.pending = append(w.pending, pend{c, c.acc})
			c.acc = rollAcc{}
		}
	}
	w.s.pending.Store(int64(len(w.pending)))
}

// finishAll moves every rollup in progress to pending (Flush, Close).
func (w *writer) finishAll() {
	for _, c := range w.checks {
		if c.acc.probes > 0 {
			w.pending = append(w.pending, pend{c, c.acc})
			c.acc = rollAcc{}
		}
	}
	w.s.pending.Store(int64(len(w.pending)))
}

func (w *writer) tick() {
	w.sweep(w.s.opts.Now())
	w.commit()
	w.retention()
}

// commitAll commits until nothing is pending (or a commit fails).
func (w *writer) commitAll() error {
	for {
		if err := w.commit(); err != nil {
			return err
		}
		if len(w.pending) == 0 {
			return nil
		}
	}
}

// commit writes, in one transaction, the configured hosts and new checks,
// up to RollupBatch pending rollup rows and every queued state change,
// problem and message. On failure they are dropped (and counted):
// retrying forever would grow memory without bound while the disk is full
// or broken. New checks are retried.
func (w *writer) commit() error {
	nroll := min(len(w.pending), w.s.opts.RollupBatch)
	if w.events == 0 && nroll == 0 && len(w.newChecks) == 0 && len(w.hostList) == 0 {
		return nil
	}
	start := time.Now()
	n := w.events
	batch := w.pending[:nroll]
	hostIDs := map[string]int64{}
	checkIDs := map[*chk]int64{}
	var results uint64
	for i := range batch {
		results += uint64(batch[i].acc.probes)
	}
	err := w.write(batch, hostIDs, checkIDs)
	// Done with this batch either way.
	w.pending = append(w.pending[:0], w.pending[nroll:]...)
	if len(w.pending) == 0 && cap(w.pending) > 1<<16 {
		w.pending = nil // give a large fleet's minute back
	}
	w.s.pending.Store(int64(len(w.pending)))
	clear(w.changes)
	w.changes = w.changes[:0]
	clear(w.problems)
	w.problems = w.problems[:0]
	clear(w.msgs)
	w.msgs = w.msgs[:0]
	w.events = 0
	s := w.s
	if err != nil {
		w.hostList = nil
		s.errs.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		if s.opts.Log != nil {
			s.opts.Log.Error("store: commit failed, batch dropped", "events", n, "rollups", nroll, "err", err)
		}
		return err
	}
	w.hostList = nil
	for k, v := range hostIDs {
		w.hostIDs[k] = v
	}
	for c, id := range checkIDs {
		c.id = id
	}
	for _, c := range w.newChecks {
		c.dirty = false
	}
	clear(w.newChecks)
	w.newChecks = w.newChecks[:0]
	d := time.Since(start)
	total := s.committed.Add(n)
	s.rollupRows.Add(uint64(nroll))
	s.commits.Add(1)
	s.commitNanos.Add(int64(d))
	s.observeCommit(d.Seconds())
	s.lastCommit.Store(time.Now().UnixNano())
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(CommitInfo{Events: n, Total: total, Rollups: uint64(nroll), Results: results, Duration: d})
	}
	return nil
}

const (
	qHostUpsert = `INSERT INTO hosts (name, address, labels, first_seen) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET address = excluded.address, labels = excluded.labels
		RETURNING id`
	qHostEnsure = `INSERT INTO hosts (name, first_seen) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET name = name RETURNING id`
	qCheckUpsert = `INSERT INTO checks (host_id, name, kind, target, first_seen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (host_id, name) DO UPDATE SET
			kind = CASE WHEN excluded.kind = 'invalid' THEN kind ELSE excluded.kind END,
			target = CASE WHEN excluded.target = '' THEN target ELSE excluded.target END
		RETURNING id`
	qRollupInsert = `INSERT INTO rollups (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok,
			health_n, cpu_sum, mem_sum, disk_sum, load_sum) VALUES `
	qRollupRow    = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qRollupUpsert = `
		ON CONFLICT (check_id, minute) DO UPDATE SET
			probes = probes + excluded.probes,
			losses = losses + excluded.losses,
			rtt_n = rtt_n + excluded.rtt_n,
			rtt_sum = rtt_sum + excluded.rtt_sum,
			rtt_min = min(coalesce(rtt_min, excluded.rtt_min), coalesce(excluded.rtt_min, rtt_min)),
			rtt_max = max(coalesce(rtt_max, excluded.rtt_max), coalesce(excluded.rtt_max, rtt_max)),
			last_ok = max(last_ok, excluded.last_ok),
			health_n = health_n + excluded.health_n,
			cpu_sum = cpu_sum + excluded.cpu_sum,
			mem_sum = mem_sum + excluded.mem_sum,
			disk_sum = disk_sum + excluded.disk_sum,
			load_sum = load_sum + excluded.load_sum`
	qChange = `INSERT INTO state_changes (check_id, at, from_state, to_state, host_from, host_to)
		VALUES (?, ?, ?, ?, ?, ?)`
	qCheckState = `UPDATE checks SET state = ?, state_since = ?,
		transitions = CASE WHEN ? > 0 THEN ? ELSE transitions + 1 END WHERE id = ?`
	qHostState = `UPDATE hosts SET state = ?, state_since = ?, transitions = transitions + 1
		WHERE id = (SELECT host_id FROM checks WHERE id = ?)`
	qProblem = `INSERT INTO problems (check_id, at, kind, icmp_type, icmp_code, from_addr, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	qMessage = `INSERT INTO events (at, host, check_name, source, level, message) VALUES (?, ?, ?, ?, ?, ?)`
)

// rollupCols is the number of values in one rollup row; rollupMulti the
// rows per multi-row statement (14 × 64 = 896 variables, under SQLite's
// limit of 32,766).
const (
	rollupCols  = 14
	rollupMulti = 64
)

var (
	qRollup      = qRollupInsert + qRollupRow + qRollupUpsert
	qRollupMulti = qRollupInsert + strings.Repeat(qRollupRow+",", rollupMulti-1) + qRollupRow + qRollupUpsert
)

func (w *writer) write(batch []pend, hostIDs map[string]int64, checkIDs map[*chk]int64) error {
	ctx := context.Background()
	tx, err := w.s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := ms(w.s.opts.Now())

	if len(w.hostList) > 0 {
		upsert, err := tx.Prepare(qHostUpsert)
		if err != nil {
			return err
		}
		for _, h := range w.hostList {
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
			hostIDs[h.Name] = id
		}
	}
	if len(w.newChecks) > 0 {
		ensure, err := tx.Prepare(qHostEnsure)
		if err != nil {
			return err
		}
		upsert, err := tx.Prepare(qCheckUpsert)
		if err != nil {
			return err
		}
		for _, c := range w.newChecks {
			hid, ok := hostIDs[c.key.host]
			if !ok {
				hid, ok = w.hostIDs[c.key.host]
			}
			if !ok {
				if err := ensure.QueryRow(c.key.host, now).Scan(&hid); err != nil {
					return fmt.Errorf("host %q: %w", c.key.host, err)
				}
				hostIDs[c.key.host] = hid
			}
			var id int64
			if err := upsert.QueryRow(hid, c.key.check, c.kind.String(), c.target, now).Scan(&id); err != nil {
				return fmt.Errorf("check %s/%s: %w", c.key.host, c.key.check, err)
			}
			checkIDs[c] = id
		}
	}
	id := func(c *chk) int64 {
		if v, ok := checkIDs[c]; ok {
			return v
		}
		return c.id
	}

	if len(batch) > 0 {
		// In check order: the (check_id, minute) index is then walked
		// once, front to back, instead of at random.
		slices.SortFunc(batch, func(a, b pend) int {
			return cmp.Or(cmp.Compare(id(a.c), id(b.c)), cmp.Compare(a.acc.minute, b.acc.minute))
		})
		// Rows go in statements of rollupMulti rows (one statement's
		// overhead through database/sql and the driver is most of a row's
		// cost), the rest one at a time.
		multi, err := tx.Prepare(qRollupMulti)
		if err != nil {
			return err
		}
		one, err := tx.Prepare(qRollup)
		if err != nil {
			return err
		}
		args := make([]any, 0, rollupCols*rollupMulti)
		for i := 0; i < len(batch); {
			n := rollupMulti
			st := multi
			if len(batch)-i < rollupMulti {
				n, st = 1, one
			}
			args = args[:0]
			for _, p := range batch[i : i+n] {
				a := &p.acc
				var rmin, rmax any
				if a.rttN > 0 {
					rmin, rmax = a.rttMin, a.rttMax
				}
				args = append(args, id(p.c), a.minute, a.probes, a.losses, a.rttN, a.rttSum, rmin, rmax, a.lastOK,
					a.healthN, a.cpu, a.mem, a.disk, a.load)
			}
			if _, err := st.Exec(args...); err != nil {
				return fmt.Errorf("rollup: %w", err)
			}
			i += n
		}
	}
	if len(w.changes) > 0 {
		ins, err := tx.Prepare(qChange)
		if err != nil {
			return err
		}
		cst, err := tx.Prepare(qCheckState)
		if err != nil {
			return err
		}
		hst, err := tx.Prepare(qHostState)
		if err != nil {
			return err
		}
		for i := range w.changes {
			e := &w.changes[i]
			cid := id(w.checks[ckey{e.Host, e.Check}])
			at := ms(e.At)
			if _, err := ins.Exec(cid, at, e.Old.String(), e.New.String(), e.HostOld.String(), e.HostNew.String()); err != nil {
				return fmt.Errorf("state change: %w", err)
			}
			var n int64
			if e.Snap != nil {
				n = int64(e.Snap.Transitions)
			}
			if _, err := cst.Exec(e.New.String(), at, n, n, cid); err != nil {
				return fmt.Errorf("state change: %w", err)
			}
			if e.HostOld != e.HostNew {
				if _, err := hst.Exec(e.HostNew.String(), at, cid); err != nil {
					return fmt.Errorf("state change: %w", err)
				}
			}
		}
	}
	if len(w.problems) > 0 {
		st, err := tx.Prepare(qProblem)
		if err != nil {
			return err
		}
		for i := range w.problems {
			e := &w.problems[i]
			cid := id(w.checks[ckey{e.Host, e.Check}])
			kind, typ, code, from, detail := problemRow(e)
			if _, err := st.Exec(cid, ms(e.At), kind, typ, code, from, detail); err != nil {
				return fmt.Errorf("problem: %w", err)
			}
		}
	}
	if len(w.msgs) > 0 {
		st, err := tx.Prepare(qMessage)
		if err != nil {
			return err
		}
		for i := range w.msgs {
			e := &w.msgs[i]
			if _, err := st.Exec(ms(e.At), e.Host, e.Check, e.Source, e.Level.String(), e.Text); err != nil {
				return fmt.Errorf("message: %w", err)
			}
		}
	}
	return tx.Commit()
}

// problemRow classifies a Problem event for the problems table.
func problemRow(e *event.Event) (kind string, typ, code any, from, detail string) {
	kind, detail = KindError, e.Text
	o := e.Obs
	if o == nil {
		return kind, nil, nil, "", detail
	}
	switch {
	case o.Outcome == obs.Timeout:
		kind = KindTimeout
	case o.ICMPType != 0 || o.From.IsValid():
		kind = KindICMPError
		typ, code = int64(o.ICMPType), int64(o.ICMPCode)
	}
	if o.From.IsValid() {
		from = o.From.String()
	}
	if detail == "" {
		detail = o.Problem
	}
	if detail == "" {
		detail = o.Detail
	}
	return kind, typ, code, from, detail
}

// retention deletes rows older than the retention period in small batches,
// each its own transaction, at most retentionBatches batches per table per
// tick so the writer gets back to committing within the second.
const retentionBatches = 10

var retentionTables = [...]struct{ table, col string }{
	{"rollups", "minute"},
	{"state_changes", "at"},
	{"problems", "at"},
	{"events", "at"},
}

func (w *writer) retention() {
	o := &w.s.opts
	if o.Retention <= 0 {
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
