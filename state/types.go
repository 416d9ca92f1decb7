package state

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hbmon/hb/wire"
)

// State is a host's place in the state machine. The zero value is Unknown:
// a host nobody has probed yet.
type State uint8

// The host states, in the order the API and metrics report them.
const (
	Unknown State = iota
	Up
	Degraded
	Down

	NumStates = 4
)

var stateNames = [NumStates]string{"unknown", "up", "degraded", "down"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// ParseState returns the State named s ("unknown", "up", "degraded",
// "down").
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// Outcome is what one probe came to. The zero value is invalid: Apply
// rejects it, so a forgotten field never counts as a success or a loss.
type Outcome uint8

const (
	_       Outcome = iota
	OK              // a matching reply arrived
	Timeout         // no reply within the probe's deadline
	Error           // an ICMP error (unreachable, TTL exceeded, …) or a local send error
)

var outcomeNames = [...]string{"invalid", "ok", "timeout", "error"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// Failed reports whether the outcome counts as a failure for the state
// machine and for loss.
func (o Outcome) Failed() bool { return o == Timeout || o == Error }

// Method says which clock produced a result's RTT (docs: DESIGN §5).
type Method uint8

const (
	MethodNone      Method = iota // no RTT (failures), or not reported
	MethodKernel                  // SO_TIMESTAMPING software TX and RX stamps
	MethodKernelRX                // SO_TIMESTAMPNS RX stamp, user-space send clock
	MethodUserspace               // user-space clocks on both sides
)

var methodNames = [...]string{"none", "kernel", "kernel-rx", "userspace"}

func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "invalid"
}

// UnixNano is a UTC instant in nanoseconds since the Unix epoch; 0 means
// "never". Snapshots store instants this way because it takes a third of a
// time.Time's room.
type UnixNano int64

// NanoOf converts t; the zero time.Time maps to 0.
func NanoOf(t time.Time) UnixNano {
	if t.IsZero() {
		return 0
	}
	return UnixNano(t.UnixNano())
}

// Time returns t as a UTC time.Time, or the zero time for 0.
func (t UnixNano) Time() time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(t)).UTC()
}

// IsZero reports whether t is "never".
func (t UnixNano) IsZero() bool { return t == 0 }

// HostSpec is one configured target: plain data that compares the same
// everywhere. Name is the key (unique in a table); Addr is what gets probed.
type HostSpec struct {
	Name   string
	Addr   netip.Addr
	Labels Labels // read-only once handed to the table
}

// Label is one key=value pair attached to a host.
type Label struct{ Key, Value string }

// Labels are a host's labels sorted by key, keys unique. A sorted slice
// rather than a map: one label costs 32 bytes instead of a map's ~300,
// which keeps a host under 1 KiB.
type Labels []Label

// LabelsFromMap returns m as sorted Labels (nil for an empty map).
func LabelsFromMap(m map[string]string) Labels {
	if len(m) == 0 {
		return nil
	}
	ls := make(Labels, 0, len(m))
	for k, v := range m {
		ls = append(ls, Label{k, v})
	}
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Key, b.Key) })
	return ls
}

// Get returns the value of key and whether it is set.
func (ls Labels) Get(key string) (string, bool) {
	for _, l := range ls {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

// Map returns the labels as a new map.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Key] = l.Value
	}
	return m
}

// Observation is one probe result as the prober engine saw it; the daemon
// maps engine results onto it. The table keeps Health and HBM2 by pointer:
// the caller must not modify them after Apply.
type Observation struct {
	At       time.Time     // when the result was decided (reply received, or deadline passed)
	Outcome  Outcome       // required
	RTT      time.Duration // OK only
	Method   Method        // clock that measured RTT
	Health   *wire.Health  // decoded HBH1 blob, if the reply carried one
	HBM2     *wire.HBM2    // legacy HBM v2 payload, if the reply carried one
	ICMPType uint8         // Error from an ICMP message: its type and code
	ICMPCode uint8
	From     netip.Addr // Error: who sent the ICMP error (a router, or the target)
	Problem  string     // human-readable cause for failures; derived when empty
}

// Result is one entry of a host's recent-results ring: 16 bytes.
type Result struct {
	At       UnixNano
	RTTNanos uint32 // saturates at about 4.29 s; 0 for failures
	Outcome  Outcome
	Method   Method
	ICMPType uint8
	ICMPCode uint8
}

// RTT returns the result's round-trip time.
func (r Result) RTT() time.Duration { return time.Duration(r.RTTNanos) }

// Change is what Apply did to a host's state: the feed the store and the
// transition logger consume.
type Change struct {
	Host    *Host
	Old     State
	New     State
	Changed bool // Old != New
	At      time.Time
}
