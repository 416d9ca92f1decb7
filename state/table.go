// SPDX-License-Identifier: MIT

package state

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

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
// place, plus the snapshot's pointers (record.go). 40 bytes: the spec is
// kept as its host's name and address (when the check's are the same),
// and a shape (name, kind, interval, timeout, params) shared by the
// view's checks alike; the host, the solo flag and the ring head Apply
// needs are in the record (record.go), so a result touches no Check.
type Check struct {
	ID    int
	v     *View                 // its record is v.recs[ID], its host v.hostArr[the record's link]
	shape *checkShape           // shared by the view's checks of the same shape
	alt   *checkOwn             // nil: Addr is the host's and Target its name
	x     atomic.Pointer[extra] // nil until a pointer is first set
}

// checkShape is what checks alike share: one per distinct shape a view.
type checkShape struct {
	name              string
	kind              obs.Kind
	interval, timeout time.Duration
	params            map[string]string
}

// checkOwn is a check's address and target where they are not its
// host's address and name.
type checkOwn struct {
	addr   netip.Addr
	target string
}

// extra holds a check's snapshot pointers (HBM2, Problem): rare for most
// checks, so behind one pointer, allocated once by the writer when the
// first is set and then updated in place.
type extra struct {
	hbm2    atomic.Pointer[wire.HBM2]
	problem atomic.Pointer[string]
	// status is the host's derived status, in its first check's extra,
	// for hosts with more than one check.
	status atomic.Pointer[HostStatus]
}

// Spec returns the check's spec (Host set to its host's name).
func (c *Check) Spec() obs.CheckSpec {
	h := c.Host()
	sp := obs.CheckSpec{Host: h.name, Name: c.shape.name, Kind: c.shape.kind, Addr: h.addr(), Target: h.name,
		Interval: c.shape.interval, Timeout: c.shape.timeout, Params: c.shape.params}
	if o := c.alt; o != nil {
		sp.Addr, sp.Target = o.addr, o.target
	}
	return sp
}

// Name is Spec().Name.
func (c *Check) Name() string { return c.shape.name }

// Kind is Spec().Kind.
func (c *Check) Kind() obs.Kind { return c.shape.kind }

// Addr is Spec().Addr.
func (c *Check) Addr() netip.Addr {
	if c.alt != nil {
		return c.alt.addr
	}
	return c.Host().addr()
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
func (c *Check) Host() *Host {
	return &c.v.hostArr[atomic.LoadUint64(&c.rec()[wTransitions])>>32&linkHost]
}

// rec is c's record, in its view's slab.
func (c *Check) rec() *record { return &c.v.recs[c.ID] }

// hs is c's health slot, in its view's slab.
func (c *Check) hs() *hslot { return &c.v.hslots[c.ID] }

// HostStatus is a host's derived state: Derive over its checks' states,
// when it last changed and how often it did.
type HostStatus struct {
	State       State
	Since       UnixNano // when the host entered State (0: never checked)
	Transitions uint32
}

// Host is a host of the table: its spec (Spec), its id (index in the
// view's hosts) and its checks. 64 bytes: labels and parent sit behind
// one pointer shared by hosts alike, and a host with several checks keeps
// its derived status in its first check's extra.
type Host struct {
	ID     int
	name   string
	ip     [16]byte // the address's bytes (addr), without the 24-byte netip.Addr's zone handle
	checks *Check   // the first of the host's nc checks in the view's backing, in spec order
	nc     int32
	family uint8      // of ip: 0 no address, 4, 6
	attrs  *hostAttrs // nil: no labels, no parent, no zone
}

// hostAttrs are a host's labels, parent and IPv6 zone, shared by hosts
// alike.
type hostAttrs struct {
	labels Labels
	parent string
	zone   string
}

// setAddr stores a (unmapped) in h; its zone, if any, goes in attrs.
func (h *Host) setAddr(a netip.Addr) {
	switch {
	case a.Is4():
		h.family = 4
		v4 := a.As4()
		copy(h.ip[:], v4[:])
	case a.Is6():
		h.family, h.ip = 6, a.As16()
	}
}

// addr is the host's address.
func (h *Host) addr() netip.Addr {
	switch h.family {
	case 4:
		return netip.AddrFrom4([4]byte(h.ip[:4]))
	case 6:
		a := netip.AddrFrom16(h.ip)
		if h.attrs != nil && h.attrs.zone != "" {
			a = a.WithZone(h.attrs.zone)
		}
		return a
	}
	return netip.Addr{}
}

// Spec returns the host's spec. Its Checks are nil: use NumChecks and
// Check.
func (h *Host) Spec() HostSpec {
	sp := HostSpec{Name: h.name, Addr: h.addr()}
	if a := h.attrs; a != nil {
		sp.Labels, sp.Parent = a.labels, a.parent
	}
	return sp
}

// Name is Spec().Name.
func (h *Host) Name() string { return h.name }

// Addr is Spec().Addr.
func (h *Host) Addr() netip.Addr { return h.addr() }

// Labels is Spec().Labels (shared: do not modify).
func (h *Host) Labels() Labels {
	if h.attrs == nil {
		return nil
	}
	return h.attrs.labels
}

// setStatus makes s the derived status of h, a host with more than one
// check. Writer only.
func (h *Host) setStatus(s *HostStatus) {
	x := h.checks.x.Load()
	if x == nil {
		x = new(extra)
		h.checks.x.Store(x)
	}
	x.status.Store(s)
}

// all is the host's checks.
func (h *Host) all() []Check {
	if h.nc == 0 {
		return nil
	}
	return unsafe.Slice(h.checks, h.nc)
}

// NumChecks is how many checks the host has.
func (h *Host) NumChecks() int { return int(h.nc) }

// Check returns the host's i-th check (spec order), or nil.
func (h *Host) Check(i int) *Check {
	if i < 0 || i >= int(h.nc) {
		return nil
	}
	return &h.all()[i]
}

// CheckNamed returns the host's check called name, or nil.
func (h *Host) CheckNamed(name string) *Check {
	cs := h.all()
	for i := range cs {
		if cs[i].shape.name == name {
			return &cs[i]
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
	switch h.nc {
	case 0:
		*dst = Snapshot{}
		return
	case 1:
		h.checks.load(dst)
		return
	}
	h.checks.load(dst)
	st := h.Status()
	dst.State, dst.Since, dst.Transitions = st.State, st.Since, st.Transitions
}

// Status returns the host's derived state. For a host with one check it is
// that check's state, since and transitions (nothing extra is stored).
func (h *Host) Status() HostStatus {
	switch h.nc {
	case 0:
		return HostStatus{}
	case 1:
		return h.checks.status()
	}
	if x := h.checks.x.Load(); x != nil {
		if s := x.status.Load(); s != nil {
			return *s
		}
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
	cs := h.all()
	for i := range cs {
		states = append(states, cs[i].State())
	}
	return Derive(states)
}

// View is one generation of the table: the hosts and checks of one
// configuration. A View is immutable except for the snapshot pointers;
// Reload publishes a new View and leaves the old one to its readers.
type View struct {
	Gen uint64
	// The hosts, checks and records themselves, one allocation each (the
	// records' outside the Go heap: records); the checks' backing keeps
	// the records mapped.
	hostArr  []Host
	checkArr []Check
	recs     []record
	hslots   []hslot // the checks' health slots, by id (record.go)
	byName   nameIndex
	mapped   int // bytes of the records' and health slots' slabs outside the Go heap
}

// RecordBytes is the size of the view's records held outside the Go heap
// (0 where the slab is on the heap: under the race detector, or when the
// kernel refused the mapping). The heap's figures leave it out.
func (v *View) RecordBytes() int { return v.mapped }

// Len is the number of hosts.
func (v *View) Len() int { return len(v.hostArr) }

// Host returns the host with id i, or nil.
func (v *View) Host(i int) *Host {
	if i < 0 || i >= len(v.hostArr) {
		return nil
	}
	return &v.hostArr[i]
}

// Hosts yields the hosts in id order, with their ids.
func (v *View) Hosts() iter.Seq2[int, *Host] {
	return func(yield func(int, *Host) bool) {
		for i := range v.hostArr {
			if !yield(i, &v.hostArr[i]) {
				return
			}
		}
	}
}

// NumChecks is the number of checks over all hosts.
func (v *View) NumChecks() int { return len(v.checkArr) }

// Check returns the check with id i, or nil.
func (v *View) Check(i int) *Check {
	if i < 0 || i >= len(v.checkArr) {
		return nil
	}
	return &v.checkArr[i]
}

// Checks yields every check in id order (hosts in id order, each host's
// checks in spec order), with its id.
func (v *View) Checks() iter.Seq2[int, *Check] {
	return func(yield func(int, *Check) bool) {
		for i := range v.checkArr {
			if !yield(i, &v.checkArr[i]) {
				return
			}
		}
	}
}

// Lookup returns the host named name, or nil; O(1).
func (v *View) Lookup(name string) *Host {
	if id := v.byName.find(v.hostArr, name); id >= 0 {
		return &v.hostArr[id]
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

// Specs are the hosts a table is built from, read by index (NewFrom,
// ReloadFrom), each at most twice: a caller whose hosts are in another
// form converts them one at a time instead of holding a []HostSpec of
// them all (~110 bytes a host) besides its own and the table.
type Specs interface {
	Len() int
	Spec(i int) HostSpec
}

type specSlice []HostSpec

func (s specSlice) Len() int            { return len(s) }
func (s specSlice) Spec(i int) HostSpec { return s[i] }

// New builds a table of specs, every check unknown. cfg nil means defaults.
func New(specs []HostSpec, cfg *Config) (*Table, error) {
	return NewFrom(specSlice(specs), cfg)
}

// NewFrom is New of the hosts of specs.
func NewFrom(specs Specs, cfg *Config) (*Table, error) {
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
	v := t.view.Load()
	if uint(id) >= uint(len(v.checkArr)) {
		return Change{}, fmt.Errorf("%w: %d", ErrNoCheck, id)
	}
	// The check, its host and record by id: a result reads and writes
	// its record (and the Check only for a pointer: a problem, a health
	// blob), not the Check or the Host of a one-check host.
	c, r := &v.checkArr[id], &v.recs[id]
	link := atomic.LoadUint64(&r[wTransitions]) >> 32 // written before the view was published
	h := &v.hostArr[link&linkHost]
	if o.Outcome < OK || o.Outcome > Error {
		return Change{Check: c, Host: h}, ErrOutcome
	}
	solo := link&linkSolo != 0
	// The usual result changes the header words, one ring slot and its
	// meta bytes: read and store only those (readHead, write's slot);
	// otherwise (a rebase of the ring) the whole record. The snapshot's
	// pointers are not read: write stores only those step set.
	var n Snapshot
	inPlace := recInPlace(r, NanoOf(o.At))
	if inPlace {
		readHead(r, &n)
	} else {
		n.decode(r)
	}
	var hostOld HostStatus
	if solo { // what h.Status() says, without loading h
		hostOld = HostStatus{State: n.State, Since: n.Since, Transitions: n.Transitions}
	} else {
		hostOld = h.Status()
	}
	old := n.State
	n.step(&t.cfg, &o)
	var ptrs uint8 // the pointers step set
	switch {
	case o.Outcome.Failed():
		ptrs = setProblem
	default:
		if o.HasHealth {
			ptrs |= setHealth
		}
		if o.HBM2 != nil {
			ptrs |= setHBM2
		}
	}
	slot := -1
	if inPlace {
		slot = (int(n.head) + Window - 1) % Window
	}
	write(c, r, &n, slot, ptrs)
	ch := Change{Check: c, Host: h, Old: old, New: n.State, Changed: old != n.State, At: o.At,
		HostOld: hostOld.State, HostNew: hostOld.State}
	switch {
	case solo:
		ch.HostNew = n.State
	case ch.Changed:
		if d := h.derive(); d != hostOld.State {
			h.setStatus(&HostStatus{State: d, Since: NanoOf(o.At), Transitions: hostOld.Transitions + 1})
			ch.HostNew = d
		}
	}
	ch.HostChanged = ch.HostOld != ch.HostNew
	runtime.KeepAlive(v) // v's checks keep its records mapped
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
func same(o, c *Check) bool {
	return o.Host().name == c.Host().name && o.shape.name == c.shape.name && o.shape.kind == c.shape.kind && o.Addr() == c.Addr()
}

// Reload publishes a new View built from specs. A check whose host name,
// check name, kind and address are unchanged keeps its snapshot (state,
// statistics, recent results) and takes the new spec (interval, params);
// every other check starts unknown. A host keeps its derived status when
// its derived state is unchanged; the hosts whose derived state changed
// are listed in the result (ReloadResult.Hosts). Writer only; ids may
// change, so sources must take the new ids (SetChecks).
func (t *Table) Reload(specs []HostSpec) (ReloadResult, error) {
	return t.ReloadFrom(specSlice(specs))
}

// ReloadFrom is Reload of the hosts of specs.
func (t *Table) ReloadFrom(specs Specs) (ReloadResult, error) {
	old := t.view.Load()
	v, err := build(specs, old, old.Gen+1)
	if err != nil {
		return ReloadResult{}, err
	}
	var r ReloadResult
	for _, c := range v.Checks() {
		if o := old.LookupCheck(c.Host().name, c.shape.name); o != nil && same(o, c) {
			r.Kept++
		} else {
			r.Added++
		}
	}
	for _, o := range old.Checks() {
		if c := v.LookupCheck(o.Host().name, o.shape.name); c == nil || !same(o, c) {
			r.Removed++
			r.Gone = append(r.Gone, o)
		}
	}
	for _, h := range v.Hosts() {
		o := old.Lookup(h.name)
		if o == nil || h.nc == 0 {
			continue
		}
		if was, is := o.Status().State, h.Status().State; was != is {
			r.Hosts = append(r.Hosts, HostChange{Host: h, Old: was, New: is})
		}
	}
	t.view.Store(v)
	return r, nil
}

// shapeKey is what makes two checks' shapes the same (params by
// identity: the targets parser shares a line's map).
type shapeKey struct {
	name              string
	kind              obs.Kind
	interval, timeout time.Duration
	params            unsafe.Pointer
}

// attrsKey is what makes two hosts' attributes the same (labels by
// identity: the daemon shares a label set's slice).
type attrsKey struct {
	labels       *Label
	n            int
	parent, zone string
}

// build makes a View of specs, taking snapshots from prev where a check
// continues.
func build(specs Specs, prev *View, gen uint64) (*View, error) {
	nh, n := specs.Len(), 0
	for i := range nh {
		n += len(specs.Spec(i).Checks)
	}
	if nh > linkHost {
		return nil, fmt.Errorf("state: %d hosts, at most %d", nh, linkHost)
	}
	v := &View{
		Gen: gen,
	}
	var free func()
	v.byName, free = newNameIndex(nh)
	if free != nil { // once v is unreachable: its lookups go through v
		runtime.AddCleanup(v, func(free func()) { free() }, free)
	}
	// One allocation for all hosts and one for all checks: fewer objects
	// for the GC to trace.
	v.hostArr = make([]Host, nh)
	v.checkArr = make([]Check, n)
	if n > 0 {
		var hm int
		v.recs, v.mapped = records(n, &v.checkArr[0])
		v.hslots, hm = slab[hslot](n, &v.checkArr[0])
		v.mapped += hm
	}
	shapes := map[shapeKey]*checkShape{}
	attrs := map[attrsKey]*hostAttrs{}
	id := 0
	for i := range nh {
		sp := specs.Spec(i)
		if sp.Name == "" {
			return nil, fmt.Errorf("state: host %d has no name", i)
		}
		if v.byName.find(v.hostArr[:i], sp.Name) >= 0 {
			return nil, fmt.Errorf("state: duplicate host name %q", sp.Name)
		}
		h := &v.hostArr[i]
		h.ID = i
		h.name = sp.Name
		addr := sp.Addr.Unmap()
		h.setAddr(addr)
		if len(sp.Labels) > 0 || sp.Parent != "" || addr.Zone() != "" {
			k := attrsKey{unsafe.SliceData(sp.Labels), len(sp.Labels), sp.Parent, addr.Zone()}
			if h.attrs = attrs[k]; h.attrs == nil {
				h.attrs = &hostAttrs{labels: sp.Labels, parent: sp.Parent, zone: addr.Zone()}
				attrs[k] = h.attrs
			}
		}
		cs := v.checkArr[id : id+len(sp.Checks) : id+len(sp.Checks)]
		if len(cs) > 0 {
			h.checks, h.nc = &cs[0], int32(len(cs))
		}
		for j := range sp.Checks {
			csp := &sp.Checks[j]
			if csp.Name == "" {
				return nil, fmt.Errorf("state: host %q: check %d has no name", sp.Name, j)
			}
			if csp.Kind == obs.KindInvalid || int(csp.Kind) >= obs.NumKinds {
				return nil, fmt.Errorf("state: host %q: check %q has no valid kind", sp.Name, csp.Name)
			}
			for k := range j {
				if cs[k].shape.name == csp.Name {
					return nil, fmt.Errorf("state: host %q: duplicate check %q", sp.Name, csp.Name)
				}
			}
			c := &cs[j]
			k := shapeKey{csp.Name, csp.Kind, csp.Interval, csp.Timeout, mapPointer(csp.Params)}
			if c.shape = shapes[k]; c.shape == nil {
				c.shape = &checkShape{name: csp.Name, kind: csp.Kind, interval: csp.Interval, timeout: csp.Timeout, params: csp.Params}
				shapes[k] = c.shape
			}
			if a := csp.Addr.Unmap(); a != addr || csp.Target != h.name {
				c.alt = &checkOwn{addr: a, target: csp.Target}
			}
			c.ID = id
			c.v = v
			link := uint64(i)
			if len(cs) == 1 {
				link |= linkSolo
			}
			v.recs[id][wTransitions] = link << 32
			if prev != nil {
				if o := prev.LookupCheck(sp.Name, csp.Name); o != nil && same(o, c) {
					c.copyFrom(o)
				}
			}
			id++
		}
		if h.nc > 1 {
			var ps *HostStatus
			if prev != nil {
				if o := prev.Lookup(sp.Name); o != nil {
					st := o.Status()
					ps = &st
				}
			}
			h.setStatus(derivedStatus(h, ps))
		}
		v.byName.add(v.hostArr, i)
	}
	return v, nil
}

// mapPointer is m's identity.
func mapPointer(m map[string]string) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&m))
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
	cs := h.all()
	for i := range cs {
		since = max(since, cs[i].status().Since)
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
	if h := c.Host(); h.nc > 1 {
		st := h.Status()
		h.setStatus(derivedStatus(h, &st))
	}
	return nil
}
