// SPDX-License-Identifier: MIT

package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

type ckey struct{ host, check string }

// chk is one check as the aggregator knows it, with its rollup for the
// minute in progress. id belongs to the SQL goroutine (it assigns it);
// everything else to the aggregator.
//
// 96 bytes (was 128, then 112): the configured target is kept only as a
// 32-bit hash, to tell a changed one (the target itself goes to the SQL
// goroutine with the batch, see writer.targets; two targets with the same
// hash, one chance in 2^32 per change, would leave the old one in the
// checks row), the minute in minutes and the newest success as an
// offset in it, 16 bits, beside the rollup (it fills the rollup's padding).
type chk struct {
	key    ckey
	id     int64 // checks.id; 0 until the row exists (SQL goroutine only)
	acc    rollAcc
	lastOK uint16 // the rollup's newest success, ms after its minute + 1; 0 = none (see lastOKms)
	kind   obs.Kind
	dirty  bool   // queued in the current batch's checks
	tsum   uint32 // targetSum of the target as configured (SetChecks); 0 if not known
}

// targetSum is the hash chk keeps of a configured target (0 for none).
func targetSum(t string) uint32 {
	if t == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(t))
	return h.Sum32() | 1
}

// rollAcc sums one check's results over one minute: 48 bytes, kept per
// check and per finished row (with the newest success apart, chk.lastOK
// and pend.lastOK). The health sums, which only checks whose results
// carry a health blob have, are apart (nil for the others).
type rollAcc struct {
	minute         int32 // unix minutes (minuteNum), start of the minute
	probes, losses uint32
	rttN           uint32
	rttSum         int64
	rttMin, rttMax int64 // ns; valid when rttN > 0
	health         *healthAcc
}

// minuteMS is the start of the rollup's minute, unix ms.
func (a *rollAcc) minuteMS() int64 { return int64(a.minute) * 60000 }

// minuteNum is the minute (unix minutes) of a minute's start m (unix ms,
// from minuteOf), clamped to int32 (years -2113 to 6053).
func minuteNum(m int64) int32 {
	return int32(max(math.MinInt32, min(math.MaxInt32, m/60000)))
}

// lastOKms is the newest success of a's minute in unix ms (lastOK as
// chk.lastOK), 0 if none.
func lastOKms(a *rollAcc, lastOK uint16) int64 {
	if lastOK == 0 {
		return 0
	}
	return a.minuteMS() + int64(lastOK) - 1
}

// healthAcc sums the health samples of one check's minute.
type healthAcc struct {
	n              uint32
	cpu, mem, disk float64
	load           float64
}

// pend is a finished rollup row waiting to be written (64 bytes).
type pend struct {
	c      *chk
	acc    rollAcc
	lastOK uint16 // chk.lastOK
}

// chkMeta is a check's row as the aggregator last knew it: what the SQL
// goroutine inserts or updates.
type chkMeta struct {
	c      *chk
	kind   obs.Kind
	target string
}

// stateChange is a StateChange event as the batch keeps it: what its rows
// need, without the event's observation and snapshot (which a copy of
// the event would keep alive until the commit: ~700 bytes a change while
// 100k checks come up at start-up).
type stateChange struct {
	at                         int64 // unix ms
	old, new, hostOld, hostNew state.State
	transitions                uint32 // the check's, from the snapshot
}

// problemRec is a Problem event's row, made when it arrives.
type problemRec struct {
	at                 int64 // unix ms
	kind, from, detail string
	typ, code          any
}

// batch is what the aggregator hands the SQL goroutine every commit
// interval: the configuration changes, new checks, finished rollup rows
// and the events to commit.
type batch struct {
	hosts    []Host
	checks   []chkMeta
	rows     []pend
	changes  []stateChange
	problems []problemRec
	msgs     []event.Event
	events   uint64 // len(changes)+len(problems)+len(msgs)
	// The checks of changes[i] and problems[i].
	changeChk, problemChk []*chk

	fn   func(*sqlw) error // run after everything before it is committed
	done chan error        // told when everything up to this batch is committed
	jobs []job             // Exec's and Queue's writes, each in its own transaction after the batch's
}

// job is one Exec or Queue call: fn runs in its own transaction on the
// SQL goroutine; its error (or the commit's) goes to done (may be nil).
type job struct {
	fn   func(*sql.Tx) error
	done func(error)
	// claim, if not nil, is Exec's: the writer runs fn only if it moves
	// claim from jobPending to jobStarted; Exec moves it to jobSkipped
	// when its ctx ends first, and then fn never runs and done is not
	// called.
	claim *atomic.Int32
}

// A job's claim.
const (
	jobPending int32 = iota
	jobStarted
	jobSkipped
)

func (b *batch) empty() bool {
	return len(b.hosts) == 0 && len(b.checks) == 0 && len(b.rows) == 0 && b.events == 0 && b.fn == nil && b.done == nil && len(b.jobs) == 0
}

// writer is the aggregator goroutine: it reads events, sums results into
// the rollups in memory and, every CommitInterval, hands what it gathered
// to the SQL goroutine (sqlw), which writes it. So reading events never
// waits on the database: a long minute write at a large fleet does not
// back the event queues up.
type writer struct {
	s      *Store
	sub    *event.Sub      // Consume's subscription (SubscribeBatch's); nil when none
	subRdy <-chan struct{} // sub.Ready(); nil when none
	taken  []event.Event   // the last Take, handed back to the next

	// The checks: those of the table's current generation (gen) in recs,
	// indexed by the table's check id, so a result's check is found by the
	// event's id without a lookup by name (and without a map of 100k
	// entries keyed by two strings: ~5 MB at 100k checks); the others
	// (no table, a check not in the table, or the history's checks not
	// configured any more) in byName. remap moves them when the table's
	// generation changes: a reload renumbers the checks.
	table  *state.Table // nil: every check in byName
	gen    uint64
	recs   []*chk
	byName map[ckey]*chk
	n      int // len(recs non-nil) + len(byName)
	// targets holds the configured targets of the checks queued in cur
	// (send hands them to the SQL goroutine with the rows, then drops
	// the map): chk keeps only their hash.
	targets map[*chk]string
	cur     *batch
	sq      chan *batch // to the SQL goroutine
	sqDone  chan struct{}

	swept int64 // minutes before this (unix ms) have been moved to a batch
}

func newWriter(s *Store) (*writer, *sqlw, error) {
	w := &writer{s: s, table: s.opts.Table, byName: map[ckey]*chk{}, cur: &batch{},
		sq: make(chan *batch, 1), sqDone: make(chan struct{})}
	q := &sqlw{s: s, in: w.sq, done: w.sqDone, hosts: map[string]hostRec{}}
	if err := s.w.QueryRow(`SELECT coalesce(max(id), 0) + 1 FROM hosts`).Scan(&q.nextHostID); err != nil {
		return nil, nil, err
	}
	if err := s.w.QueryRow(`SELECT coalesce(max(id), 0) + 1 FROM checks`).Scan(&q.nextCheckID); err != nil {
		return nil, nil, err
	}
	rows, err := s.w.Query(`SELECT id, name, address, labels FROM hosts`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var id int64
		var name, addr, labels string
		if err := rows.Scan(&id, &name, &addr, &labels); err != nil {
			rows.Close()
			return nil, nil, err
		}
		q.hosts[name] = hostRec{id: id, sum: hostSum(addr, labels)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = s.w.Query(`SELECT c.id, h.name, c.name, c.kind, c.target FROM checks c JOIN hosts h ON h.id = c.host_id`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c := &chk{}
		var kind, target string
		if err := rows.Scan(&c.id, &c.key.host, &c.key.check, &kind, &target); err != nil {
			return nil, nil, err
		}
		c.kind, _ = obs.ParseKind(kind)
		w.byName[c.key] = c
		c.tsum = targetSum(target)
	}
	w.n = len(w.byName)
	s.checks.Store(int64(w.n))
	if w.table != nil {
		// The configured ones to recs, byName rebuilt with the rest. Their
		// names become the table's strings, so the copies read from the
		// database are freed: only here, before the SQL goroutine (which
		// reads the keys) runs.
		w.remap(w.table.View(), true)
	}
	return w, q, rows.Err()
}

// view returns the table's current generation (nil without a table),
// remapping the records first when it changed.
func (w *writer) view() *state.View {
	if w.table == nil {
		return nil
	}
	v := w.table.View()
	if v.Gen != w.gen {
		w.remap(v, false)
	}
	return v
}

// remap indexes the records by v's check ids. Those v does not have go
// to byName, which is rebuilt (a map does not shrink when entries are
// deleted: the history's 100k checks loaded at start would stay). rekey
// replaces the records' names by the table's (equal) strings; only
// before the SQL goroutine runs, which reads them unsynchronised.
//
// A record whose check keeps its id (the usual case: registrations
// append hosts, a reload that adds or removes a few shifts only the ids
// after them) is placed by comparing its names with the check of that
// id, without a lookup by name: a new generation of 100k checks costs
// about a millisecond rather than a lookup per check.
func (w *writer) remap(v *state.View, rekey bool) {
	var rename func(*chk, *state.Check)
	if rekey {
		rename = func(c *chk, tc *state.Check) { c.key = ckey{tc.Spec().Host, tc.Spec().Name} }
	}
	w.recs, w.byName = state.Reindex(v, w.recs, w.byName,
		func(c *chk) (string, string) { return c.key.host, c.key.check },
		func(h, c string) ckey { return ckey{h, c} }, rename)
	w.gen = v.Gen
}

// of returns the record of e's check, creating it when new: by the
// event's table generation and id when they are the current ones, else
// by name.
func (w *writer) of(e *event.Event) *chk {
	if w.table != nil && e.Gen != 0 {
		if e.Gen > w.gen {
			w.view()
		}
		if e.Gen == w.gen && e.ID >= 0 && e.ID < len(w.recs) {
			if c := w.recs[e.ID]; c != nil {
				if e.Kind != obs.KindInvalid && e.Kind != c.kind {
					c.kind = e.Kind
					w.markNew(c)
				}
				return c
			}
		}
	}
	return w.check(e.Host, e.Check, e.Kind)
}

func (w *writer) run() {
	defer close(w.s.done)
	t := time.NewTicker(w.s.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case e := <-w.s.in:
			w.add(&e)
		case <-w.subRdy:
			w.drainSub()
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
			w.sync(nil)
			close(w.sq)
			<-w.sqDone
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

// drainSub takes every event waiting in the subscription.
func (w *writer) drainSub() {
	if w.sub == nil {
		return
	}
	evs, ok := w.sub.Take(w.taken)
	for i := range evs {
		w.add(&evs[i])
	}
	w.taken = evs
	if !ok {
		w.detach()
	}
}

// detach forgets the subscription.
func (w *writer) detach() {
	w.sub, w.subRdy = nil, nil
	clear(w.taken)
	w.taken = nil
}

func (w *writer) add(e *event.Event) {
	b := w.cur
	switch e.Type {
	case event.Result:
		w.result(e)
	case event.StateChange:
		b.changeChk = append(b.changeChk, w.of(e))
		c := stateChange{at: ms(e.At), old: e.Old, new: e.New, hostOld: e.HostOld, hostNew: e.HostNew}
		if e.Snap != nil {
			c.transitions = e.Snap.Transitions
		}
		b.changes = append(b.changes, c)
		b.events++
	case event.Problem:
		b.problemChk = append(b.problemChk, w.of(e))
		p := problemRec{at: ms(e.At)}
		p.kind, p.typ, p.code, p.from, p.detail = problemRow(e)
		b.problems = append(b.problems, p)
		b.events++
	case event.Message:
		b.msgs = append(b.msgs, *e)
		b.events++
	}
}

// check returns the aggregator's record of a check, creating it (to be
// inserted at the next commit) when new.
func (w *writer) check(host, name string, kind obs.Kind) *chk {
	k := ckey{host, name}
	var slot **chk // c's place in recs, if the table has it
	if v := w.view(); v != nil {
		if tc := v.LookupCheck(host, name); tc != nil {
			slot = &w.recs[tc.ID]
			k = ckey{tc.Spec().Host, tc.Spec().Name}
		}
	}
	var c *chk
	if slot != nil {
		c = *slot
	}
	if c == nil {
		if c = w.byName[k]; c != nil && slot != nil {
			// Configured since (remap rebuilds byName at the next reload).
			// c.key stays: the SQL goroutine may be reading it.
			delete(w.byName, k)
			*slot = c
		}
	}
	if c == nil {
		c = &chk{key: k, kind: kind}
		if slot != nil {
			*slot = c
		} else {
			w.byName[k] = c
		}
		w.n++
		w.s.checks.Store(int64(w.n))
		w.markNew(c)
		return c
	}
	if kind != obs.KindInvalid && kind != c.kind {
		c.kind = kind
		w.markNew(c)
	}
	return c
}

// markNew queues c's row (kind, target) for the next batch.
func (w *writer) markNew(c *chk) {
	if !c.dirty {
		c.dirty = true
		w.cur.checks = append(w.cur.checks, chkMeta{c: c})
	}
}

func minuteOf(at int64) int64 {
	m := at % 60000
	if m < 0 {
		m += 60000
	}
	return at - m
}

func (w *writer) finish(c *chk) {
	w.cur.rows = append(w.cur.rows, pend{c, c.acc, c.lastOK})
	c.acc, c.lastOK = rollAcc{}, 0
}

// result adds one observation to its check's rollup for the minute.
func (w *writer) result(e *event.Event) {
	o := e.Obs
	if o == nil || o.Outcome == obs.OutcomeInvalid {
		return
	}
	c := w.of(e)
	at := ms(e.At)
	m := minuteOf(at)
	mn := minuteNum(m)
	if c.acc.probes > 0 && c.acc.minute != mn {
		w.finish(c)
	}
	a := &c.acc
	a.minute = mn
	a.probes++
	if o.Outcome.Failed() {
		a.losses++
	} else {
		c.lastOK = max(c.lastOK, uint16(at-m)+1) // at-m < 60000
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
	w.s.results.Add(1)
	var h Health
	switch {
	case o.Health != nil:
		h = HealthFromBlob(o.Health)
	case o.HBM2 != nil:
		h = HealthFromHBM2(o.HBM2)
	default:
		return
	}
	if a.health == nil {
		a.health = new(healthAcc)
	}
	ha := a.health
	ha.n++
	ha.cpu += h.CPU
	ha.mem += h.Mem
	ha.disk += h.Disk
	ha.load += h.Load1
}

// sweep moves the rollups of minutes that ended at least RollupGrace ago
// to the batch. It walks every check once per minute.
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
	w.finishIf(func(c *chk) bool { return c.acc.probes > 0 && c.acc.minuteMS() < cutoff })
}

// finishIf moves the rollups for which due is true to the batch. They
// are counted first: the rows (64 bytes a check) in one allocation
// rather than a list grown by doubling.
func (w *writer) finishIf(due func(*chk) bool) {
	n := 0
	w.each(func(c *chk) {
		if due(c) {
			n++
		}
	})
	w.cur.rows = slices.Grow(w.cur.rows, n)
	w.each(func(c *chk) {
		if due(c) {
			w.finish(c)
		}
	})
}

// each calls fn for every record.
func (w *writer) each(fn func(*chk)) {
	for _, c := range w.recs {
		if c != nil {
			fn(c)
		}
	}
	for _, c := range w.byName {
		fn(c)
	}
}

// finishAll moves every rollup in progress to the batch (Flush, Close).
func (w *writer) finishAll() {
	w.finishIf(func(c *chk) bool { return c.acc.probes > 0 })
}

// send hands the current batch to the SQL goroutine if it is free; else
// the batch keeps growing until the next tick. A batch with done or fn
// set is always sent (blocking).
func (w *writer) send(block bool) {
	b := w.cur
	for i := range b.checks {
		m := &b.checks[i]
		m.c.dirty = false
		m.kind = m.c.kind
		if t, ok := w.targets[m.c]; ok {
			m.target = t
		}
	}
	if block {
		w.sq <- b
	} else {
		select {
		case w.sq <- b:
		default:
			for i := range b.checks { // still queued: keep them marked
				b.checks[i].c.dirty = true
			}
			return
		}
	}
	w.cur = &batch{}
	w.targets = nil
}

func (w *writer) tick() {
	w.sweep(w.s.opts.Now())
	w.send(false)
}

// sync hands everything gathered so far to the SQL goroutine, with fn to
// run after it, and waits until it is all committed.
func (w *writer) sync(fn func(*sqlw) error) error {
	w.cur.fn = fn
	done := make(chan error, 1)
	w.cur.done = done
	w.send(true)
	return <-done
}

// sqlw is the goroutine that writes the database: it commits each batch
// (configuration, new checks, events) at once and the finished rollup
// rows in commits of at most RollupBatch rows, interleaved with the next
// batches' events so those still commit within about a second.
type sqlw struct {
	s    *Store
	in   <-chan *batch
	done chan<- struct{}

	hosts       map[string]hostRec // committed rows only
	nextHostID  int64              // ids are assigned here: inserts need no RETURNING round trip
	nextCheckID int64
	rollArgs    []driver.NamedValue // insertRollups' arguments, reused
	backlog     []pend              // rollup rows not yet written, oldest first
	retry       []chkMeta           // checks whose insert failed: tried again
	waiters     []chan error        // syncs told once the backlog is written
	werr        error               // a failed commit since the waiters' syncs

	nextRetention time.Time
	retentionBusy bool // the last pass hit its batch limit: continue next time
}

func (q *sqlw) run() {
	defer close(q.done)
	for {
		var b *batch
		if len(q.backlog) == 0 {
			var ok bool
			if b, ok = <-q.in; !ok {
				return
			}
		} else {
			select {
			case nb, ok := <-q.in:
				if !ok {
					q.answer(q.commitAll())
					return
				}
				b = nb
			default:
				b = &batch{}
			}
		}
		err := q.commit(b)
		q.runJobs(b.jobs)
		if err == nil && b.fn != nil {
			err = b.fn(q)
		}
		if err != nil && len(q.waiters) > 0 {
			q.werr = err
		}
		if b.done != nil {
			if err != nil || len(q.backlog) == 0 {
				b.done <- err
			} else {
				q.waiters = append(q.waiters, b.done)
			}
		}
		if len(q.backlog) == 0 {
			q.answer(q.werr)
		}
		q.retention()
	}
}

// runJobs runs Exec's and Queue's writes, in the order they were queued,
// each in its own transaction, so that one failing does not take the
// batch's events or another job's rows with it.
func (q *sqlw) runJobs(jobs []job) {
	for _, j := range jobs {
		if j.claim != nil && !j.claim.CompareAndSwap(jobPending, jobStarted) {
			continue // Exec gave up on it before it started
		}
		err := q.runJob(j.fn)
		if j.done != nil {
			j.done(err)
		}
	}
}

func (q *sqlw) runJob(fn func(*sql.Tx) error) error {
	return sqlitedb.InTx(context.Background(), q.s.w, fn)
}

// answer tells the waiting syncs that the backlog is written.
func (q *sqlw) answer(err error) {
	for _, c := range q.waiters {
		c <- err
	}
	q.waiters = q.waiters[:0]
	q.werr = nil
}

// commitAll commits until nothing is pending (or a commit fails).
func (q *sqlw) commitAll() error {
	for len(q.backlog) > 0 {
		if err := q.commit(&batch{}); err != nil {
			return err
		}
	}
	return nil
}

// commit writes, in one transaction, b's configured hosts and checks (and
// those whose insert failed before), up to RollupBatch rollup rows of the
// backlog (b's rows joining its end) and b's state changes, problems and
// messages. On failure they are dropped (and counted): retrying forever
// would grow memory without bound while the disk is full or broken.
// Checks are retried.
func (q *sqlw) commit(b *batch) error {
	s := q.s
	if len(q.backlog) == 0 {
		q.backlog = b.rows // no copy: a minute of a large fleet is ~7 MB per 100k checks
	} else {
		q.backlog = append(q.backlog, b.rows...)
	}
	b.rows = nil
	checks := append(q.retry, b.checks...)
	q.retry = nil
	nroll := min(len(q.backlog), s.opts.RollupBatch)
	s.pending.Store(int64(len(q.backlog)))
	if b.events == 0 && nroll == 0 && len(checks) == 0 && len(b.hosts) == 0 {
		return nil
	}
	start := time.Now()
	rows := q.backlog[:nroll]
	hosts := map[string]hostRec{}
	checkIDs := make(map[*chk]int64, len(checks))
	nextHost, nextCheck := q.nextHostID, q.nextCheckID
	var results uint64
	for i := range rows {
		results += uint64(rows[i].acc.probes)
	}
	err := q.write(b, checks, rows, hosts, checkIDs)
	q.backlog = append(q.backlog[:0], q.backlog[nroll:]...)
	if len(q.backlog) == 0 && cap(q.backlog) > 1<<16 {
		q.backlog = nil // give a large fleet's minute back
	}
	s.pending.Store(int64(len(q.backlog)))
	n := b.events
	if err != nil {
		q.retry = checks
		q.nextHostID, q.nextCheckID = nextHost, nextCheck // rolled back
		s.errs.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		if s.opts.Log != nil {
			s.opts.Log.Error("store: commit failed, batch dropped", "events", n, "rollups", nroll, "err", err)
		}
		return err
	}
	for k, v := range hosts {
		q.hosts[k] = v
	}
	for c, id := range checkIDs {
		c.id = id
	}
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
	qHostInsert  = `INSERT INTO hosts (id, name, address, labels, first_seen) VALUES `
	qHostUpdate  = `UPDATE hosts SET address = ?, labels = ? WHERE id = ?`
	qCheckInsert = `INSERT INTO checks (id, host_id, name, kind, target, first_seen) VALUES `
	qCheckUpdate = `UPDATE checks SET
			kind = CASE WHEN ?1 = 'invalid' THEN kind ELSE ?1 END,
			target = CASE WHEN ?2 = '' THEN target ELSE ?2 END
		WHERE id = ?3`
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

// hostRec is a stored host: its id and a hash of its address and labels
// (so an unchanged host list costs no writes).
type hostRec struct {
	id  int64
	sum uint64
}

func hostSum(addr, labelsJSON string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(addr))
	h.Write([]byte{0})
	h.Write([]byte(labelsJSON))
	return h.Sum64()
}

// Multi-row inserts of new hosts and checks: hostCols and checkCols values
// a row, up to multiRows rows a statement.
const (
	hostCols  = 5
	checkCols = 6
	multiRows = 64
)

var multiCache sync.Map // "prefix/cols/n" → statement text

// multiInsert returns prefix followed by n rows of cols placeholders.
func multiInsert(prefix string, cols, n int) string {
	k := prefix + "/" + strconv.Itoa(cols) + "/" + strconv.Itoa(n)
	if v, ok := multiCache.Load(k); ok {
		return v.(string)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	q := prefix + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	multiCache.Store(k, q)
	return q
}

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

// insertRollups inserts rows (sorted) through dc, the writer
// connection's driver.Conn, in its transaction; id is each row's check
// id. The arguments are one slice of driver values, reused.
func (q *sqlw) insertRollups(ctx context.Context, dc any, rows []pend, id func(*chk) int64) error {
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
	}
	prepare := func(query string) (driver.StmtExecContext, func() error, error) {
		st, err := pc.PrepareContext(ctx, query)
		if err != nil {
			return nil, nil, err
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			st.Close()
			return nil, nil, fmt.Errorf("driver statement %T cannot execute with a context", st)
		}
		return ex, st.Close, nil
	}
	multi, closeMulti, err := prepare(qRollupMulti)
	if err != nil {
		return err
	}
	defer closeMulti()
	one, closeOne, err := prepare(qRollup)
	if err != nil {
		return err
	}
	defer closeOne()
	if q.rollArgs == nil {
		q.rollArgs = make([]driver.NamedValue, rollupCols*rollupMulti)
		for i := range q.rollArgs {
			q.rollArgs[i].Ordinal = i + 1
		}
	}
	args := q.rollArgs
	defer func() {
		for i := range args {
			args[i].Value = nil
		}
	}()
	for i := 0; i < len(rows); {
		n, st := rollupMulti, multi
		if len(rows)-i < rollupMulti {
			n, st = 1, one
		}
		for j := range rows[i : i+n] {
			p := &rows[i+j]
			a := &p.acc
			var rmin, rmax driver.Value
			if a.rttN > 0 {
				rmin, rmax = a.rttMin, a.rttMax
			}
			var ha healthAcc
			if a.health != nil {
				ha = *a.health
			}
			v := args[j*rollupCols : (j+1)*rollupCols]
			v[0].Value, v[1].Value, v[2].Value = id(p.c), a.minuteMS(), int64(a.probes)
			v[3].Value, v[4].Value, v[5].Value = int64(a.losses), int64(a.rttN), a.rttSum
			v[6].Value, v[7].Value, v[8].Value = rmin, rmax, lastOKms(a, p.lastOK)
			v[9].Value, v[10].Value, v[11].Value = int64(ha.n), ha.cpu, ha.mem
			v[12].Value, v[13].Value = ha.disk, ha.load
		}
		if _, err := st.ExecContext(ctx, args[:n*rollupCols]); err != nil {
			return err
		}
		i += n
	}
	return nil
}

func (q *sqlw) write(b *batch, checks []chkMeta, rows []pend, hosts map[string]hostRec, checkIDs map[*chk]int64) error {
	ctx := context.Background()
	// The transaction on a connection of our own, so the rollup rows can
	// go to the driver directly (insertRollups) within it.
	conn, err := q.s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := ms(q.s.opts.Now())
	host := func(name string) (hostRec, bool) {
		if r, ok := hosts[name]; ok {
			return r, true
		}
		r, ok := q.hosts[name]
		return r, ok
	}

	// Hosts: new ones inserted with the next id, changed ones updated,
	// unchanged ones (the usual reload) not touched.
	// New rows go out a statement of multiRows at a time as they are
	// made, from one buffer: 100k hosts at start-up would otherwise hold
	// all their arguments (~100 MB of boxed values) until the end.
	newHosts := make([]any, 0, hostCols*multiRows)
	flushHosts := func() error {
		if len(newHosts) == 0 {
			return nil
		}
		n := len(newHosts) / hostCols
		if _, err := tx.Exec(multiInsert(qHostInsert, hostCols, n), newHosts...); err != nil {
			return fmt.Errorf("hosts: %w", err)
		}
		clear(newHosts)
		newHosts = newHosts[:0]
		return nil
	}
	addHost := func(row ...any) error {
		newHosts = append(newHosts, row...)
		if len(newHosts) == cap(newHosts) {
			return flushHosts()
		}
		return nil
	}
	if len(b.hosts) > 0 {
		update, err := tx.Prepare(qHostUpdate)
		if err != nil {
			return err
		}
		for _, h := range b.hosts {
			labels := h.Labels
			if labels == nil {
				labels = map[string]string{}
			}
			lj, err := json.Marshal(labels)
			if err != nil {
				return err
			}
			sum := hostSum(h.Address, string(lj))
			r, ok := host(h.Name)
			switch {
			case !ok:
				r = hostRec{id: q.nextHostID, sum: sum}
				q.nextHostID++
				if err := addHost(r.id, h.Name, h.Address, string(lj), now); err != nil {
					return err
				}
			case r.sum != sum:
				if _, err := update.Exec(h.Address, string(lj), r.id); err != nil {
					return fmt.Errorf("host %q: %w", h.Name, err)
				}
				r.sum = sum
			default:
				continue
			}
			hosts[h.Name] = r
		}
	}
	if len(checks) > 0 {
		update, err := tx.Prepare(qCheckUpdate)
		if err != nil {
			return err
		}
		newChecks := make([]any, 0, checkCols*multiRows)
		flushChecks := func() error {
			if len(newChecks) == 0 {
				return nil
			}
			if err := flushHosts(); err != nil { // the hosts they belong to first
				return err
			}
			if _, err := tx.Exec(multiInsert(qCheckInsert, checkCols, len(newChecks)/checkCols), newChecks...); err != nil {
				return fmt.Errorf("checks: %w", err)
			}
			clear(newChecks)
			newChecks = newChecks[:0]
			return nil
		}
		for _, m := range checks {
			c := m.c
			r, ok := host(c.key.host)
			if !ok { // a host known only from its events
				r = hostRec{id: q.nextHostID, sum: hostSum("", "{}")}
				q.nextHostID++
				hosts[c.key.host] = r
				if err := addHost(r.id, c.key.host, "", "{}", now); err != nil {
					return err
				}
			}
			if _, done := checkIDs[c]; done {
				continue
			}
			if c.id != 0 {
				if _, err := update.Exec(m.kind.String(), m.target, c.id); err != nil {
					return fmt.Errorf("check %s/%s: %w", c.key.host, c.key.check, err)
				}
				continue
			}
			id := q.nextCheckID
			q.nextCheckID++
			checkIDs[c] = id
			newChecks = append(newChecks, id, r.id, c.key.check, m.kind.String(), m.target, now)
			if len(newChecks) == cap(newChecks) {
				if err := flushChecks(); err != nil {
					return err
				}
			}
		}
		if err := flushChecks(); err != nil {
			return err
		}
	}
	if err := flushHosts(); err != nil {
		return err
	}
	id := func(c *chk) int64 {
		if v, ok := checkIDs[c]; ok {
			return v
		}
		return c.id
	}

	if len(rows) > 0 {
		// In check order: the (check_id, minute) index is then walked
		// once, front to back, instead of at random.
		slices.SortFunc(rows, func(a, b pend) int {
			return cmp.Or(cmp.Compare(id(a.c), id(b.c)), cmp.Compare(a.acc.minute, b.acc.minute))
		})
		// Rows go in statements of rollupMulti rows (one statement's
		// overhead is most of a row's cost), the rest one at a time,
		// handed to the driver directly, in tx (the connection is in
		// its transaction): database/sql would make a slice of all the
		// arguments and convert each at every statement, about half of
		// what the store allocates (~56 MB a minute at 100k checks).
		if err := conn.Raw(func(dc any) error { return q.insertRollups(ctx, dc, rows, id) }); err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
	}
	if len(b.changes) > 0 {
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
		for i := range b.changes {
			e := &b.changes[i]
			cid := id(b.changeChk[i])
			at := e.at
			if _, err := ins.Exec(cid, at, e.old.String(), e.new.String(), e.hostOld.String(), e.hostNew.String()); err != nil {
				return fmt.Errorf("state change: %w", err)
			}
			n := int64(e.transitions)
			// Old == New: the host's derived state changed (a reload
			// removed or reset another check), this check did not.
			if e.old != e.new {
				if _, err := cst.Exec(e.new.String(), at, n, n, cid); err != nil {
					return fmt.Errorf("state change: %w", err)
				}
			}
			if e.hostOld != e.hostNew {
				if _, err := hst.Exec(e.hostNew.String(), at, cid); err != nil {
					return fmt.Errorf("state change: %w", err)
				}
			}
		}
	}
	if len(b.problems) > 0 {
		st, err := tx.Prepare(qProblem)
		if err != nil {
			return err
		}
		for i := range b.problems {
			p := &b.problems[i]
			cid := id(b.problemChk[i])
			if _, err := st.Exec(cid, p.at, p.kind, p.typ, p.code, p.from, p.detail); err != nil {
				return fmt.Errorf("problem: %w", err)
			}
		}
	}
	if len(b.msgs) > 0 {
		st, err := tx.Prepare(qMessage)
		if err != nil {
			return err
		}
		for i := range b.msgs {
			e := &b.msgs[i]
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

func (q *sqlw) retention() {
	o := &q.s.opts
	if o.Retention <= 0 {
		return
	}
	now := o.Now()
	if !q.retentionBusy && now.Before(q.nextRetention) {
		return
	}
	q.nextRetention = now.Add(o.RetentionEvery)
	cutoff := ms(now.Add(-o.Retention))
	busy := false
	for _, t := range retentionTables {
		del := fmt.Sprintf(`DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE %s < ? LIMIT ?)`, t.table, t.table, t.col)
		full := true
		for i := 0; i < retentionBatches && full; i++ {
			res, err := q.s.w.Exec(del, cutoff, o.DeleteBatch)
			if err != nil {
				msg := "retention: " + err.Error()
				q.s.lastErr.Store(&msg)
				q.s.errs.Add(1)
				full = false
				break
			}
			n, _ := res.RowsAffected()
			q.s.deleted.Add(uint64(n))
			full = n == int64(o.DeleteBatch)
		}
		busy = busy || full
	}
	q.retentionBusy = busy
}
