// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	Push config.Push
	// Key verifies keyed HBP1 heartbeats and tags their ACKs; nil accepts
	// only unauthenticated ones (and then only under Push's policy).
	Key *wire.PushKey
	// Registrar adds heartbeat checks for hosts not configured; nil: never.
	Registrar obs.Registrar
	// Bus receives heartbeat messages as event.Message; nil: dropped.
	Bus *event.Bus
	// DynDNS, if set, is told about source-address changes of the hosts
	// in Push.DynDNSHosts.
	DynDNS *DynDNS
	Log    *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Drop reasons, the label of hb_push_dropped_total.
const (
	dropMalformed = iota // not HBP1/hbd, or failed to decode
	dropAuth             // tag did not verify, or the key id is not ours
	dropUnauthenticated
	dropReplay
	dropSkew
	dropUnknown // sender not configured and not allowed to register
	dropRefused // hbd CMD/UPD
	dropFull    // auto-registration limit reached, registration queue full, or Register failed
	numDrops
)

var dropNames = [numDrops]string{"malformed", "auth", "unauthenticated", "replay", "skew", "unknown", "refused", "full"}

// Stats are a Receiver's counters.
type Stats struct {
	Received   uint64 // datagrams read
	Accepted   uint64 // heartbeats that became observations
	Legacy     uint64 // of those, legacy hbd datagrams
	Acks       uint64 // ACKs sent
	Overdue    uint64 // timeout observations for overdue heartbeats
	Registered uint64 // hosts auto-registered
	// Registration: hosts waiting for it now, calls to the core (batches)
	// it took, hosts it failed for.
	RegisterPending                 int
	RegisterBatches, RegisterFailed uint64
	Messages                        uint64 // heartbeat messages published
	Dropped                         [numDrops]uint64
	Hosts                           int // heartbeat checks known now
}

// hostState is one heartbeat check's live state. Guarded by Receiver.mu.
type hostState struct {
	name     string
	gen      uint64
	id       int
	hasCheck bool
	interval time.Duration
	grace    time.Duration
	lastSeen time.Time // server clock: last accepted heartbeat, or when the check appeared
	nextDue  time.Time // when the next overdue observation is due
	replay   wire.ReplayWindow
	addr     netip.Addr // last source address
	auto     bool       // registered by us
	heard    bool       // a heartbeat arrived since the receiver started

	metrics    []obs.Metric // the last heartbeat's (immutable once stored)
	lastDetail string

	// pending: a heartbeat accepted while the host's registration was
	// queued, observed once the check exists.
	pending *obs.Observation
}

// Receiver is the obs.Source of heartbeat checks: it reads HBP1 and
// legacy hbd datagrams, turns each accepted one into an OK observation
// of its host's heartbeat check, answers it, and reports Timeout for
// checks whose heartbeat is overdue (interval + grace).
type Receiver struct {
	cfg  ReceiverConfig
	log  *slog.Logger
	now  func() time.Time
	sink atomic.Pointer[obs.Sink]

	mu    sync.Mutex            // guards hosts, gen, auto
	hosts map[string]*hostState // by host name and by heartbeat://NAME
	gen   uint64
	auto  int // auto-registered hosts
	pend  map[string]bool
	regq  chan string // hosts waiting for registration (registerLoop)

	names names // metric name interning (read loop only)
	acker *bucket.Bucket

	acksLimited atomic.Uint64

	received, accepted, legacy, acks, overdue, registered, messages atomic.Uint64
	regBatches, regFailed                                           atomic.Uint64
	sendErrors                                                      atomic.Uint64
	dnsRefused                                                      atomic.Uint64 // address changes of unkeyed heartbeats not sent to dynamic DNS
	dropped                                                         [numDrops]atomic.Uint64
	addr                                                            atomic.Value // netip.AddrPort once listening
}

// Addr returns the address the receiver listens on, once Run has opened
// its socket (the zero AddrPort before).
func (r *Receiver) Addr() netip.AddrPort {
	a, _ := r.addr.Load().(netip.AddrPort)
	return a
}

// NewReceiver returns a receiver; Run opens its socket.
func NewReceiver(c ReceiverConfig) (*Receiver, error) {
	if c.Push.Interval <= 0 {
		return nil, errors.New("push: receiver needs a positive interval")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	rate := c.Push.AckRate
	if rate <= 0 {
		rate = 20000
	}
	return &Receiver{cfg: c, log: c.Log, now: c.Now, hosts: map[string]*hostState{}, pend: map[string]bool{}, names: names{m: map[string]string{}},
		acker: bucket.New(rate, max(int(rate), 1)), regq: make(chan string, RegisterQueue)}, nil
}

// Name implements obs.Source.
func (r *Receiver) Name() string { return "push" }

// Kinds implements obs.Source.
func (r *Receiver) Kinds() []obs.Kind { return []obs.Kind{obs.KindHeartbeat} }

// pushName returns NAME of a heartbeat://NAME target, or "".
func pushName(target string) string {
	n, ok := strings.CutPrefix(target, "heartbeat://")
	if !ok {
		return ""
	}
	return n
}

// SetChecks implements obs.Source. Hosts keep their live state (last
// heartbeat, replay window) across generations; a new check counts as
// just seen, so a host that never pushes goes overdue after interval +
// grace.
func (r *Receiver) SetChecks(gen uint64, checks []obs.Check) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.hosts
	r.hosts = make(map[string]*hostState, len(checks))
	r.gen = gen
	for _, c := range checks {
		if c.Spec.Kind != obs.KindHeartbeat {
			continue
		}
		h := old[c.Spec.Host]
		if h == nil {
			if pn := pushName(c.Spec.Target); pn != "" {
				h = old[pn]
			}
		}
		fresh := h == nil
		if fresh {
			h = &hostState{name: c.Spec.Host, lastSeen: now}
		}
		h.gen, h.id, h.hasCheck = gen, c.ID, true
		h.interval = c.Spec.Interval
		if h.interval <= 0 {
			h.interval = time.Duration(r.cfg.Push.Interval)
		}
		h.grace = time.Duration(r.cfg.Push.Grace)
		if g, err := time.ParseDuration(c.Spec.Params["grace"]); err == nil && g >= 0 {
			h.grace = g
		}
		// A host already overdue keeps its reporting cadence across a
		// reload; others are due interval + grace after their last one.
		if due := h.lastSeen.Add(h.interval + h.grace); fresh || now.Before(due) {
			h.nextDue = due
		}
		r.hosts[c.Spec.Host] = h
		if pn := pushName(c.Spec.Target); pn != "" && pn != c.Spec.Host {
			r.hosts[pn] = h
		}
	}
	// Hosts whose registration is queued keep their placeholder.
	for name := range r.pend {
		if h := old[name]; h != nil && r.hosts[name] == nil {
			r.hosts[name] = h
		}
	}
	r.auto = 0
	for _, h := range r.hosts {
		if h.auto {
			r.auto++
		}
	}
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() Stats {
	s := Stats{
		Received: r.received.Load(), Accepted: r.accepted.Load(), Legacy: r.legacy.Load(), Acks: r.acks.Load(),
		Overdue: r.overdue.Load(), Registered: r.registered.Load(), Messages: r.messages.Load(),
	}
	for i := range s.Dropped {
		s.Dropped[i] = r.dropped[i].Load()
	}
	s.RegisterBatches, s.RegisterFailed = r.regBatches.Load(), r.regFailed.Load()
	r.mu.Lock()
	s.Hosts = len(r.hosts)
	s.RegisterPending = len(r.pend)
	r.mu.Unlock()
	return s
}

// Overdue reports Timeout for every heartbeat check whose next heartbeat
// is late, once per interval while it stays late. Run calls it every
// second; tests call it with their clock.
func (r *Receiver) Overdue(now time.Time) {
	sp := r.sink.Load()
	if sp == nil {
		return
	}
	type due struct {
		gen  uint64
		id   int
		late time.Duration
	}
	var out []due
	r.mu.Lock()
	for k, h := range r.hosts {
		if k != h.name || !h.hasCheck || now.Before(h.nextDue) {
			continue
		}
		out = append(out, due{h.gen, h.id, now.Sub(h.lastSeen)})
		h.nextDue = now.Add(h.interval)
	}
	r.mu.Unlock()
	for _, d := range out {
		r.overdue.Add(1)
		(*sp).Observe(d.gen, d.id, obs.Observation{
			At: now, Outcome: obs.Timeout,
			Problem: "heartbeat overdue: last one " + d.late.Truncate(time.Second).String() + " ago",
		})
	}
}

// Reply is what the receive path answers a datagram with.
type Reply struct {
	Data []byte // nil: no answer
}

// Handle processes one datagram from src received at rx (kernel time when
// kernelRx) and writes the answer (an HBA1 ACK, or "ACK" for hbd) into
// ack, returning its length (0: no answer). It is the whole receive path
// minus the socket; Run calls it for every datagram.
func (r *Receiver) Handle(ctx context.Context, b []byte, src netip.AddrPort, rx time.Time, kernelRx bool, ack []byte) int {
	r.received.Add(1)
	switch {
	case wire.IsPush(b):
		return r.handlePush(ctx, b, src, rx, kernelRx, ack)
	case wire.IsHBD(b) && r.cfg.Push.Legacy:
		return r.handleHBD(ctx, b, src, rx, ack)
	}
	r.drop(dropMalformed)
	return 0
}

func (r *Receiver) drop(reason int) { r.dropped[reason].Add(1) }

// mayAck reports whether an answer of n bytes to a datagram of in bytes
// may go out: never more bytes than received, and within ack_rate.
func (r *Receiver) mayAck(in, n int) bool {
	if n > in || !r.acker.Allow(r.now()) {
		r.acksLimited.Add(1)
		return false
	}
	return true
}

func (r *Receiver) handlePush(ctx context.Context, b []byte, src netip.AddrPort, rx time.Time, kernelRx bool, ack []byte) int {
	id := wire.PushKeyID(b)
	var k *wire.PushKey
	if id != 0 {
		if r.cfg.Key == nil || r.cfg.Key.ID != id {
			r.drop(dropAuth)
			return 0
		}
		k = r.cfg.Key
	} else if r.cfg.Push.RequireKey {
		r.drop(dropUnauthenticated)
		return 0
	}
	var p wire.Push
	if err := wire.DecodePush(b, k, &p); err != nil {
		if errors.Is(err, wire.ErrTag) {
			r.drop(dropAuth)
		} else {
			r.drop(dropMalformed)
		}
		return 0
	}
	if ms := time.Duration(r.cfg.Push.MaxSkew); ms > 0 {
		if d := rx.Sub(time.Unix(0, p.SentAt)); d > ms || d < -ms {
			r.drop(dropSkew)
			return 0
		}
	}
	o, name, msgs, err := r.observe(&p, rx)
	if err != nil {
		r.drop(dropMalformed)
		return 0
	}
	if name == "" {
		name = src.Addr().Unmap().String()
	}
	h, reason := r.host(ctx, name, id != 0)
	if h == nil {
		r.drop(reason)
		return 0
	}
	r.mu.Lock()
	fresh := h.replay.Accept(p.BootID, p.Seq, p.SentAt)
	r.mu.Unlock()
	if !fresh {
		r.drop(dropReplay)
		return 0
	}
	if p.Flags&wire.PushFlagBoot != 0 {
		msgs = append(msgs, message{event.LevelInfo, "boot: hb-responder started"})
	}
	if p.Flags&wire.PushFlagShutdown != 0 {
		msgs = append(msgs, message{event.LevelWarning, "shutdown: hb-responder stopping"})
		o.Detail = "shutdown heartbeat"
	}
	r.accept(h, o, src, rx, msgs, id != 0)
	if !r.mayAck(len(b), wire.AckLen) {
		return 0
	}
	a := wire.Ack{BootID: p.BootID, Seq: p.Seq, RxTime: rx.UnixNano(), TxTime: r.now().UnixNano()}
	if kernelRx {
		a.Flags = wire.AckFlagKernelRx
	}
	if wire.EncodeAck(ack, a, k) != nil {
		return 0
	}
	r.acks.Add(1)
	return wire.AckLen
}

type message struct {
	level event.Level
	text  string
}

// observe turns a verified heartbeat into an observation: its health
// blob, metrics of every section, and the RTT the sender measured.
func (r *Receiver) observe(p *wire.Push, rx time.Time) (obs.Observation, string, []message, error) {
	o := obs.Observation{At: rx, Outcome: obs.OK, Detail: "heartbeat"}
	var name string
	var msgs []message
	// The metrics are built in a buffer and kept in a slice of their exact
	// size: the last heartbeat's stay referenced (the table's snapshot, the
	// receiver's API) for every host, so a 32-slot slice would be ~250
	// bytes a host of empty capacity.
	var buf [32]obs.Metric
	ms := buf[:0]
	n := &r.names
	add := func(v float64, parts ...string) {
		if len(ms) < maxMetrics {
			ms = append(ms, obs.Metric{Name: n.get(parts...), Value: v})
		}
	}
	it := p.Sections()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		if err := wire.ValidateSection(s); err != nil {
			return o, "", nil, err
		}
		switch s.Type {
		case wire.SecHost:
			name = string(s.Data)
		case wire.SecHealth:
			if err := wire.DecodeBlob(s.Data, nil, &o.Health); err != nil {
				return o, "", nil, err
			}
			o.HasHealth = true
			if name == "" {
				name = o.Health.HostnameString()
			}
		case wire.SecCPU:
			for i := range wire.CPUCores(s.Data) {
				add(float64(wire.CPUCore(s.Data, i))/1000, "cpu_", strconv.Itoa(i), "_busy_ratio")
			}
		case wire.SecMount:
			m, _ := wire.ParseMount(s.Data)
			p := n.sanitize(m.Path)
			add(float64(m.Total), "disk_", p, "_total_bytes")
			add(float64(m.Used), "disk_", p, "_used_bytes")
			if m.Total > 0 {
				add(float64(m.Used)/float64(m.Total), "disk_", p, "_used_ratio")
			}
		case wire.SecIface:
			i, _ := wire.ParseIface(s.Data)
			nm := n.sanitize(i.Name)
			add(float64(i.RxBytes), "net_", nm, "_rx_bytes_total")
			add(float64(i.TxBytes), "net_", nm, "_tx_bytes_total")
			add(float64(i.RxRate), "net_", nm, "_rx_bytes_per_second")
			add(float64(i.TxRate), "net_", nm, "_tx_bytes_per_second")
			add(float64(i.Errors), "net_", nm, "_errors_total")
			add(float64(i.Drops), "net_", nm, "_drops_total")
		case wire.SecSwap:
			t, u, _ := wire.ParseSwap(s.Data)
			add(float64(t), "swap_total_bytes")
			add(float64(u), "swap_used_bytes")
		case wire.SecProcs:
			pr, th, _ := wire.ParseProcs(s.Data)
			add(float64(pr), "processes")
			add(float64(th), "threads")
		case wire.SecCheck:
			c, _ := wire.ParseCheck(s.Data)
			cn := n.sanitize(c.Name)
			add(float64(c.Status), "nagios_", cn, "_status")
			for i := range c.NPerf {
				l, _, v, _, _ := c.PerfAt(i)
				add(v, "nagios_", cn, "_", n.sanitize(l))
			}
			if c.Status != wire.CheckOK {
				lvl := event.LevelWarning
				if c.Status == wire.CheckCritical {
					lvl = event.LevelCritical
				}
				msgs = append(msgs, message{lvl, fmt.Sprintf("%s %s: %s", string(c.Name), strings.ToUpper(wire.CheckStatusName(c.Status)), c.Text)})
			}
		case wire.SecMessage:
			l, t, _ := wire.ParseMessage(s.Data)
			msgs = append(msgs, message{event.Level(l), string(t)})
		case wire.SecRTT:
			ns, m, _ := wire.ParseRTT(s.Data)
			if ns > 0 && ns < uint64(time.Minute) && m >= uint8(obs.MethodKernelTxRx) && m <= uint8(obs.MethodUser) {
				o.RTT, o.Method = time.Duration(ns), obs.Method(m)
			}
		case wire.SecMetric:
			nm, v, _ := wire.ParseMetric(s.Data)
			add(v, n.sanitize(nm))
		}
	}
	if err := it.Err(); err != nil {
		return o, "", nil, err
	}
	if len(ms) > 0 {
		o.Metrics = append([]obs.Metric(nil), ms...)
	}
	return o, name, msgs, nil
}

// maxMetrics caps the metrics of one heartbeat.
const maxMetrics = 256

// names interns metric names so a heartbeat's names are built once per
// distinct name, not once per datagram.
type names struct {
	mu  sync.Mutex
	buf []byte
	m   map[string]string
	san map[string]string // raw name -> wire.SanitizeName of it
}

// sanitize returns wire.SanitizeName(string(b)), cached.
func (n *names) sanitize(b []byte) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.san[string(b)]; ok {
		return s
	}
	s := wire.SanitizeName(string(b))
	if n.san == nil {
		n.san = map[string]string{}
	}
	if len(n.san) < 1<<16 {
		n.san[string(b)] = s
	}
	return s
}

func (n *names) get(parts ...string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.buf = n.buf[:0]
	for _, p := range parts {
		n.buf = append(n.buf, p...)
	}
	if s, ok := n.m[string(n.buf)]; ok {
		return s
	}
	s := string(n.buf)
	if len(n.m) < 1<<20 {
		n.m[s] = s
	}
	return s
}

// RegisterQueue is how many unknown hosts may wait for registration;
// past it their heartbeats are dropped (reason "full") until the queue
// drains, and they are taken at their next heartbeat.
const RegisterQueue = 1 << 16

// maxRegisterBatch caps the hosts registered in one call to the core.
const maxRegisterBatch = 1 << 14

// host returns the state of name's heartbeat check. An unknown host that
// policy allows (accept_unknown, or the heartbeat verified with our key)
// gets a placeholder at once and its registration is queued for
// registerLoop, so the receive path never waits for the core: its
// heartbeats are accepted (and answered) meanwhile, the last one observed
// when the check exists.
func (r *Receiver) host(ctx context.Context, name string, keyed bool) (*hostState, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hosts[name]
	if h != nil {
		return h, 0
	}
	if !r.cfg.Push.AcceptUnknown && !keyed || r.cfg.Registrar == nil {
		return nil, dropUnknown
	}
	if r.auto+len(r.pend) >= r.cfg.Push.MaxHosts || !validHostName(name) {
		return nil, dropFull
	}
	select {
	case r.regq <- name:
	default:
		return nil, dropFull
	}
	r.pend[name] = true
	h = &hostState{name: name, lastSeen: r.now(),
		interval: time.Duration(r.cfg.Push.Interval), grace: time.Duration(r.cfg.Push.Grace)}
	r.hosts[name] = h
	return h, 0
}

// registerLoop registers queued hosts until ctx ends, in batches: the
// hosts that queued up while the previous batch was registered go to the
// core together (one table rebuild with an obs.BatchRegistrar).
func (r *Receiver) registerLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-r.regq:
			r.registerNames(ctx, r.moreQueued(name))
		}
	}
}

// registerPending registers the hosts queued now (registerLoop's step;
// tests call it instead of Run).
func (r *Receiver) registerPending(ctx context.Context) {
	select {
	case name := <-r.regq:
		r.registerNames(ctx, r.moreQueued(name))
	default:
	}
}

func (r *Receiver) moreQueued(first string) []string {
	names := []string{first}
	for len(names) < maxRegisterBatch {
		select {
		case n := <-r.regq:
			names = append(names, n)
		default:
			return names
		}
	}
	return names
}

// registerNames registers a heartbeat check for each of names and
// observes the heartbeat each one had pending.
func (r *Receiver) registerNames(ctx context.Context, names []string) {
	specs := make([]obs.CheckSpec, len(names))
	for i, name := range names {
		specs[i] = obs.CheckSpec{
			Host: name, Name: "heartbeat", Kind: obs.KindHeartbeat, Target: "heartbeat://" + name,
			Interval: time.Duration(r.cfg.Push.Interval),
		}
	}
	cs := make([]obs.Check, len(names))
	errs := make([]error, len(names))
	var gen uint64
	if br, ok := r.cfg.Registrar.(obs.BatchRegistrar); ok {
		var err error
		if cs, gen, err = br.RegisterBatch(ctx, specs); err != nil {
			cs = make([]obs.Check, len(names))
			for i := range errs {
				errs[i] = err
			}
		}
	} else {
		for i := range specs {
			var g uint64
			cs[i], g, errs[i] = r.cfg.Registrar.Register(ctx, specs[i])
			gen = max(gen, g)
		}
	}
	r.regBatches.Add(1)
	type flush struct {
		gen uint64
		id  int
		o   obs.Observation
	}
	var out []flush
	r.mu.Lock()
	for i, name := range names {
		delete(r.pend, name)
		h := r.hosts[name]
		if errs[i] != nil {
			r.regFailed.Add(1)
			if h != nil && !h.hasCheck {
				delete(r.hosts, name)
			}
			r.log.Warn("push: registering heartbeat host failed", "host", name, "err", errs[i])
			continue
		}
		r.registered.Add(1)
		if h == nil {
			h = &hostState{name: name, lastSeen: r.now()}
			r.hosts[name] = h
		}
		if !h.hasCheck || h.gen < gen {
			// The registrar's SetChecks has not reached us yet: place the
			// check ourselves; SetChecks keeps this state when it does.
			h.gen, h.id, h.hasCheck = gen, cs[i].ID, true
			h.interval, h.grace = time.Duration(r.cfg.Push.Interval), time.Duration(r.cfg.Push.Grace)
			h.nextDue = h.lastSeen.Add(h.interval + h.grace)
		}
		if !h.auto {
			h.auto = true
			r.auto++
		}
		if h.pending != nil {
			out = append(out, flush{h.gen, h.id, *h.pending})
			h.pending = nil
		}
	}
	r.mu.Unlock()
	if sp := r.sink.Load(); sp != nil {
		for _, f := range out {
			(*sp).Observe(f.gen, f.id, f.o)
		}
	}
}

// validHostName accepts names a targets file could hold: 1–253 bytes of
// letters, digits, '.', '-', '_', ':' (IPv6 addresses).
func validHostName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// accept records a heartbeat of h and hands its observation to the sink.
// keyed says the heartbeat verified with our key: only such heartbeats
// move a dynamic DNS name, unless dyndns_unauthenticated allows any.
func (r *Receiver) accept(h *hostState, o obs.Observation, src netip.AddrPort, rx time.Time, msgs []message, keyed bool) {
	addr := src.Addr().Unmap()
	r.mu.Lock()
	h.lastSeen = rx
	h.nextDue = rx.Add(h.interval + h.grace)
	moved := h.addr.IsValid() && h.addr != addr || !h.addr.IsValid()
	h.addr = addr
	h.heard = true
	h.metrics, h.lastDetail = o.Metrics, o.Detail
	gen, id, name, known := h.gen, h.id, h.name, h.hasCheck
	if !known { // registration queued: observed when the check exists
		p := o // only this branch puts an observation on the heap
		h.pending = &p
	} else {
		h.pending = nil // this one is newer
	}
	r.mu.Unlock()
	r.accepted.Add(1)
	if sp := r.sink.Load(); sp != nil && known {
		(*sp).Observe(gen, id, o)
	}
	if moved && r.cfg.DynDNS != nil {
		if keyed || r.cfg.Push.DynDNSUnauthenticated {
			r.cfg.DynDNS.Moved(name, addr)
		} else {
			r.dnsRefused.Add(1)
		}
	}
	if r.cfg.Bus == nil {
		return
	}
	for _, m := range msgs {
		r.messages.Add(1)
		r.cfg.Bus.Publish(event.Event{
			Type: event.Message, At: rx.UTC(), Host: name, Check: "heartbeat", Kind: obs.KindHeartbeat,
			Text: m.text, Level: m.level, Source: name,
		})
	}
}

// handleHBD handles a legacy hbd datagram: HTB and PLG become
// observations with the datagram's numbers as metrics; CMD and UPD are
// refused and never answered.
func (r *Receiver) handleHBD(ctx context.Context, b []byte, src netip.AddrPort, rx time.Time, ack []byte) int {
	if r.cfg.Push.RequireKey {
		r.drop(dropUnauthenticated)
		return 0
	}
	m, err := wire.DecodeHBD(b)
	if err != nil {
		if errors.Is(err, wire.ErrRefused) {
			r.drop(dropRefused)
		} else {
			r.drop(dropMalformed)
		}
		return 0
	}
	name := src.Addr().Unmap().String()
	for _, k := range []string{"hostname", "host"} {
		if f, ok := m.Get(k); ok && f.Kind == wire.HBDText && f.Text != "" {
			name = f.Text
			break
		}
	}
	h, reason := r.host(ctx, name, false)
	if h == nil {
		r.drop(reason)
		return 0
	}
	o := obs.Observation{At: rx, Outcome: obs.OK, Detail: "hbd " + m.ID}
	prefix := ""
	var msgs []message
	if m.ID == wire.HBDPlugin {
		if f, ok := m.Get("plugin"); ok {
			prefix = wire.SanitizeName(f.Text) + "_"
		}
		if st, ok := m.Get("status"); ok && st.Num != 0 {
			out, _ := m.Get("output")
			pl, _ := m.Get("plugin")
			msgs = append(msgs, message{event.LevelWarning, pl.Text + ": " + out.Text})
		}
	}
	if f, ok := m.Get("message"); ok && f.Kind == wire.HBDText && f.Text != "" {
		msgs = append(msgs, message{event.LevelInfo, f.Text})
	}
	nums := m.Numbers(maxMetrics)
	o.Metrics = make([]obs.Metric, len(nums))
	for i, v := range nums {
		o.Metrics[i] = obs.Metric{Name: r.names.get(prefix, v.Name), Value: v.Value}
	}
	r.legacy.Add(1)
	r.accept(h, o, src, rx, msgs, false)
	if len(ack) < len(wire.HBDAck) || !r.mayAck(len(b), len(wire.HBDAck)) {
		return 0
	}
	r.acks.Add(1)
	return copy(ack, wire.HBDAck)
}
