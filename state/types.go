// SPDX-License-Identifier: MIT

package state

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hbmon/hb/obs"
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

// Outcome and Method are obs's: one vocabulary for every package.
type (
	Outcome = obs.Outcome
	Method  = obs.Method
	// Observation is one result of one check (obs.Observation). The table
	// keeps Health and HBM2 by pointer: the caller must not modify them
	// after Apply.
	Observation = obs.Observation
)

// The outcomes, as obs names them.
const (
	OK      = obs.OK
	Timeout = obs.Timeout
	Error   = obs.Error
)

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

// HostSpec is one configured host: plain data that compares the same
// everywhere. Name is the key (unique in a table). Addr is the host's
// primary address (reported by the API; invalid for hosts that only push).
// Checks are what observes it; each CheckSpec's Host is set to Name by the
// table. A host's state is derived from its checks' states (see Derive).
type HostSpec struct {
	Name   string
	Addr   netip.Addr
	Labels Labels // read-only once handed to the table
	Parent string // name of the host this one depends on ("" none)
	Checks []obs.CheckSpec
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

// Change is what Apply did to a check's state and to its host's derived
// state: the feed from which the core publishes events.
type Change struct {
	Check       *Check
	Host        *Host
	Old, New    State // the check's state before and after
	Changed     bool  // Old != New
	HostOld     State // the host's derived state before and after
	HostNew     State
	HostChanged bool // HostOld != HostNew
	At          time.Time
}
