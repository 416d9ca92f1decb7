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
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/internal/sqlitedb"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

type ckey struct{ host, check string }

// rec is one check as the aggregator knows it, with its rollup for the
// minute in progress: 64 bytes and pointer-free, so the records of the
// table's checks live outside the Go heap (writer.recs, internal/offheap:
// not scanned, not doubled by the collector's heap goal). The check's
// names are not kept: they are the table's (by check id), or the key of
// writer.byName. Its row id is assigned here when the record is made, so
// the SQL goroutine needs nothing of the record but values copied into
// the batch.
//
// The configured target is kept only as a 32-bit hash, to tell a changed
// one (the target itself goes to the SQL goroutine with the batch; two
// targets with the same hash, one chance in 2^32 per change, would leave
// the old one in the checks row), the minute in minutes and the newest
// success as an offset in it, 16 bits.
type rec struct {
	id     int64 // checks.id; 0: no record in this slot
	acc    rollAcc
	tsum   uint32 // targetSum of the target as configured (SetChecks); 0 if not known
	lastOK uint16 // the rollup's newest success, ms after its minute + 1; 0 = none (see lastOKms)
	kind   obs.Kind
}

// named is a record of a check the table does not have (or of a store
// without a table), in writer.byName.
type named struct {
	key ckey
	rec
}

// targetSum is the hash rec keeps of a configured target (0 for none).
func targetSum(t string) uint32 {
	if t == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(t))
	return h.Sum32() | 1
}

// rollAcc sums one check's results over one minute: 48 bytes, kept per
// check and per finished row (with the newest success apart, rec.lastOK
// and pend.lastOK). The health sums, which only checks whose results
// carry a health blob have, are apart: health is 1 + their index in the
// writer's (or, in a finished row, the batch's) list, 0 for none.
type rollAcc struct {
	minute         int32 // unix minutes (minuteNum), start of the minute
	probes, losses uint32
	rttN           uint32
	rttSum         int64
	rttMin, rttMax int64 // ns; valid when rttN > 0
	health         uint32
}

// minuteMS is the start of the rollup's minute, unix ms.
func (a *rollAcc) minuteMS() int64 { return int64(a.minute) * 60000 }

// minuteNum is the minute (unix minutes) of a minute's start m (unix ms,
// from minuteOf), clamped to int32 (years -2113 to 6053).
func minuteNum(m int64) int32 {
	return int32(max(math.MinInt32, min(math.MaxInt32, m/60000)))
}

// lastOKms is the newest success of a's minute in unix ms (lastOK as
// rec.lastOK), 0 if none.
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

// pend is a finished rollup row waiting to be written (64 bytes, no
// pointers): acc.health indexes the health list of the batch (of the
// backlog, once the SQL goroutine has it).
type pend struct {
	id     int64 // checks.id
	acc    rollAcc
	lastOK uint16 // rec.lastOK
}

// chkMeta is a checks row to insert or update (an upsert by id): made
// when a check is new or its kind or target changes.
type chkMeta struct {
	id          int64
	host, check string
	kind        obs.Kind
	target      string // "" keeps the stored one
}

// stateChange is a StateChange event as the batch keeps it: what its rows
// need, without the event's observation and snapshot (which a copy of
// the event would keep alive until the commit: ~700 bytes a change while
// 100k checks come up at start-up).
type stateChange struct {
	id                         int64 // checks.id
	at                         int64 // unix ms
	old, new, hostOld, hostNew state.State
	transitions                uint32 // the check's, from the snapshot
}

// problemRec is a Problem event's row, made when it arrives.
type problemRec struct {
	id                 int64 // checks.id
	at                 int64 // unix ms
	kind, from, detail string
	typ, code          any
}

// batch is what the aggregator hands the SQL goroutine every commit
// interval: the configuration changes, new checks, finished rollup rows
// (and their health sums) and the events to commit. It holds no pointer
// to the aggregator's records.
type batch struct {
	hosts    []Host
	checks   []chkMeta
	rows     olist[pend]
	health   olist[healthAcc] // of rows
	changes  []stateChange
	problems []problemRec
	msgs     []event.Event
	events   uint64 // len(changes)+len(problems)+len(msgs)

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
	return len(b.hosts) == 0 && len(b.checks) == 0 && len(b.rows.s) == 0 && b.events == 0 && b.fn == nil && b.done == nil && len(b.jobs) == 0
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

	// The checks: those of the table's current generation (v) in recs,
	// indexed by the table's check id (outside the Go heap, names from
	// the table), so a result's check is found by the event's id without
	// a lookup by name; the others (no table, a check not in the table,
	// or the history's checks not configured any more) in byName. remap
	// moves them when the table's generation changes: a reload
	// renumbers the checks. A *rec is only held within one event's
	// handling: remap frees the slice.
	table    *state.Table // nil: every check in byName
	v        *state.View  // the generation recs is indexed by
	recs     []rec
	freeRecs func()
	byName   map[ckey]*named
	n        int   // records (recs with an id, and byName)
	nextID   int64 // the next checks.id: ids are assigned here
	// health holds the health sums of the rollups in progress that have
	// any (rollAcc.health), hfree the free places in it.
	health olist[healthAcc]
	hfree  olist[uint32]
	cur    *batch
	sq     chan *batch // to the SQL goroutine
	sqDone chan struct{}

	swept int64 // minutes before this (unix ms) have been moved to a batch
	// early holds the rows finished before their minute's sweep (a
	// check's result of the next minute came first, within the grace),
	// with their health sums (pend.acc.health indexes earlyHealth): the
	// sweep hands them over with the rest of their minute, so that the
	// SQL goroutine writes a minute's rows in key order, appending to
	// the table, rather than these first, in the order of the results,
	// and the others between them.
	early       olist[pend]
	earlyHealth olist[healthAcc]
	newest      int64 // the newest result's instant (unix ms): early rows also go once it is past their minute's grace
}

func newWriter(s *Store) (*writer, *sqlw, error) {
	w := &writer{s: s, table: s.opts.Table, byName: map[ckey]*named{}, cur: &batch{},
		sq: make(chan *batch, 1), sqDone: make(chan struct{})}
	q := &sqlw{s: s, in: w.sq, done: w.sqDone}
	if err := s.w.QueryRow(`SELECT coalesce(max(id), 0) + 1 FROM hosts`).Scan(&q.nextHostID); err != nil {
		return nil, nil, err
	}
	if err := s.w.QueryRow(`SELECT coalesce(max(id), 0) + 1 FROM checks`).Scan(&w.nextID); err != nil {
		return nil, nil, err
	}
	rows, err := s.w.Query(`SELECT id, name, address, labels FROM hosts`)
	if err != nil {
		return nil, nil, err
	}
	hosts := map[uint64]hostRec{}
	for rows.Next() {
		var id int64
		var name, addr, labels string
		if err := rows.Scan(&id, &name, &addr, &labels); err != nil {
			rows.Close()
			return nil, nil, err
		}
		hosts[hostHash(name)] = hostRec{id: id, sum: hostSum(addr, labels)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	q.hosts.merge(hosts)
	rows, err = s.w.Query(`SELECT c.id, h.name, c.name, c.kind, c.target FROM checks c JOIN hosts h ON h.id = c.host_id`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c := &named{}
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
		// The configured ones to recs (their names read from the
		// database then freed), byName rebuilt with the rest.
		w.remap(w.table.View())
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
	if v != w.v {
		w.remap(v)
	}
	return v
}

// remap indexes the records by v's check ids, in a new slice. Those v
// does not have go to byName, which is rebuilt (a map does not shrink
// when entries are deleted: the history's 100k checks loaded at start
// would stay).
//
// A record whose check keeps its id (the usual case: registrations
// append hosts, a reload that adds or removes a few shifts only the ids
// after them) is placed by comparing its names with the check of that
// id, without a lookup by name: a new generation of 100k checks costs
// about a millisecond rather than a lookup per check.
func (w *writer) remap(v *state.View) {
	old, oldRecs, oldFree := w.v, w.recs, w.freeRecs
	n := v.NumChecks()
	if old != nil && n >= len(oldRecs) && n <= cap(oldRecs) && state.KeepsIDs(old, v, len(oldRecs), func(i int) bool { return oldRecs[i].id != 0 }) {
		// Every record keeps its id (hosts appended): in place, the
		// slice's room taken (never written, so zero).
		w.recs, oldRecs, oldFree = oldRecs[:n], nil, nil
	} else {
		// Room for registrations to append in place.
		w.recs, w.freeRecs = offheap.Make[rec](n + n/16 + 16)
		w.recs = w.recs[:n]
	}
	byName := w.byName
	if len(byName) > 0 {
		w.byName = make(map[ckey]*named)
	}
	for i := range oldRecs {
		r := &oldRecs[i]
		if r.id == 0 {
			continue
		}
		sp := old.Check(i).Spec()
		if c := v.Check(i); c != nil && c.Host().Name() == sp.Host && c.Name() == sp.Name {
			w.recs[i] = *r
			continue
		}
		// Names are unique in a generation: no other record goes to
		// the place found.
		if tc := v.LookupCheck(sp.Host, sp.Name); tc != nil {
			w.recs[tc.ID] = *r
			continue
		}
		k := ckey{sp.Host, sp.Name}
		w.byName[k] = &named{key: k, rec: *r}
	}
	for k, c := range byName {
		if tc := v.LookupCheck(k.host, k.check); tc != nil {
			w.recs[tc.ID] = c.rec
			continue
		}
		w.byName[k] = c
	}
	if oldFree != nil {
		oldFree()
	}
	w.v = v
}

// of returns the record of e's check, creating it when new: by the
// event's table generation and id when they are the current ones, else
// by name.
func (w *writer) of(e *event.Event) *rec {
	if w.table != nil && e.Gen != 0 {
		if e.Gen > w.v.Gen {
			w.view()
		}
		if e.Gen == w.v.Gen && e.ID >= 0 && e.ID < len(w.recs) {
			if c := &w.recs[e.ID]; c.id != 0 {
				if e.Kind != obs.KindInvalid && e.Kind != c.kind {
					c.kind = e.Kind
					w.markNew(c, e.Host, e.Check, "")
				}
				return c
			}
		}
	}
	return w.check(e.Host, e.Check, e.Kind, "")
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
		c := stateChange{id: w.of(e).id, at: ms(e.At), old: e.Old, new: e.New, hostOld: e.HostOld, hostNew: e.HostNew}
		if e.Snap != nil {
			c.transitions = e.Snap.Transitions
		}
		b.changes = append(b.changes, c)
		b.events++
	case event.Problem:
		p := problemRec{id: w.of(e).id, at: ms(e.At)}
		p.kind, p.typ, p.code, p.from, p.detail = problemRow(e)
		b.problems = append(b.problems, p)
		b.events++
	case event.Message:
		b.msgs = append(b.msgs, *e)
		b.events++
	}
}

// check returns the aggregator's record of a check, creating it (to be
// inserted at the next commit) when new. target, if not "", is the
// check's configured target: a changed one is queued for its row.
func (w *writer) check(host, name string, kind obs.Kind, target string) *rec {
	var slot *rec // the check's place in recs, if the table has it
	if v := w.view(); v != nil {
		if tc := v.LookupCheck(host, name); tc != nil {
			slot = &w.recs[tc.ID]
			host, name = tc.Host().Name(), tc.Name()
		}
	}
	k := ckey{host, name}
	var c *rec
	switch {
	case slot != nil && slot.id != 0:
		c = slot
	case slot != nil:
		if nc := w.byName[k]; nc != nil {
			// Configured since (remap rebuilds byName at the next reload).
			*slot = nc.rec
			delete(w.byName, k)
			c = slot
		}
	default:
		if nc := w.byName[k]; nc != nil {
			c = &nc.rec
		}
	}
	if c == nil {
		if slot != nil {
			c = slot
		} else {
			nc := &named{key: k}
			w.byName[k] = nc
			c = &nc.rec
		}
		*c = rec{id: w.nextID, kind: kind, tsum: targetSum(target)}
		w.nextID++
		w.n++
		w.s.checks.Store(int64(w.n))
		w.markNew(c, host, name, target)
		return c
	}
	changed := false
	if kind != obs.KindInvalid && kind != c.kind {
		c.kind = kind
		changed = true
	}
	if target != "" && c.tsum != targetSum(target) {
		c.tsum = targetSum(target)
		changed = true
	} else {
		target = ""
	}
	if changed {
		w.markNew(c, host, name, target)
	}
	return c
}

// markNew queues c's row (kind, and target unless "") for the next batch.
func (w *writer) markNew(c *rec, host, name, target string) {
	w.cur.checks = append(w.cur.checks, chkMeta{id: c.id, host: host, check: name, kind: c.kind, target: target})
}

func minuteOf(at int64) int64 {
	m := at % 60000
	if m < 0 {
		m += 60000
	}
	return at - m
}

// finish moves c's rollup to the batch (finishIf has made room for a
// sweep's rows: the list grows by doubling only for late rows).
func (w *writer) finish(c *rec) {
	b := w.cur
	p := pend{c.id, c.acc, c.lastOK}
	if h := c.acc.health; h != 0 {
		b.health.add(w.health.s[h-1])
		p.acc.health = uint32(len(b.health.s))
		w.hfree.add(h - 1)
	}
	b.rows.add(p)
	c.acc, c.lastOK = rollAcc{}, 0
}

// finishEarly moves c's rollup, of a minute not swept yet, to w.early
// (to the batch if its minute was swept: a late result's row).
func (w *writer) finishEarly(c *rec) {
	if c.acc.minuteMS() < w.swept {
		w.finish(c)
		return
	}
	p := pend{c.id, c.acc, c.lastOK}
	if h := c.acc.health; h != 0 {
		w.earlyHealth.add(w.health.s[h-1])
		p.acc.health = uint32(len(w.earlyHealth.s))
		w.hfree.add(h - 1)
	}
	w.early.add(p)
	c.acc, c.lastOK = rollAcc{}, 0
}

// handEarly moves the rows of w.early of minutes before cutoff (unix ms)
// to the batch, with their health sums.
func (w *writer) handEarly(cutoff int64) {
	if len(w.early.s) == 0 {
		return
	}
	b := w.cur
	n, nh := w.earlyDue(cutoff)
	if n == 0 {
		return
	}
	b.rows.reserve(n)
	b.health.reserve(nh)
	keep := w.early.s[:0]
	for _, p := range w.early.s {
		if p.acc.minuteMS() >= cutoff {
			keep = append(keep, p) // health indexes stay: earlyHealth is only cleared when empty
			continue
		}
		if h := p.acc.health; h != 0 {
			b.health.add(w.earlyHealth.s[h-1])
			p.acc.health = uint32(len(b.health.s))
		}
		b.rows.add(p)
	}
	w.early.s = keep
	if len(keep) == 0 {
		// Given back: early rows are a fifth of a minute's at most, and
		// only around the minute's end.
		w.early.release()
		w.earlyHealth.release()
	}
}

// earlyDue counts the rows of w.early of minutes before cutoff (unix
// ms), and those of them with health sums.
func (w *writer) earlyDue(cutoff int64) (n, nh int) {
	for i := range w.early.s {
		if p := &w.early.s[i]; p.acc.minuteMS() < cutoff {
			n++
			if p.acc.health != 0 {
				nh++
			}
		}
	}
	return n, nh
}

// healthOf returns the health sums of c's rollup, made if it has none.
func (w *writer) healthOf(c *rec) *healthAcc {
	if c.acc.health == 0 {
		if n := len(w.hfree.s); n > 0 {
			c.acc.health = w.hfree.s[n-1] + 1
			w.hfree.s = w.hfree.s[:n-1]
			w.health.s[c.acc.health-1] = healthAcc{}
		} else {
			w.health.add(healthAcc{})
			c.acc.health = uint32(len(w.health.s))
		}
	}
	return &w.health.s[c.acc.health-1]
}

// result adds one observation to its check's rollup for the minute.
func (w *writer) result(e *event.Event) {
	o := e.Obs
	if o == nil || o.Outcome == obs.OutcomeInvalid {
		return
	}
	c := w.of(e)
	at := ms(e.At)
	w.newest = max(w.newest, at)
	m := minuteOf(at)
	mn := minuteNum(m)
	if c.acc.probes > 0 && c.acc.minute != mn {
		w.finishEarly(c)
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
	case o.HasHealth:
		h = HealthFromBlob(&o.Health)
	case o.HBM2 != nil:
		h = HealthFromHBM2(o.HBM2)
	default:
		return
	}
	ha := w.healthOf(c)
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
	w.finishIf(func(c *rec) bool { return c.acc.probes > 0 && c.acc.minuteMS() < cutoff }, cutoff)
}

// finishIf moves the rollups for which due is true to the batch, then
// the early rows of minutes before cutoff (handEarly). They are counted
// first: the rows (64 bytes a check) and their health sums each in one
// place (outside the Go heap when large: olist) made for all of them,
// rather than a list grown by doubling, which copies it (at 100k checks
// the old and the new place, ~20 MB, mapped at once).
func (w *writer) finishIf(due func(*rec) bool, cutoff int64) {
	n, nh := w.earlyDue(cutoff)
	w.each(func(c *rec) {
		if due(c) {
			n++
			if c.acc.health != 0 {
				nh++
			}
		}
	})
	if n == 0 {
		return
	}
	b := w.cur
	b.rows.reserve(n)
	b.health.reserve(nh)
	w.each(func(c *rec) {
		if due(c) {
			w.finish(c)
		}
	})
	w.handEarly(cutoff)
}

// each calls fn for every record.
func (w *writer) each(fn func(*rec)) {
	for i := range w.recs {
		if c := &w.recs[i]; c.id != 0 {
			fn(c)
		}
	}
	for _, c := range w.byName {
		fn(&c.rec)
	}
}

// finishAll moves every rollup in progress to the batch (Flush, Close).
func (w *writer) finishAll() {
	w.finishIf(func(c *rec) bool { return c.acc.probes > 0 }, math.MaxInt64)
}

// send hands the current batch to the SQL goroutine if it is free; else
// the batch keeps growing until the next tick. A batch with done or fn
// set is always sent (blocking).
func (w *writer) send(block bool) {
	b := w.cur
	if block {
		w.sq <- b
	} else {
		select {
		case w.sq <- b:
		default:
			return
		}
	}
	w.cur = &batch{}
}

func (w *writer) tick() {
	w.sweep(w.s.opts.Now())
	// By the results' clock too, when it runs ahead of Now's.
	w.handEarly(minuteOf(w.newest - w.s.opts.RollupGrace.Milliseconds()))
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

	hosts      hostIndex // committed rows only
	nextHostID int64     // ids are assigned here: inserts need no RETURNING round trip
	raw        rawStmts  // the hot statements, prepared once
	cells      *cells    // the rollup statements' argument values (made at the first write)
	// backlog is the rollup rows not yet written, oldest first, with
	// their health sums (pend.acc.health indexes bhealth).
	backlog olist[pend]
	bhealth olist[healthAcc]
	retry   []chkMeta    // checks whose upsert failed: tried again
	sorted  bool         // backlog is in sortRows' order
	waiters []chan error // syncs told once the backlog is written
	werr    error        // a failed commit since the waiters' syncs

	nextRetention time.Time
	retentionBusy bool // the last pass hit its batch limit: continue next time
}

func (q *sqlw) run() {
	defer close(q.done)
	defer q.closeRaw()
	for {
		var b *batch
		if len(q.backlog.s) == 0 {
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
			if err != nil || len(q.backlog.s) == 0 {
				b.done <- err
			} else {
				q.waiters = append(q.waiters, b.done)
			}
		}
		if len(q.backlog.s) == 0 {
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
	for len(q.backlog.s) > 0 {
		if err := q.commit(&batch{}); err != nil {
			return err
		}
	}
	return nil
}

// takeRows adds b's rollup rows (and their health sums) to the backlog.
func (q *sqlw) takeRows(b *batch) {
	switch {
	case len(b.rows.s) == 0:
	case len(q.backlog.s) == 0:
		// No copy: a minute of a large fleet is ~6 MB per 100k checks.
		q.backlog.take(&b.rows)
		q.bhealth.take(&b.health)
		q.sorted = false
	default:
		off := uint32(len(q.bhealth.s))
		q.bhealth.reserve(len(b.health.s))
		q.bhealth.s = append(q.bhealth.s, b.health.s...)
		n := len(q.backlog.s)
		q.backlog.reserve(len(b.rows.s))
		q.backlog.s = append(q.backlog.s, b.rows.s...)
		for i := n; i < len(q.backlog.s); i++ {
			if q.backlog.s[i].acc.health != 0 {
				q.backlog.s[i].acc.health += off
			}
		}
		q.sorted = false
	}
	b.rows.release()
	b.health.release()
}

// sortRows puts rollup rows in key order, minute then check: a minute's
// rows are then appended at the end of the table, front to back. Those
// without health sums first (insertRollups).
func sortRows(rows []pend) {
	slices.SortFunc(rows, func(a, b pend) int {
		return cmp.Or(cmp.Compare(min(a.acc.health, 1), min(b.acc.health, 1)),
			cmp.Compare(a.acc.minute, b.acc.minute), cmp.Compare(a.id, b.id))
	})
}

// commit writes, in one transaction, b's configured hosts and checks (and
// those whose upsert failed before), up to RollupBatch rollup rows of the
// backlog (b's rows joining its end) and b's state changes, problems and
// messages. On failure they are dropped (and counted): retrying forever
// would grow memory without bound while the disk is full or broken.
// Checks are retried.
func (q *sqlw) commit(b *batch) error {
	s := q.s
	q.takeRows(b)
	checks := append(q.retry, b.checks...)
	q.retry = nil
	if !q.sorted {
		sortRows(q.backlog.s)
		q.sorted = true
	}
	nroll := min(len(q.backlog.s), s.opts.RollupBatch)
	s.pending.Store(int64(len(q.backlog.s)))
	if b.events == 0 && nroll == 0 && len(checks) == 0 && len(b.hosts) == 0 {
		return nil
	}
	start := time.Now()
	rows := q.backlog.s[:nroll]
	hosts := map[uint64]hostRec{}
	nextHost := q.nextHostID
	var results uint64
	for i := range rows {
		results += uint64(rows[i].acc.probes)
	}
	err := q.write(b, checks, rows, hosts)
	q.backlog.s = append(q.backlog.s[:0], q.backlog.s[nroll:]...)
	if len(q.backlog.s) == 0 { // give a large fleet's minute back
		q.backlog.release()
		q.bhealth.release()
	}
	s.pending.Store(int64(len(q.backlog.s)))
	n := b.events
	if err != nil {
		q.retry = checks
		q.nextHostID = nextHost // rolled back
		s.errs.Add(1)
		msg := err.Error()
		s.lastErr.Store(&msg)
		if s.opts.Log != nil {
			s.opts.Log.Error("store: commit failed, batch dropped", "events", n, "rollups", nroll, "err", err)
		}
		return err
	}
	q.hosts.merge(hosts)
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
	qHostInsert = `INSERT INTO hosts (id, name, address, labels, first_seen) VALUES `
	qHostUpdate = `UPDATE hosts SET address = ?, labels = ? WHERE id = ?`
	// Checks are inserted or updated by id (assigned by the aggregator):
	// an update keeps the kind when it is 'invalid' and the target when
	// it is ''.
	qCheckInsert = `INSERT INTO checks (id, host_id, name, kind, target, first_seen) VALUES `
	qCheckUpsert = `
		ON CONFLICT (id) DO UPDATE SET
			kind = CASE WHEN excluded.kind = 'invalid' THEN kind ELSE excluded.kind END,
			target = CASE WHEN excluded.target = '' THEN target ELSE excluded.target END`
	qRollupInsert = `INSERT INTO rollups (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok,
			health_n, cpu_sum, mem_sum, disk_sum, load_sum) VALUES `
	qRollupRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// Rows without health sums (an ICMP fleet's) leave those columns to
	// their defaults (0): 9 values a row to bind rather than 14.
	qRollupInsertBasic = `INSERT INTO rollups (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok) VALUES `
	qRollupRowBasic    = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qRollupUpsert      = `
		ON CONFLICT (minute, check_id) DO UPDATE SET
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
	// The states are bound as numbers (state.State) and named here
	// (stateName): a string bound costs the driver allocations a value.
	qChange = `INSERT INTO state_changes (check_id, at, from_state, to_state, host_from, host_to)
		VALUES (?, ?, ` + stateName + `, ` + stateName + `, ` + stateName + `, ` + stateName + `)`
	qCheckState = `UPDATE checks SET state = ` + stateName + `, state_since = ?,
		transitions = CASE WHEN ? > 0 THEN ? ELSE transitions + 1 END WHERE id = ?`
	qHostState = `UPDATE hosts SET state = ` + stateName + `, state_since = ?, transitions = transitions + 1
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

var hostSeed = maphash.MakeSeed()

// hostHash is the 64-bit hash a host is known by in hostIndex (two
// names with the same hash would share the first one's row: about
// n²/2⁶⁵, one chance in 3·10⁷ at a million hosts, one in 4·10⁹ at
// 100k; the seed changes at every start).
func hostHash(name string) uint64 { return maphash.String(hostSeed, name) }

// hostEnt is one stored host in hostIndex.
type hostEnt struct {
	hash uint64
	hostRec
}

// hostIndex is the stored hosts by hostHash of their names: a sorted
// slice outside the Go heap (24 bytes a host), instead of a map keyed
// by the names (~40 bytes a host and the names, on the heap).
type hostIndex struct {
	ents []hostEnt
	free func()
}

func (x *hostIndex) find(h uint64) (int, bool) {
	return slices.BinarySearchFunc(x.ents, h, func(e hostEnt, h uint64) int { return cmp.Compare(e.hash, h) })
}

// get returns the stored host of that name.
func (x *hostIndex) get(name string) (hostRec, bool) {
	if i, ok := x.find(hostHash(name)); ok {
		return x.ents[i].hostRec, true
	}
	return hostRec{}, false
}

// merge records committed hosts (by hostHash): changed ones in place,
// new ones merged into a new slice.
func (x *hostIndex) merge(m map[uint64]hostRec) {
	var add []hostEnt
	for h, r := range m {
		if i, ok := x.find(h); ok {
			x.ents[i].hostRec = r
		} else {
			add = append(add, hostEnt{h, r})
		}
	}
	if len(add) == 0 {
		return
	}
	slices.SortFunc(add, func(a, b hostEnt) int { return cmp.Compare(a.hash, b.hash) })
	ne, free := offheap.Make[hostEnt](len(x.ents) + len(add))
	i, j := 0, 0
	for k := range ne {
		if j == len(add) || i < len(x.ents) && x.ents[i].hash < add[j].hash {
			ne[k] = x.ents[i]
			i++
		} else {
			ne[k] = add[j]
			j++
		}
	}
	if x.free != nil {
		x.free()
	}
	x.ents, x.free = ne, free
}

// Multi-row inserts of new hosts and checks: hostCols and checkCols values
// a row, up to multiRows rows a statement.
const (
	hostCols  = 5
	checkCols = 6
	multiRows = 64
)

var multiCache sync.Map // "prefix/cols/n" → statement text

// multiInsert returns prefix followed by n rows of cols placeholders,
// then suffix.
func multiInsert(prefix string, cols, n int, suffix string) string {
	k := prefix + "/" + strconv.Itoa(cols) + "/" + strconv.Itoa(n) + "/" + suffix
	if v, ok := multiCache.Load(k); ok {
		return v.(string)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	q := prefix + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + suffix
	multiCache.Store(k, q)
	return q
}

// rollupCols is the number of values in one rollup row (rollupBasic
// without health sums); rollupMulti the rows per multi-row statement
// (14 × 64 = 896 variables, under SQLite's limit of 32,766).
const (
	rollupCols  = 14
	rollupBasic = 9
	rollupMulti = 64
)

var (
	qRollup           = qRollupInsert + qRollupRow + qRollupUpsert
	qRollupMulti      = qRollupInsert + strings.Repeat(qRollupRow+",", rollupMulti-1) + qRollupRow + qRollupUpsert
	qRollupBasic      = qRollupInsertBasic + qRollupRowBasic + qRollupUpsert
	qRollupBasicMulti = qRollupInsertBasic + strings.Repeat(qRollupRowBasic+",", rollupMulti-1) + qRollupRowBasic + qRollupUpsert
)

// rawStmts are the writer connection's statements on the hot paths
// (rollups, state changes, problems), prepared once and handed to the
// driver directly with one reused argument slice: database/sql would
// make a slice of the arguments and convert each at every statement.
// They belong to the driver connection dc; another one (database/sql
// replaced a broken connection) prepares them again.
type rawStmts struct {
	dc    any
	stmts map[string]driver.Stmt
	args  []driver.NamedValue
}

// stmt returns query prepared on dc.
func (q *sqlw) stmt(ctx context.Context, dc any, query string) (driver.StmtExecContext, error) {
	r := &q.raw
	if r.dc != dc {
		r.dc, r.stmts = dc, map[string]driver.Stmt{} // the old connection's went with it
	}
	st, ok := r.stmts[query]
	if !ok {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return nil, fmt.Errorf("driver connection %T cannot prepare with a context", dc)
		}
		var err error
		if st, err = pc.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		r.stmts[query] = st
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return nil, fmt.Errorf("driver statement %T cannot execute with a context", st)
	}
	return ex, nil
}

// args returns the reused argument slice with room for n values.
func (q *sqlw) args(n int) []driver.NamedValue {
	r := &q.raw
	if len(r.args) < n {
		r.args = make([]driver.NamedValue, max(n, rollupCols*rollupMulti))
		for i := range r.args {
			r.args[i].Ordinal = i + 1
		}
	}
	return r.args[:n]
}

// execRaw runs query on dc with vals (at most 16).
func (q *sqlw) execRaw(ctx context.Context, dc any, query string, vals ...driver.Value) error {
	st, err := q.stmt(ctx, dc, query)
	if err != nil {
		return err
	}
	args := q.args(len(vals))
	for i, v := range vals {
		args[i].Value = v
	}
	_, err = st.ExecContext(ctx, args)
	clearArgs(args)
	return err
}

func clearArgs(args []driver.NamedValue) {
	for i := range args {
		args[i].Value = nil
	}
}

// closeRaw closes the prepared statements (the connection cannot close
// with statements open).
func (q *sqlw) closeRaw() {
	if len(q.raw.stmts) == 0 {
		return
	}
	conn, err := q.s.w.Conn(context.Background())
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		if dc == q.raw.dc {
			for _, st := range q.raw.stmts {
				st.Close()
			}
		}
		return nil
	})
	q.raw = rawStmts{}
}

// stateName is the SQL expression of the name of a state bound as its
// number (state.State.String).
const stateName = `CASE ? WHEN 0 THEN 'unknown' WHEN 1 THEN 'up' WHEN 2 THEN 'degraded' WHEN 3 THEN 'down' ELSE 'invalid' END`

// stateVal is s as stateName's value.
func stateVal(s state.State) driver.Value { return int64(s) }

// insertRollups inserts rows (sorted: those without health sums first)
// through dc, the writer connection's driver.Conn, in its transaction.
func (q *sqlw) insertRollups(ctx context.Context, dc any, rows []pend) error {
	nb := 0 // rows without health sums
	for nb < len(rows) && rows[nb].acc.health == 0 {
		nb++
	}
	if err := q.insertRows(ctx, dc, rows[:nb], false); err != nil {
		return err
	}
	return q.insertRows(ctx, dc, rows[nb:], true)
}

// insertRows inserts rows, with their health sums or all without.
func (q *sqlw) insertRows(ctx context.Context, dc any, rows []pend, health bool) error {
	if len(rows) == 0 {
		return nil
	}
	qm, q1, cols := qRollupBasicMulti, qRollupBasic, rollupBasic
	if health {
		qm, q1, cols = qRollupMulti, qRollup, rollupCols
	}
	multi, err := q.stmt(ctx, dc, qm)
	if err != nil {
		return err
	}
	one, err := q.stmt(ctx, dc, q1)
	if err != nil {
		return err
	}
	args := q.args(cols * rollupMulti)
	defer clearArgs(args)
	if q.cells == nil {
		q.cells = newCells(rollupCols * rollupMulti)
	}
	c := q.cells
	for i := 0; i < len(rows); {
		n, st := rollupMulti, multi
		if len(rows)-i < rollupMulti {
			n, st = 1, one
		}
		for j := range rows[i : i+n] {
			p := &rows[i+j]
			a := &p.acc
			k := j * cols
			v := args[k : k+cols]
			v[0].Value, v[1].Value, v[2].Value = c.int(k, p.id), c.int(k+1, a.minuteMS()), c.int(k+2, int64(a.probes))
			v[3].Value, v[4].Value, v[5].Value = c.int(k+3, int64(a.losses)), c.int(k+4, int64(a.rttN)), c.int(k+5, a.rttSum)
			v[6].Value, v[7].Value = nil, nil
			if a.rttN > 0 {
				v[6].Value, v[7].Value = c.int(k+6, a.rttMin), c.int(k+7, a.rttMax)
			}
			v[8].Value = c.int(k+8, lastOKms(a, p.lastOK))
			if health {
				ha := &q.bhealth.s[a.health-1]
				v[9].Value, v[10].Value, v[11].Value = c.int(k+9, int64(ha.n)), c.float(k+10, ha.cpu), c.float(k+11, ha.mem)
				v[12].Value, v[13].Value = c.float(k+12, ha.disk), c.float(k+13, ha.load)
			}
		}
		if _, err := st.ExecContext(ctx, args[:n*cols]); err != nil {
			return err
		}
		i += n
	}
	return nil
}

func (q *sqlw) write(b *batch, checks []chkMeta, rows []pend, hosts map[uint64]hostRec) error {
	ctx := context.Background()
	// The transaction on a connection of our own, so the hot statements
	// can go to the driver directly (rawStmts) within it.
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
		if r, ok := hosts[hostHash(name)]; ok {
			return r, true
		}
		return q.hosts.get(name)
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
		if _, err := tx.Exec(multiInsert(qHostInsert, hostCols, n, ""), newHosts...); err != nil {
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
			hosts[hostHash(h.Name)] = r
		}
	}
	if len(checks) > 0 {
		newChecks := make([]any, 0, checkCols*multiRows)
		flushChecks := func() error {
			if len(newChecks) == 0 {
				return nil
			}
			if err := flushHosts(); err != nil { // the hosts they belong to first
				return err
			}
			if _, err := tx.Exec(multiInsert(qCheckInsert, checkCols, len(newChecks)/checkCols, qCheckUpsert), newChecks...); err != nil {
				return fmt.Errorf("checks: %w", err)
			}
			clear(newChecks)
			newChecks = newChecks[:0]
			return nil
		}
		for _, m := range checks {
			r, ok := host(m.host)
			if !ok { // a host known only from its events
				r = hostRec{id: q.nextHostID, sum: hostSum("", "{}")}
				q.nextHostID++
				hosts[hostHash(m.host)] = r
				if err := addHost(r.id, m.host, "", "{}", now); err != nil {
					return err
				}
			}
			newChecks = append(newChecks, m.id, r.id, m.check, m.kind.String(), m.target, now)
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

	if len(rows) == 0 && len(b.changes) == 0 && len(b.problems) == 0 && len(b.msgs) == 0 {
		return tx.Commit()
	}
	// The rest through the driver directly, in tx (the connection is in
	// its transaction).
	err = conn.Raw(func(dc any) error {
		if len(rows) > 0 {
			// Rows go in statements of rollupMulti rows (one statement's
			// overhead is most of a row's cost), the rest one at a time.
			if err := q.insertRollups(ctx, dc, rows); err != nil {
				return fmt.Errorf("rollup: %w", err)
			}
		}
		for i := range b.changes {
			e := &b.changes[i]
			if err := q.execRaw(ctx, dc, qChange, e.id, e.at, stateVal(e.old), stateVal(e.new), stateVal(e.hostOld), stateVal(e.hostNew)); err != nil {
				return fmt.Errorf("state change: %w", err)
			}
			n := int64(e.transitions)
			// Old == New: the host's derived state changed (a reload
			// removed or reset another check), this check did not.
			if e.old != e.new {
				if err := q.execRaw(ctx, dc, qCheckState, stateVal(e.new), e.at, n, n, e.id); err != nil {
					return fmt.Errorf("state change: %w", err)
				}
			}
			if e.hostOld != e.hostNew {
				if err := q.execRaw(ctx, dc, qHostState, stateVal(e.hostNew), e.at, e.id); err != nil {
					return fmt.Errorf("state change: %w", err)
				}
			}
		}
		for i := range b.problems {
			p := &b.problems[i]
			if err := q.execRaw(ctx, dc, qProblem, p.id, p.at, p.kind, p.typ, p.code, p.from, p.detail); err != nil {
				return fmt.Errorf("problem: %w", err)
			}
		}
		for i := range b.msgs {
			e := &b.msgs[i]
			if err := q.execRaw(ctx, dc, qMessage, ms(e.At), e.Host, e.Check, e.Source, e.Level.String(), e.Text); err != nil {
				return fmt.Errorf("message: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
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

var retentionTables = [...]struct{ table, col, key string }{
	{"rollups", "minute", "minute, check_id"}, // WITHOUT ROWID: its primary key
	{"state_changes", "at", "rowid"},
	{"problems", "at", "rowid"},
	{"events", "at", "rowid"},
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
		del := fmt.Sprintf(`DELETE FROM %s WHERE (%s) IN (SELECT %s FROM %s WHERE %s < ? LIMIT ?)`, t.table, t.key, t.key, t.table, t.col)
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
