// SPDX-License-Identifier: MIT

// Package obs is the vocabulary every source, the state table and every sink
// share: check kinds, outcomes, RTT methods, the observation one check
// produces, and the small interfaces through which sources feed the core.
//
// It is a leaf: it imports only the standard library and wire/. One concept
// has one name here, and that name is used everywhere (CLI, JSON, metrics).
package obs

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/hbmon/hb/wire"
)

// Kind is how a check observes a host. The zero value is invalid.
type Kind uint8

const (
	KindInvalid   Kind = iota
	KindICMP           // ICMP/ICMPv6 echo with an HBQ1 payload (prober engine)
	KindUDP            // HBQ1 over UDP to the responder's port (prober engine)
	KindTCP            // TCP connect, optional banner check
	KindHTTP           // HTTP(S) request with status/body checks
	KindHeartbeat      // heartbeats pushed by the host (HBP1, legacy hbd)
	KindPulse          // a service's pulses (watchtower, healthchecks style)

	NumKinds = 7
)

var kindNames = [NumKinds]string{"invalid", "icmp", "udp", "tcp", "http", "heartbeat", "pulse"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// ParseKind returns the kind named s ("icmp", "udp", "tcp", "http",
// "heartbeat", "pulse"). "https" is KindHTTP.
func ParseKind(s string) (Kind, bool) {
	if s == "https" {
		return KindHTTP, true
	}
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i), true
		}
	}
	return KindInvalid, false
}

// Outcome is what one observation came to. The zero value is invalid: the
// table rejects it, so a forgotten field never counts as a success or loss.
type Outcome uint8

const (
	OutcomeInvalid Outcome = iota
	OK                     // the check passed (reply matched, connect ok, HTTP check ok, heartbeat on time)
	Timeout                // no answer within the deadline (or a heartbeat/pulse overdue)
	Error                  // an error answer: ICMP error, refused, failed check, send error
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

// Method says which clock produced an RTT. One name per method everywhere.
type Method uint8

const (
	MethodNone       Method = iota // no RTT (failures), or not measured
	MethodKernelTxRx               // kernel software TX (error queue) and RX timestamps
	MethodKernelRx                 // kernel RX timestamp, process clock at send
	MethodUser                     // process clock on both sides
)

var methodNames = [...]string{"none", "kernel-tx-rx", "kernel-rx", "user"}

func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "invalid"
}

// ParseMethod returns the method named s.
func ParseMethod(s string) (Method, bool) {
	for i, n := range methodNames {
		if n == s {
			return Method(i), true
		}
	}
	return MethodNone, false
}

// Metric is one named number an observation carries besides its RTT:
// phase timings of an HTTP check ("dns_seconds", "tls_seconds"), a TLS
// certificate's expiry, a plugin or Nagios perfdata value pushed in a
// heartbeat. Names are snake_case in base units; alert rules match them.
type Metric struct {
	Name  string
	Value float64
}

// Observation is one result of one check, as its source saw it. Sources
// fill one in and hand it to a Sink; the table keeps HBM2 and Metrics by
// reference, so the source must not modify them afterwards. Health is a
// value (no allocation a result): the table copies it into its own slot.
type Observation struct {
	At      time.Time     // when the result was decided (reply received, deadline passed)
	Outcome Outcome       // required
	RTT     time.Duration // OK only (connect time, time to first byte, heartbeat RTT, …)
	Method  Method        // clock that measured RTT

	// ICMP errors: type, code and who sent it (a router, or the target).
	ICMPType, ICMPCode uint8
	From               netip.Addr

	Detail  string // short human text of the result: "HTTP 200", "connect ok", "banner SSH-2.0"
	Problem string // cause of a failure; derived from the fields above when empty

	Health    wire.Health // decoded HBH1 blob, valid when HasHealth
	HasHealth bool        // the result carried an HBH1 blob
	HBM2      *wire.HBM2  // legacy HBM v2 payload, if the result carried one
	Metrics   []Metric    // extra figures (see Metric)
}

// CheckSpec is one configured check: plain data that compares the same
// everywhere. Host+Name is the check's key.
type CheckSpec struct {
	Host   string     // owning host's name
	Name   string     // unique within the host: the kind ("icmp") or kind:detail ("tcp:22", "http:/health")
	Kind   Kind       // required
	Addr   netip.Addr // address to probe (icmp, udp, tcp, http once resolved); invalid for push kinds
	Target string     // as configured: "198.18.0.1", "tcp://db:5432", "https://web/health", a service name

	Interval time.Duration     // 0: the source's default
	Timeout  time.Duration     // 0: the source's default
	Params   map[string]string // kind-specific options (check=status:200, method=HEAD, grace=30s, …); read-only
}

// ParamSep joins the values of an option given several times on a targets
// line (check=… check=…) in CheckSpec.Params.
const ParamSep = "\n"

// ParamList returns the values of the option key in params: none, one, or
// several (a repeated option).
func ParamList(params map[string]string, key string) []string {
	v, ok := params[key]
	if !ok {
		return nil
	}
	return strings.Split(v, ParamSep)
}

// Check is a CheckSpec placed in one generation of the table: ID indexes
// the table's checks in that generation.
type Check struct {
	ID   int
	Spec CheckSpec
}

// Sink receives observations. It is safe for concurrent use by any number
// of sources, never blocks for long, and drops (and counts) an observation
// for a check ID of a generation that is no longer current.
type Sink interface {
	Observe(gen uint64, id int, o Observation)
}

// Item is one observation of a batch (BatchSink): for check ID of table
// generation Gen.
type Item struct {
	Gen uint64
	ID  int
	Obs Observation
}

// BatchSink is a Sink that also takes a source's observations many at a
// time: a source that works in rounds (the prober's loop turns) hands over
// a round's results in one call, which wakes the table's writer once
// rather than on whichever result came first. ObserveBatch copies the
// items (the caller may reuse b) and is otherwise Observe for each, in
// order.
type BatchSink interface {
	Sink
	ObserveBatch(b []Item)
}

// Source produces observations for the checks of its kinds. The core calls
// SetChecks before Run and again after every reload; Run works until ctx
// ends. A source never touches the table: everything it learns goes
// through the Sink.
type Source interface {
	// Name identifies the source in logs and metrics ("engine", "tcp", "push").
	Name() string
	// Kinds are the check kinds this source serves.
	Kinds() []Kind
	// SetChecks replaces the source's checks with those of table
	// generation gen (only checks of the source's kinds).
	SetChecks(gen uint64, checks []Check)
	// Run observes until ctx ends, handing results to sink.
	Run(ctx context.Context, sink Sink) error
}

// Registrar is implemented by the core for sources that learn of new
// checks at run time (a heartbeat from an unknown host when
// accept_unknown = true, a pulse auto-created on first use). Register adds
// the check (and its host, when new) and returns the check's place in the
// new generation; the source then also receives a SetChecks call.
type Registrar interface {
	Register(ctx context.Context, spec CheckSpec) (Check, uint64, error)
}

// BatchRegistrar is a Registrar that adds many checks at once, in one
// step of the core (one table rebuild): a receiver that learns of many new
// hosts together (a fleet's first heartbeats) registers them in batches.
// The checks come back in the order of specs, with the generation they
// were placed in.
type BatchRegistrar interface {
	Registrar
	RegisterBatch(ctx context.Context, specs []CheckSpec) ([]Check, uint64, error)
}
