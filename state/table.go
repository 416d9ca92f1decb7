// SPDX-License-Identifier: MIT

package state

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// Errors returned by Apply, Restore and the constructors.
var (
	ErrNoCheck = errors.New("state: no check with that id")
	ErrOutcome = errors.New("state: observation has no outcome")
	// ErrNoHost is ErrNoCheck under its former name.
	ErrNoHost = ErrNoCheck
)

// Check is one table entry: a check's spec, its id (index in the view's
// checks) and its current state: a record in the view's slab, updated in
// place, plus the snapshot's three pointers (record.go).
type Check struct {
	ID   int
	Spec obs.CheckSpec
	host *Host
	rec  *record // in the view's slab, off the Go heap
	// The snapshot's pointer fields, replaced only when they change.
	health  atomic.Pointer[wire.Health]
	hbm2    atomic.Pointer[wire.HBM2]
	problem atomic.Pointer[string]
	// solo: the host's only check, so the host's status is this check's
	// (Apply then never touches the Host: one cache miss less a result).
	solo bool
	// head is the writer's copy of the record's ring head, in the room
	// solo leaves: Apply loads the slot it overwrites together with the
	// record's other lines instead of after the header. Writer only.
	head uint8
}

// Snapshot returns a copy of the check's current snapshot: consistent (one
// instant of the check), taken without blocking the writer.
func (c *Check) Snapshot() Snapshot {
	var s Snapshot
	c.load(&s)
	return s
}

// Load copies the check's current snapshot into dst, as Snapshot does.
func (c *Check) Load(dst *Snapshot) { c.load(dst) }

// State is the check's current state (one word read: cheaper than
// Snapshot().State).
func (c *Check) State() State { return hdrState(c.loadWord(wHdr)) }

// Host returns the host the check belongs to.
func (c *Check) Host() *Host { return c.host }

// HostStatus is a host's derived state: Derive over its checks' states,
// when it last changed and how often it did.
type HostStatus struct {
	State       State
	Since       UnixNano // when the host entered State (0: never checked)
	Transitions uint32
}

// Host is a host of the table: its spec (Spec.Checks is nil once in the
// table: use NumChecks and Check), its id (index in the view's hosts) and
// its checks.
type Host struct {
	ID     int
	Spec   HostSpec
	checks []Check                    // the view's backing, in spec order
	status atomic.Pointer[HostStatus] // hosts with more than one check only
}

// NumChecks is how many checks the host has.
func (h *Host) NumChecks() int { return len(h.checks) }

// Check returns the host's i-th check (spec order), or nil.
func (h *Host) Check(i int) *Check {
	if i < 0 || i >= len(h.checks) {
		return nil
	}
	return &h.checks[i]
}

// CheckNamed returns the host's check called name, or nil.
func (h *Host) CheckNamed(name string) *Check {
	for i := range h.checks {
		if h.checks[i].Spec.Name == name {
			return &h.checks[i]
		}
	}
	return nil
}

// Snapshot returns the host-level snapshot: the measurements (RTT, loss,
// health, recent results, problem) of the host's primary check, its first
// (for an address line of the targets, the icmp or udp check), with the
// host's derived State, Since and Transitions (Status). For a host with
// one check that is the check's own snapshot. A host without checks has
// an empty snapshot.
func (h *Host) Snapshot() Snapshot {
	var n Snapshot
	h.Load(&n)
	return n
}

// Load copies the host-level snapshot (Snapshot) into dst.
func (h *Host) Load(dst *Snapshot) {
	switch len(h.checks) {
	case 0:
		*dst = Snapshot{}
		return
	case 1:
		h.checks[0].load(dst)
		return
	}
	h.checks[0].load(dst)
	st := h.Status()
	dst.State, dst.Since, dst.Transitions = st.State, st.Since, st.Transitions
}

// Status returns the host's derived state. For a host with one check it is
// that check's state, since and transitions (nothing extra is stored).
func (h *Host) Status() HostStatus {
	switch len(h.checks) {
	case 0:
		return HostStatus{}
	case 1:
		return h.checks[0].status()
	}
	if s := h.status.Load(); s != nil {
		return *s
	}
	return HostStatus{}
}

// Derive is the rule that gives a host its state from its checks' states:
// checks still unknown (never checked) do not count; with none left the
// host is unknown; when all that are left are up the host is up, when all
// are down it is down, and any other mix (one down and one up, any
// degraded) is degraded. A host with one check has that check's state.
func Derive(states []State) State {
	var n, up, down int
	for _, s := range states {
		switch s {
		case Unknown:
			continue
		case Up:
			up++
		case Down:
			down++
		}
		n++
	}
	switch {
	case n == 0:
		return Unknown
	case up == n:
		return Up
	case down == n:
		return Down
	}
	return Degraded
}

// derive computes h's state from its checks' current snapshots.
func (h *Host) derive() State {
	var buf [8]State
	states := buf[:0]
	for i := range h.checks {
		states = append(states, h.checks[i].State())
	}
	return Derive(states)
}

// View is one generation of the table: the hosts and checks of one
// configuration. A View is immutable except for the snapshot pointers;
// Reload publishes a new View and leaves the old one to its readers.
type View struct {
	Gen    uint64
	hosts  []*Host
	checks []*Check
	byName nameIndex
	mapped int // bytes of the records' slab outside the Go heap
}

// RecordBytes is the size of the view's records held outside the Go heap
// (0 where the slab is on the heap: under the race detector, or when the
// kernel refused the mapping). The heap's figures leave it out.
func (v *View) RecordBytes() int { return v.mapped }

// Len is the number of hosts.
func (v *View) Len() int { return len(v.hosts) }

// Host returns the host with id i, or nil.
func (v *View) Host(i int) *Host {
	if i < 0 || i >= len(v.hosts) {
		return nil
	}
	return v.hosts[i]
}

// Hosts returns the hosts in id order. The slice is shared: do not modify.
func (v *View) Hosts() []*Host { return v.hosts }

// NumChecks is the number of checks over all hosts.
func (v *View) NumChecks() int { return len(v.checks) }

// Check returns the check with id i, or nil.
func (v *View) Check(i int) *Check {
	if i < 0 || i >= len(v.checks) {
		return nil
	}
	return v.checks[i]
}

// Checks returns every check in id order (hosts in id order, each host's
// checks in spec order). The slice is shared: do not modify.
func (v *View) Checks() []*Check { return v.checks }

// Lookup returns the host named name, or nil; O(1).
func (v *View) Lookup(name string) *Host {
	if id := v.byName.find(v.hosts, name); id >= 0 {
		return v.hosts[id]
	}
	return nil
}

// LookupCheck returns host's check named check, or nil.
func (v *View) LookupCheck(host, check string) *Check {
	if h := v.Lookup(host); h != nil {
		return h.CheckNamed(check)
	}
	return nil
}

// Table is the lock-free table of hosts and their checks.
//
// Concurrency: there is exactly ONE writer — the goroutine that calls
// Apply, Reload and Restore (the core's writer). Those methods must never
// run concurrently with each other or with themselves. Any number of
// readers (API, metrics, sinks) call View, Check.Snapshot, Host.Status and
// the Snapshot methods concurrently with the writer, without locks: the
// writer updates a check's record in place under a sequence lock, and a
// reader copies it out, retrying if a write overlapped, so it sees either
// the old check or the new one, never a mix (record.go). An Apply
// allocates nothing.
//
// The table knows nothing of kinds: a check of any valid obs.Kind is
// stored, stepped and derived the same way.
type Table struct {
	cfg  Config
	view atomic.Pointer[View]
}

// New builds a table of specs, every check unknown. cfg nil means defaults.
func New(specs []HostSpec, cfg *Config) (*Table, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Table{cfg: c}
	v, err := build(specs, nil, 1)
	if err != nil {
		return nil, err
	}
	t.view.Store(v)
	return t, nil
}

// Config returns the table's effective configuration.
func (t *Table) Config() Config { return t.cfg }

// View returns the current generation. Readers keep it for the duration
// of one request so ids and names stay consistent.
func (t *Table) View() *View { return t.view.Load() }

// Apply records obs for the check with id (in the current View). It
// returns the state change it caused to the check and to its host. Writer
// only.
func (t *Table) Apply(id int, o Observation) (Change, error) {
	c := t.view.Load().Check(id)
	if c == nil {
		return Change{}, fmt.Errorf("%w: %d", ErrNoCheck, id)
	}
	h := c.host
	if o.Outcome < OK || o.Outcome > Error {
		return Change{Check: c, Host: h}, ErrOutcome
	}
	// The usual result changes the header words, one ring slot and its
	// meta bytes: read and store only those (ownHead, publishHead);
	// otherwise (a rebase of the ring) the whole record.
	var n Snapshot
	inPlace := c.inPlace(NanoOf(o.At))
	if inPlace {
		c.ownHead(&n)
	} else {
		c.own(&n)
	}
	var hostOld HostStatus
	if c.solo { // what h.Status() says, without loading h
		hostOld = HostStatus{State: n.State, Since: n.Since, Transitions: n.Transitions}
	} else {
		hostOld = h.Status()
	}
	old := n.State
	n.step(&t.cfg, &o)
	if inPlace {
		c.publishHead(&n, (int(n.head)+Window-1)%Window)
	} else {
		c.publish(&n)
	}
	ch := Change{Check: c, Host: h, Old: old, New: n.State, Changed: old != n.State, At: o.At,
		HostOld: hostOld.State, HostNew: hostOld.State}
	switch {
	case c.solo:
		ch.HostNew = n.State
	case ch.Changed:
		if d := h.derive(); d != hostOld.State {
			h.status.Store(&HostStatus{State: d, Since: NanoOf(o.At), Transitions: hostOld.Transitions + 1})
			ch.HostNew = d
		}
	}
	ch.HostChanged = ch.HostOld != ch.HostNew
	return ch, nil
}

// ReloadResult says what a Reload did, counted in checks.
type ReloadResult struct {
	Added, Removed, Kept int
	Gone                 []*Check // checks that left, with their last snapshots
	// Hosts are the hosts (present before and after, with at least one
	// check) whose derived state the reload changed: a check removed,
	// added or reset changes what the rule derives from.
	Hosts []HostChange
}

// HostChange is a host's derived state before and after a reload.
type HostChange struct {
	Host     *Host // in the new View
	Old, New State
}

// same reports whether a check of the new view continues o: same host,
// name, kind and address.
func same(o *Check, sp *obs.CheckSpec) bool {
	return o.Spec.Host == sp.Host && o.Spec.Name == sp.Name && o.Spec.Kind == sp.Kind && o.Spec.Addr == sp.Addr
}

// Reload publishes a new View built from specs. A check whose host name,
// check name, kind and address are unchanged keeps its snapshot (state,
// statistics, recent results) and takes the new spec (interval, params);
// every other check starts unknown. A host keeps its derived status when
// its derived state is unchanged; the hosts whose derived state changed
// are listed in the result (ReloadResult.Hosts). Writer only; ids may
// change, so sources must take the new ids (SetChecks).
func (t *Table) Reload(specs []HostSpec) (ReloadResult, error) {
	old := t.view.Load()
	v, err := build(specs, old, old.Gen+1)
	if err != nil {
		return ReloadResult{}, err
	}
	var r ReloadResult
	for _, c := range v.checks {
		if o := old.LookupCheck(c.Spec.Host, c.Spec.Name); o != nil && same(o, &c.Spec) {
			r.Kept++
		} else {
			r.Added++
		}
	}
	for _, o := range old.checks {
		if c := v.LookupCheck(o.Spec.Host, o.Spec.Name); c == nil || !same(o, &c.Spec) {
			r.Removed++
			r.Gone = append(r.Gone, o)
		}
	}
	for _, h := range v.hosts {
		o := old.Lookup(h.Spec.Name)
		if o == nil || len(h.checks) == 0 {
			continue
		}
		if was, is := o.Status().State, h.Status().State; was != is {
			r.Hosts = append(r.Hosts, HostChange{Host: h, Old: was, New: is})
		}
	}
	t.view.Store(v)
	return r, nil
}

// build makes a View of specs, taking snapshots from prev where a check
// continues.
func build(specs []HostSpec, prev *View, gen uint64) (*View, error) {
	n := 0
	for i := range specs {
		n += len(specs[i].Checks)
	}
	v := &View{
		Gen:    gen,
		hosts:  make([]*Host, len(specs)),
		checks: make([]*Check, 0, n),
		byName: newNameIndex(len(specs)),
	}
	// One allocation for all hosts and one for all checks: fewer objects
	// for the GC to trace.
	hosts := make([]Host, len(specs))
	checks := make([]Check, n)
	var recs []record
	if n > 0 {
		recs, v.mapped = records(n, &checks[0])
	}
	for i, sp := range specs {
		if sp.Name == "" {
			return nil, fmt.Errorf("state: host %d has no name", i)
		}
		if v.byName.find(v.hosts, sp.Name) >= 0 {
			return nil, fmt.Errorf("state: duplicate host name %q", sp.Name)
		}
		h := &hosts[i]
		h.ID = i
		h.Spec = sp
		h.Spec.Addr = sp.Addr.Unmap()
		h.Spec.Checks = nil
		h.checks = checks[:len(sp.Checks):len(sp.Checks)]
		checks = checks[len(sp.Checks):]
		for j := range sp.Checks {
			c := &h.checks[j]
			c.Spec = sp.Checks[j]
			c.Spec.Host = sp.Name
			c.Spec.Addr = c.Spec.Addr.Unmap()
			if c.Spec.Name == "" {
				return nil, fmt.Errorf("state: host %q: check %d has no name", sp.Name, j)
			}
			if c.Spec.Kind == obs.KindInvalid || int(c.Spec.Kind) >= obs.NumKinds {
				return nil, fmt.Errorf("state: host %q: check %q has no valid kind", sp.Name, c.Spec.Name)
			}
			if h.CheckNamed(c.Spec.Name) != c {
				return nil, fmt.Errorf("state: host %q: duplicate check %q", sp.Name, c.Spec.Name)
			}
			c.ID = len(v.checks)
			c.host = h
			c.solo = len(sp.Checks) == 1
			c.rec = &recs[c.ID]
			if prev != nil {
				if o := prev.LookupCheck(sp.Name, c.Spec.Name); o != nil && same(o, &c.Spec) {
					c.copyFrom(o)
				}
			}
			v.checks = append(v.checks, c)
		}
		if len(h.checks) > 1 {
			var ps *HostStatus
			if prev != nil {
				if o := prev.Lookup(sp.Name); o != nil {
					st := o.Status()
					ps = &st
				}
			}
			h.status.Store(derivedStatus(h, ps))
		}
		v.hosts[i] = h
		v.byName.add(v.hosts, i)
	}
	return v, nil
}

// derivedStatus returns h's status after its checks changed without an
// observation (reload, restore): prev's when the derived state is the
// same, else a new one entered at the newest Since of its checks.
func derivedStatus(h *Host, prev *HostStatus) *HostStatus {
	d := h.derive()
	if prev != nil && prev.State == d {
		p := *prev
		return &p
	}
	var since UnixNano
	for i := range h.checks {
		since = max(since, h.checks[i].status().Since)
	}
	n := &HostStatus{State: d, Since: since}
	if prev != nil {
		n.Transitions = prev.Transitions + 1
	}
	if d == Unknown {
		n.Since = 0
	}
	return n
}

// ErrState is returned by Restore for a state it cannot put a check in.
var ErrState = errors.New("state: cannot restore that state")

// Restore puts the check with id back in state s, entered at since, with
// its transitions count: what a restart reads back from the store, so
// checks don't all begin unknown. The failure or success streak is set to
// what state s implies (degraded: one failure; down: FailuresToDown
// failures; up: SuccessesToUp successes), so the next result moves the
// check as it would have before the restart. Statistics and recent results
// start empty. The host's derived state follows. Writer only.
func (t *Table) Restore(id int, s State, since time.Time, transitions uint32) error {
	c := t.view.Load().Check(id)
	if c == nil {
		return fmt.Errorf("%w: %d", ErrNoCheck, id)
	}
	var n Snapshot
	c.own(&n)
	n.State, n.Transitions, n.Since = s, transitions, NanoOf(since)
	n.consecFail, n.consecOK = 0, 0
	switch s {
	case Up:
		n.consecOK = uint16(t.cfg.SuccessesToUp)
	case Degraded:
		n.consecFail = 1
	case Down:
		n.consecFail = uint16(t.cfg.FailuresToDown)
	default:
		return fmt.Errorf("%w: %v", ErrState, s)
	}
	c.publish(&n)
	if h := c.host; len(h.checks) > 1 {
		st := h.Status()
		h.status.Store(derivedStatus(h, &st))
	}
	return nil
}
