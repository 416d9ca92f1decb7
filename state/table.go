package state

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
)

// Errors returned by Apply and the constructors.
var (
	ErrNoHost  = errors.New("state: no host with that id")
	ErrOutcome = errors.New("state: observation has no outcome")
)

// Host is one table entry: its spec, its id (index in the view) and the
// pointer to its current snapshot.
type Host struct {
	ID   int
	Spec HostSpec
	snap atomic.Pointer[Snapshot]
}

// Snapshot returns the host's current snapshot. It never returns nil and
// never blocks.
func (h *Host) Snapshot() *Snapshot { return h.snap.Load() }

// View is one generation of the table: the hosts of one configuration.
// A View is immutable except for each host's snapshot pointer; Reload
// publishes a new View and leaves the old one to its readers.
type View struct {
	Gen    uint64
	hosts  []*Host
	byName map[string]*Host
	byAddr map[netip.Addr]*Host
}

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

// Lookup returns the host named name, or nil; O(1).
func (v *View) Lookup(name string) *Host { return v.byName[name] }

// LookupAddr returns the first host (lowest id) probing addr, or nil.
func (v *View) LookupAddr(a netip.Addr) *Host { return v.byAddr[a.Unmap()] }

// Table is the lock-free host table.
//
// Concurrency: there is exactly ONE writer — the goroutine that calls
// Apply and Reload (the daemon's result loop). Those two methods must never
// run concurrently with each other or with themselves. Any number of
// readers (API, metrics, store) call View, Host.Snapshot and the Snapshot
// methods concurrently with the writer, without locks: every snapshot is
// immutable once published, and the writer replaces it with one atomic
// pointer store, so a reader sees either the old host or the new one,
// never a mix.
type Table struct {
	cfg  Config
	view atomic.Pointer[View]
}

// New builds a table of specs, every host unknown. cfg nil means defaults.
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

// Apply records obs for the host with id (in the current View). It returns
// the state change it caused. Writer only.
func (t *Table) Apply(id int, obs Observation) (Change, error) {
	h := t.view.Load().Host(id)
	if h == nil {
		return Change{}, fmt.Errorf("%w: %d", ErrNoHost, id)
	}
	if obs.Outcome < OK || obs.Outcome > Error {
		return Change{Host: h}, ErrOutcome
	}
	old := h.snap.Load()
	n := old.next(&t.cfg, &obs)
	h.snap.Store(n)
	return Change{Host: h, Old: old.State, New: n.State, Changed: old.State != n.State, At: obs.At}, nil
}

// ReloadResult says what a Reload did.
type ReloadResult struct {
	Added, Removed, Kept int
	Gone                 []*Host // hosts that left, with their last snapshots
}

// Reload publishes a new View built from specs. A host whose name and
// address are both unchanged keeps its snapshot (state, statistics, recent
// results) and takes the new labels; every other host starts unknown.
// Writer only; ids may change, so the writer must re-resolve them.
func (t *Table) Reload(specs []HostSpec) (ReloadResult, error) {
	old := t.view.Load()
	v, err := build(specs, old, old.Gen+1)
	if err != nil {
		return ReloadResult{}, err
	}
	var r ReloadResult
	for _, h := range v.hosts {
		if o := old.byName[h.Spec.Name]; o != nil && o.Spec.Addr == h.Spec.Addr {
			r.Kept++
		} else {
			r.Added++
		}
	}
	for _, o := range old.hosts {
		if h := v.byName[o.Spec.Name]; h == nil || h.Spec.Addr != o.Spec.Addr {
			r.Removed++
			r.Gone = append(r.Gone, o)
		}
	}
	t.view.Store(v)
	return r, nil
}

var emptySnapshot = &Snapshot{}

// build makes a View of specs, taking snapshots from prev where name and
// address match.
func build(specs []HostSpec, prev *View, gen uint64) (*View, error) {
	v := &View{
		Gen:    gen,
		hosts:  make([]*Host, len(specs)),
		byName: make(map[string]*Host, len(specs)),
		byAddr: make(map[netip.Addr]*Host, len(specs)),
	}
	// One allocation for all hosts: fewer objects for the GC to trace.
	backing := make([]Host, len(specs))
	for i, sp := range specs {
		if sp.Name == "" {
			return nil, fmt.Errorf("state: host %d has no name", i)
		}
		if !sp.Addr.IsValid() {
			return nil, fmt.Errorf("state: host %q has no address", sp.Name)
		}
		sp.Addr = sp.Addr.Unmap()
		if _, dup := v.byName[sp.Name]; dup {
			return nil, fmt.Errorf("state: duplicate host name %q", sp.Name)
		}
		h := &backing[i]
		h.ID, h.Spec = i, sp
		snap := emptySnapshot
		if prev != nil {
			if o := prev.byName[sp.Name]; o != nil && o.Spec.Addr == sp.Addr {
				snap = o.snap.Load()
			}
		}
		h.snap.Store(snap)
		v.hosts[i] = h
		v.byName[sp.Name] = h
		if _, ok := v.byAddr[sp.Addr]; !ok {
			v.byAddr[sp.Addr] = h
		}
	}
	return v, nil
}

// ErrState is returned by Restore for a state it cannot put a host in.
var ErrState = errors.New("state: cannot restore that state")

// Restore puts the host with id back in state s, entered at since, with
// its transitions count: what a restart reads back from the store, so hosts
// don't all begin unknown. The failure or success streak is set to what
// state s implies (degraded: one failure; down: FailuresToDown failures;
// up: SuccessesToUp successes), so the next result moves the host as it
// would have before the restart. Statistics and recent results start
// empty. Writer only.
func (t *Table) Restore(id int, s State, since time.Time, transitions uint32) error {
	h := t.view.Load().Host(id)
	if h == nil {
		return fmt.Errorf("%w: %d", ErrNoHost, id)
	}
	n := *h.snap.Load()
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
	h.snap.Store(&n)
	return nil
}
