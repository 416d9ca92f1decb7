// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/wire"
)

// Engine probes targets. Build one with New; drive it with Run
// (continuous) or Once (one-shot); SetTargets swaps the target set while
// Run runs, without reopening sockets. Close releases the sockets.
type Engine struct {
	cfg   Config
	mode  Mode
	id    uint16
	conns [2]*conn // [0] IPv4, [1] IPv6; nil when not open
	wt    waiter   // the loop sleeps in it; wake interrupts
	// shards are the extra engines Once splits a large unpaced sweep
	// over (Config.Shards); set up by New, never changed.
	shards []*Engine
	stats  counters
	// closed is set by Close, which then waits for the loop to return
	// before it closes the sockets.
	closed atomic.Bool

	targets atomic.Pointer[targetList] // set by SetTargetFunc, picked up by Run's loop
	running sync.Mutex                 // one Run or Once at a time
	start   time.Time                  // monotonic origin
	// clock is the loop's time.Now; the tests' fake network replaces it
	// with its virtual clock so pacing is tested in fake time.
	clock func() time.Time
	// netns is the network namespace New ran in, kept while the IPv6
	// socket is dormant (conn.dormant): its AF_PACKET path and receive
	// ring open there with the first IPv6 target (wakeV6). lateNote is
	// what that added to Mode's reason.
	netns    *os.File
	lateNote atomic.Pointer[string]

	// loop state (owned by the goroutine in Run/Once)
	list    *targetList   // the loop's targets; nil outside a loop
	tt      []tgt         // list.tt
	timeout time.Duration // this loop's probe timeout
	queue   []int32
	qhead   int
	token   wire.Token
	res     Result
	fams    uint8 // sendBatch's read-ahead of its targets, kept so it is not optimised away
}

// port is the destination port of the engine's sockaddrs: the responder
// port for UDP; 0 for raw ICMPv6 sockets, which read sin6_port as the
// protocol, and for ICMP.
func (e *Engine) port() int {
	if e.mode.Socket == SocketUDP {
		return e.cfg.UDPPort
	}
	return 0
}

// tgt is the loop's per-target data: 28 bytes, no pointer.
type tgt struct {
	addr [16]byte // As16 of the unmapped address
	id   int32    // Target.ID
	// hop caches the target's next hop for its family's packet socket
	// (pktSock.hopOfTarget): hops index + 1 (0: none), valid while
	// hopGen is that socket's table generation. Kept here, the entry
	// the loop reads anyway to send, rather than in a cache of the
	// socket's own (one cache miss a probe less, 8 bytes a target less).
	hop    int32
	hopGen uint16
	legacy bool  // Target.Legacy
	fam    uint8 // index into conns: 0 IPv4, 1 IPv6; famBad: not probed
}

// famBad marks a target whose address cannot be probed (the zero Addr, an
// unspecified or multicast one): every firing is a send error
// (errBadAddr) naming it, never a probe. A zero Addr was probed as
// 0.0.0.0.
const famBad = 2

// probeable reports whether a is an address a probe may be sent to.
func probeable(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast()
}

// noAddr in a famBad target's hop (never sent: no hop cached) says its
// Addr was the zero one, not ::.
const noAddr = -1

var errBadAddr = errors.New("not a unicast address: not probed")

// ip is t's address.
func (t *tgt) ip() netip.Addr {
	switch {
	case t.fam == 0:
		return netip.AddrFrom4([4]byte(t.addr[12:]))
	case t.fam == famBad && t.hop == noAddr:
		return netip.Addr{}
	case t.fam == famBad:
		return netip.AddrFrom16(t.addr).Unmap()
	}
	return netip.AddrFrom16(t.addr)
}

// targetList is a target list as the loop keeps it: its tgts outside the
// Go heap (offheap: the collector neither scans them nor doubles them in
// its heap goal), freed when the list is replaced or the loop ends. It is
// built by the caller of SetTargetFunc (or by Once), so the engine keeps
// no copy of the caller's Targets.
type targetList struct {
	gen  uint64
	tt   []tgt
	has6 bool // some target is IPv6
	free func()
}

func newTargetList(gen uint64, n int, at func(int) Target) *targetList {
	tt, free := offheap.Make[tgt](n)
	has6 := false
	for i := range n {
		t := at(i)
		a := t.Addr.Unmap()
		tt[i] = tgt{addr: a.As16(), id: int32(t.ID), legacy: t.Legacy}
		switch {
		case !probeable(a):
			tt[i].fam = famBad
			if !a.IsValid() {
				tt[i].hop = noAddr
			}
		case a.Is6():
			tt[i].fam = 1
			has6 = true
		}
	}
	return &targetList{gen: gen, tt: tt, has6: has6, free: free}
}

func (l *targetList) release() {
	if l != nil {
		l.tt = nil
		l.free()
	}
}

// New opens the engine's sockets: one per address family, of the best
// kind the process may open (see Config.Proto). The error says what is
// missing (for example CAP_NET_RAW) when nothing can be opened.
func New(cfg Config) (*Engine, error) {
	e := newEngine(cfg)
	// Shards for one-shot sweeps: more engines on sockets of the same
	// kind, each with its own ICMP identifier, opened (in the caller's
	// network namespace) while this one opens: each receive ring's
	// setup waits for an RCU grace period, and these waits overlap.
	var wg sync.WaitGroup
	shards := make([]*Engine, max(cfg.Shards-1, 0))
	ran := make([]bool, len(shards))
	configs := make([]Config, len(shards))
	for i := range shards {
		hc := e.cfg
		hc.Shards = 1
		hc.ID = e.id + uint16(i+1)
		if hc.ID == 0 {
			hc.ID = 1
		}
		configs[i] = hc
		wg.Add(1)
		sameNetnsGo(func() {
			if h, err := New(hc); err == nil {
				shards[i] = h
			}
		}, func(ok bool) {
			ran[i] = ok
			wg.Done()
		})
	}
	err := e.open()
	if err == nil {
		err = e.newWaiter()
	}
	wg.Wait()
	for i := range shards {
		if !ran[i] && err == nil {
			// No thread could join the caller's namespace: open it here.
			shards[i], _ = New(configs[i])
		}
	}
	for _, h := range shards {
		switch {
		case h == nil:
			// fewer shards; the sweep still runs
		case err != nil || h.mode.Socket != e.mode.Socket ||
			(h.conns[0] != nil) != (e.conns[0] != nil) || (h.conns[1] != nil) != (e.conns[1] != nil):
			// Not the sockets this engine has (a shard must probe as
			// it does): let it go.
			h.Close()
		default:
			e.shards = append(e.shards, h)
		}
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// newWaiter sets up the loop's waiter on every socket the engine opened.
func (e *Engine) newWaiter() error {
	var fds []int
	for _, c := range e.conns {
		if c != nil && !c.dormant {
			fds = append(fds, c.pollFDs()...)
		}
	}
	w, err := newPollWaiter(fds)
	if err != nil {
		return err
	}
	e.wt = w
	return nil
}

// pollFDs are the descriptors the loop's waiter watches for c.
func (c *conn) pollFDs() []int {
	var fds []int
	switch sk := c.sk.(type) {
	case fdSock:
		fds = append(fds, int(sk))
	case *pktSock:
		fds = append(fds, int(sk.raw.(fdSock)), pktFD(sk.pkt))
	}
	if c.ring != nil {
		fds = append(fds, c.ring.fd)
	}
	return fds
}

// newEngine applies the defaults and draws the secret and id; no sockets.
func newEngine(cfg Config) *Engine {
	cfg.defaults()
	e := &Engine{cfg: cfg, start: time.Now(), clock: time.Now}
	var rnd [18]byte
	_, _ = rand.Read(rnd[:])
	if e.cfg.Secret == (wire.Secret{}) {
		copy(e.cfg.Secret[:], rnd[:16])
	}
	e.id = cfg.ID
	if e.id == 0 {
		e.id = binary.BigEndian.Uint16(rnd[16:]) | 1
	}
	return e
}

// attach installs c as the socket of family f (0 IPv4, 1 IPv6) with its
// batch buffers.
func (e *Engine) attach(f int, c *conn) {
	newConnBuffers(c, e.cfg.Batch, template(c.kind, e.id, keyID(e.cfg.Key)))
	e.conns[f] = c
}

// open opens the best sockets the process may (see Config.Proto).
func (e *Engine) open() error {
	cfg := e.cfg
	kinds := []Socket{SocketRaw, SocketPing, SocketUDP}
	switch {
	case cfg.Socket != SocketInvalid:
		kinds = []Socket{cfg.Socket}
	case cfg.Proto == ProtoICMP:
		kinds = []Socket{SocketRaw, SocketPing}
	case cfg.Proto == ProtoUDP:
		kinds = []Socket{SocketUDP}
	}
	var why []string
	var lastErr error
	for _, k := range kinds {
		opened := 0
		for f, want := range [2]bool{cfg.IPv4, cfg.IPv6} {
			if !want {
				continue
			}
			c, err := openConn(f == 1, k, &e.cfg, e.id)
			if err != nil {
				lastErr = err
				if f == 0 || opened == 0 {
					why = append(why, fmt.Sprintf("%s: %v", k, err))
				}
				continue
			}
			e.attach(f, c)
			opened++
		}
		if opened > 0 {
			r := reason(k, why, e.bestTS())
			if cfg.Socket != SocketInvalid {
				r = "chosen by configuration: " + r
			}
			e.mode = Mode{Socket: k, Timestamps: e.bestTS(), Reason: r, TX: TXRaw, RX: RXRaw}
			e.deferV6()
			for f, c := range e.conns {
				if c == nil || c.dormant || k != SocketRaw || cfg.TX == TXRaw {
					continue
				}
				ok, note, err := e.setupTX(f, c)
				if err != nil {
					e.Close()
					return err
				}
				if ok {
					e.mode.TX = TXPacket
				}
				e.mode.Reason += "; " + note
			}
			if err := e.openRing(); err != nil {
				e.Close()
				return err
			}
			return nil
		}
		if lastErr != nil && !isPerm(lastErr) && k != SocketRaw {
			break
		}
	}
	hint := ""
	if lastErr != nil && isPerm(lastErr) {
		hint = fmt.Sprintf(" (raw ICMP needs CAP_NET_RAW: setcap cap_net_raw+ep hb-probe; ping sockets need the group in net.ipv4.ping_group_range, now %q; or use --proto udp)", pingGroupRange())
	}
	return fmt.Errorf("prober: no usable socket: %w%s", lastErr, hint)
}

// openRing gives each raw ICMP socket a TPACKET_V3 receive ring (rx =
// auto or ring): replies then come from the ring and the raw socket is
// muted. It fails only when rx = ring and a ring cannot open.
func (e *Engine) openRing() error {
	if e.cfg.RX == RXRaw {
		return nil
	}
	var opened []string
	for f, c := range e.conns {
		if c == nil || c.dormant || c.socket != SocketRaw {
			continue
		}
		fam := [2]string{"IPv4", "IPv6"}[f]
		if err := e.setupRing(c); err != nil {
			if e.cfg.RX == RXRing {
				return fmt.Errorf("prober: rx = ring (%s): %w", fam, err)
			}
			e.mode.Reason += fmt.Sprintf("; %s replies from the raw socket (receive ring unavailable: %v)", fam, err)
			continue
		}
		opened = append(opened, fam)
	}
	if len(opened) > 0 {
		e.mode.RX = RXRing
		e.mode.Reason += "; " + strings.Join(opened, " and ") + ringText
	}
	return nil
}

const ringText = " replies from TPACKET_V3 rings on AF_PACKET sockets (kernel BPF reply filter, receive stamps in the frame headers, no system call per packet)"

// setupTX gives raw socket c (family f) the AF_PACKET transmit path. It
// returns whether it did and the Mode text saying so (or why not); the
// error only when tx = packet requires it.
func (e *Engine) setupTX(f int, c *conn) (bool, string, error) {
	ps, err := newPktSock(int(c.sk.(fdSock)), &e.cfg, icmpProbeLen, f == 1)
	switch {
	case err == nil:
		ps.stats = &e.stats
		c.sk = ps
		return true, ps.describe(), nil
	case e.cfg.TX == TXPacket:
		return false, "", fmt.Errorf("prober: tx = packet: %w", err)
	}
	return false, fmt.Sprintf("%s probes through the raw socket (AF_PACKET transmit unavailable: %v)", [2]string{"IPv4", "IPv6"}[f], err), nil
}

// setupRing gives raw socket c a receive ring and mutes the socket.
func (e *Engine) setupRing(c *conn) error {
	r, err := newRxRing(c.v6, e.id)
	if err != nil {
		return err
	}
	raw := c.sk
	if ps, ok := raw.(*pktSock); ok {
		raw = ps.raw
	}
	if fd, ok := raw.(fdSock); ok {
		if err = muteRaw(int(fd), c.v6); err != nil {
			r.close()
			return err
		}
	}
	c.ring = r
	return nil
}

// deferV6 makes a dual-stack engine's raw IPv6 socket dormant when its
// AF_PACKET path and receive ring are optional (tx and rx auto or raw):
// they open with the first list that has an IPv6 target (wakeV6), so a
// daemon probing only IPv4 does not keep a second packet socket, ring
// (whose retire timer fires 250 times a second) and netlink subscription
// polled every 20 ms. A dormant socket is neither watched nor read
// (nothing was sent on it: only strays could arrive).
func (e *Engine) deferV6() {
	c := e.conns[1]
	if c == nil || e.conns[0] == nil || c.socket != SocketRaw || e.cfg.TX == TXPacket || e.cfg.RX == RXRing ||
		(e.cfg.TX == TXRaw && e.cfg.RX == RXRaw) {
		return
	}
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return
	}
	e.netns = ns
	c.dormant = true
	e.mode.Reason += "; the IPv6 socket's AF_PACKET path and receive ring open with the first IPv6 target"
}

// wakeV6 opens the dormant IPv6 socket's AF_PACKET path and receive ring
// (as New would have, in New's network namespace) and has the waiter
// watch it. Each part that cannot open leaves the raw socket doing its
// work, as in New with tx and rx auto; Mode's reason says so.
func (e *Engine) wakeV6() {
	c := e.conns[1]
	var notes []string
	open := func() {
		if e.cfg.TX != TXRaw {
			_, note, _ := e.setupTX(1, c)
			notes = append(notes, note)
		}
		if e.cfg.RX != RXRaw {
			if err := e.setupRing(c); err != nil {
				notes = append(notes, fmt.Sprintf("IPv6 replies from the raw socket (receive ring unavailable: %v)", err))
			} else {
				notes = append(notes, "IPv6"+ringText)
			}
		}
	}
	ran := make(chan bool, 1)
	netnsGo(e.netns, open, func(ok bool) { ran <- ok })
	if !<-ran {
		open() // no thread could join New's namespace: this one's
	}
	e.netns.Close()
	e.netns = nil
	c.dormant = false
	if w, ok := e.wt.(*pollWaiter); ok {
		w.add(c.pollFDs())
	}
	note := "IPv6 opened: " + strings.Join(notes, "; ")
	e.lateNote.Store(&note)
}

func keyID(k *wire.Key) uint8 {
	if k == nil {
		return 0
	}
	return k.ID
}

func (e *Engine) bestTS() TSMethod {
	m := TSKernelTxRx
	for _, c := range e.conns {
		if c != nil && c.ts > m {
			m = c.ts
		}
	}
	return m
}

func reason(k Socket, why []string, ts TSMethod) string {
	var s string
	switch k {
	case SocketRaw:
		s = "raw ICMP sockets open (CAP_NET_RAW)"
	case SocketPing:
		s = "unprivileged ICMP ping sockets (net.ipv4.ping_group_range allows this group)"
		if len(why) > 0 {
			s = "no CAP_NET_RAW; " + s
		}
	case SocketUDP:
		s = "UDP HBQ1 probes to the responder port"
		if len(why) > 0 {
			s = "no CAP_NET_RAW and ping sockets refused; UDP HBQ1 probes only (needs hb-responder)"
		}
	}
	switch ts {
	case TSKernelTxRx:
		s += "; RTT from kernel TX+RX timestamps (SO_TIMESTAMPING)"
	case TSKernelRx:
		s += "; RTT from kernel RX timestamps (SO_TIMESTAMPNS) and the send clock"
	default:
		s += "; RTT from the process clock"
	}
	return s
}

// Mode says which sockets and timestamps the engine uses, and why.
func (e *Engine) Mode() Mode {
	m := e.mode
	if n := e.lateNote.Load(); n != nil {
		m.Reason += "; " + *n
	}
	return m
}

// ID is the ICMP identifier of this engine's probes (ping sockets rewrite
// it on the wire).
func (e *Engine) ID() uint16 { return e.id }

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	st := e.stats.snapshot()
	for _, h := range e.shards {
		st.add(h.stats.snapshot())
	}
	return st
}

// SetTargets replaces the target set (SetTargetFunc with generation 0).
func (e *Engine) SetTargets(ts []Target) {
	e.SetTargetFunc(0, len(ts), func(i int) Target { return ts[i] })
}

// SetTargetFunc replaces the target set with n targets, target i being
// at(i), called before it returns (the engine keeps the address, ID and
// legacy flag of each: 28 bytes a target outside the Go heap, no copy of
// the Targets). Results of the new list carry gen (Result.Gen) and each
// target's ID. Run picks the list up within a loop turn; probes in
// flight to addresses still present keep their results (with the new
// index, ID and gen), those to removed addresses are dropped.
func (e *Engine) SetTargetFunc(gen uint64, n int, at func(i int) Target) {
	l := newTargetList(gen, n, at)
	e.targets.Swap(l).release() // a list the loop never picked up
	if e.closed.Load() {
		e.targets.Swap(nil).release() // Close may have passed already
	}
	if e.wt != nil {
		e.wt.wake()
	}
}

// errClosed is Run's and Once's error after Close.
var errClosed = errors.New("prober: engine closed")

// Close stops a running Run or Once (it returns within a loop turn),
// waits for it, then closes the sockets. It is safe to call from any
// goroutine but the loop's own (not from Run's or Once's callbacks), and
// more than once.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	// Every close runs on its own goroutine: closing an AF_PACKET socket
	// waits for an RCU grace period (packet_release), and a sweep's
	// shards hold several such sockets; one after another they held
	// --once's exit for tens of milliseconds.
	errs := make([]error, len(e.shards)+1)
	var wg sync.WaitGroup
	for i, h := range e.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = h.Close()
		}()
	}
	errs[0] = e.closeOwn()
	wg.Wait()
	return errors.Join(errs...)
}

// closeOwn stops this engine's loop and closes its own sockets (not the
// shards'), concurrently.
func (e *Engine) closeOwn() error {
	if e.wt != nil {
		e.wt.wake()
	}
	e.running.Lock()
	defer e.running.Unlock()
	var closers []func() error
	for i, c := range e.conns {
		if c != nil {
			closers = append(closers, c.sk.close)
			if c.ring != nil {
				closers = append(closers, c.ring.close)
			}
			c.freeBuffers() // the loop is stopped: nothing uses them
			e.conns[i] = nil
		}
	}
	e.targets.Swap(nil).release()
	if e.netns != nil {
		e.netns.Close()
		e.netns = nil
	}
	errs := make([]error, len(closers)+1)
	var wg sync.WaitGroup
	for i, f := range closers[min(1, len(closers)):] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = f()
		}()
	}
	if len(closers) > 0 {
		errs[0] = closers[0]()
	}
	wg.Wait()
	if e.wt != nil {
		errs = append(errs, e.wt.close())
	}
	return errors.Join(errs...)
}

// Run probes the current target set (SetTargets) every Config.Interval,
// spread over the interval, until ctx ends. fn sees every result from the
// engine's goroutine; the *Result is valid only during the call, and fn
// must return quickly.
func (e *Engine) Run(ctx context.Context, fn func(*Result)) error { return e.RunTurns(ctx, fn, nil) }

// RunTurns is Run that also calls endTurn, on the engine's goroutine, at
// the end of every loop turn in which fn was called (before the loop
// sleeps) and when Run returns: a caller that gathers the results fn sees
// can hand them on once per turn (monitor: one wake-up of the table's
// writer a turn). Every result fn sees is followed by an endTurn call.
func (e *Engine) RunTurns(ctx context.Context, fn func(*Result), endTurn func()) error {
	e.running.Lock()
	defer e.running.Unlock()
	l := e.targets.Swap(nil)
	if l == nil {
		l = &targetList{free: func() {}}
	}
	return e.loop(ctx, l, loopOpts{interval: e.cfg.Interval, spread: true, jitter: e.cfg.Jitter, endTurn: endTurn}, fn)
}

// Once probes targets opts.Count times each and returns one summary per
// target, in order. It waits for the last probe's timeout.
func (e *Engine) Once(ctx context.Context, targets []Target, opts OnceOptions) ([]Summary, error) {
	e.running.Lock()
	defer e.running.Unlock()
	if opts.Count <= 0 {
		opts.Count = 1
	}
	if opts.Period <= 0 {
		opts.Period = time.Second
	}
	sums := make([]Summary, len(targets))
	for i := range targets {
		sums[i].Target = &targets[i]
	}
	done := 0
	lastProg := time.Time{}
	fn := func(r *Result) {
		if r.Target < 0 || r.Target >= len(sums) {
			return
		}
		s := &sums[r.Target]
		s.Add(r)
		if s.Sent == opts.Count {
			done++
		}
		if opts.OnResult != nil {
			opts.OnResult(r)
		}
		if opts.Progress != nil {
			if now := time.Now(); now.Sub(lastProg) >= 100*time.Millisecond || done == len(sums) {
				lastProg = now
				opts.Progress(done, len(sums))
			}
		}
	}
	lo := loopOpts{interval: opts.Period, limit: opts.Count, timeout: opts.Timeout}
	k := len(e.shards) + 1
	if k == 1 || len(targets) < k*minShardTargets || e.cfg.Rate > 0 {
		// One loop: few targets, or a global rate one bucket must keep.
		return sums, e.loop(ctx, listOf(targets), lo, fn)
	}
	// Shards: contiguous slices of the targets, one loop each on its own
	// sockets and thread; results are serialised into fn with their
	// global index.
	var mu sync.Mutex
	wrap := func(off int) func(*Result) {
		return func(r *Result) {
			r.Target += off
			mu.Lock()
			fn(r)
			mu.Unlock()
		}
	}
	errs := make([]error, k)
	var wg sync.WaitGroup
	per := (len(targets) + k - 1) / k
	for i := 1; i < k; i++ {
		from, to := min(i*per, len(targets)), min((i+1)*per, len(targets))
		h := e.shards[i-1]
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.running.Lock()
			defer h.running.Unlock()
			errs[i] = h.loop(ctx, listOf(targets[from:to]), lo, wrap(from))
		}()
	}
	errs[0] = e.loop(ctx, listOf(targets[:min(per, len(targets))]), lo, wrap(0))
	wg.Wait()
	return sums, errors.Join(errs...)
}

// minShardTargets is the fewest targets per shard worth a second loop.
const minShardTargets = 2048

type loopOpts struct {
	interval time.Duration
	jitter   time.Duration
	spread   bool
	limit    int           // fires per target; 0 forever (Run)
	timeout  time.Duration // 0: Config.Timeout
	endTurn  func()        // nil: none (RunTurns)
}

func (e *Engine) mono(t time.Time) int64 { return int64(t.Sub(e.start)) }

// listOf is the target list of ts (Once).
func listOf(ts []Target) *targetList {
	return newTargetList(0, len(ts), func(i int) Target { return ts[i] })
}

// setTargets makes l the loop's list (freeing the one it replaces). Probes
// in flight keep their results when the new list has their address: they
// are re-pointed at its index.
func (e *Engine) setTargets(l *targetList) {
	old := e.list
	e.list, e.tt = l, l.tt
	if c := e.conns[1]; c != nil && c.dormant && l.has6 {
		e.wakeV6()
	}
	if old == nil {
		return
	}
	defer old.release()
	// Re-point in-flight probes at the new indices: the same index when
	// the target stayed in place (a reload that changed other lines),
	// else through an index of the new list, made at the first miss.
	var idx map[[16]byte]int32
	for _, c := range e.conns {
		if c == nil {
			continue
		}
		for i, t := 0, c.inf.tail; i < c.inf.busy; i, t = i+1, t+1 {
			s := c.inf.at(t)
			if j := s.target; j >= 0 && int(j) < len(l.tt) && l.tt[j].addr == s.addr {
				s.id = l.tt[j].id
				continue
			}
			if idx == nil {
				idx = make(map[[16]byte]int32, len(l.tt))
				for j := range l.tt {
					idx[l.tt[j].addr] = int32(j)
				}
			}
			if j, ok := idx[s.addr]; ok {
				s.target, s.id = j, l.tt[j].id
			} else if s.state == slotPending {
				s.state = slotDropped
			}
		}
	}
}

// dropTargets ends the loop's list: probes still pending are dropped
// (their indices name nothing in a later loop's list) and the list is
// freed.
func (e *Engine) dropTargets() {
	for _, c := range e.conns {
		if c == nil {
			continue
		}
		for i, t := 0, c.inf.tail; i < c.inf.busy; i, t = i+1, t+1 {
			if s := c.inf.at(t); s.state == slotPending {
				s.state = slotDropped
			}
		}
	}
	e.list.release()
	e.list, e.tt = nil, nil
}

func (e *Engine) loop(ctx context.Context, l *targetList, o loopOpts, fn func(*Result)) error {
	if e.closed.Load() {
		l.release()
		return errClosed
	}
	stop := context.AfterFunc(ctx, e.wt.wake)
	defer stop()
	// RunTurns: endTurn follows every turn that produced results, and
	// the loop's end.
	called := false
	if end := o.endTurn; end != nil {
		inner := fn
		fn = func(r *Result) {
			called = true
			inner(r)
		}
		defer func() {
			if called {
				end()
			}
		}()
	}
	e.setTargets(l)
	defer e.dropTargets()
	e.timeout = e.cfg.Timeout
	if o.timeout > 0 {
		e.timeout = o.timeout
	}
	now := e.clock()
	seed := binary.LittleEndian.Uint64(e.cfg.Secret[:8])
	wheel := NewWheel(WheelConfig{Targets: len(l.tt), Interval: o.interval, Jitter: o.jitter, Spread: o.spread, Limit: o.limit, Seed: seed}, now)
	defer func() { wheel.Free() }() // the wheel of the last list
	// Run waits for full batches (up to its linger) and, with kernel RX
	// timestamps, reads replies on its own schedule (naps of up to two
	// lingers) rather than on every one that arrives: see lingerFor.
	coalesce := o.limit == 0
	linger := e.lingerFor(len(l.tt), o.interval, o.jitter)
	// The global --rate limit, whole batches (see pacer).
	pacer := newOncePacer(e.cfg.Rate, e.cfg.Batch)
	if coalesce {
		pacer = newRunPacer(e.cfg.Rate, e.cfg.Batch, 2*linger)
	}
	backoff := Backoff{Min: time.Millisecond, Max: 100 * time.Millisecond}
	var backoffUntil time.Time
	e.queue = e.queue[:0]
	e.qhead = 0
	due := make([]int, 0, 1024)
	var qsince time.Time  // when the oldest probe still queued fell due
	var nextDue time.Time // the wheel's next due time when the loop went to sleep
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		if e.closed.Load() {
			return errClosed
		}
		// Run takes a new list (SetTargetFunc); Once leaves it for Run.
		// Load first: no atomic write a turn. Swap may still find none
		// (SetTargetFunc after Close drops it).
		if p := e.targets.Load(); o.limit == 0 && p != nil {
			if p = e.targets.Swap(nil); p == nil {
				continue
			}
			e.setTargets(p)
			now = e.clock()
			wheel.Free()
			wheel = NewWheel(WheelConfig{Targets: len(p.tt), Interval: o.interval, Jitter: o.jitter, Spread: o.spread, Seed: seed}, now)
			if l := e.lingerFor(len(p.tt), o.interval, o.jitter); l != linger {
				linger = l
				pacer.setBurstWindow(2 * linger)
			}
			e.queue, e.qhead = e.queue[:0], 0
		}
		now = e.clock()
		e.sweep(now, fn)
		due = wheel.Due(now, due[:0])
		if len(due) > 0 && e.qhead == len(e.queue) {
			qsince = now
			if !nextDue.IsZero() && nextDue.Before(now) {
				qsince = nextDue // slept past it on purpose (below)
			}
		}
		for _, i := range due {
			e.queue = append(e.queue, int32(i))
		}
		// Send what the pacer allows, a whole batch at a time; Run sends
		// a partial batch only once its oldest probe has waited its
		// linger.
		for e.qhead < len(e.queue) && !now.Before(backoffUntil) &&
			(!coalesce || len(e.queue)-e.qhead >= e.cfg.Batch || now.Sub(qsince) >= linger) {
			n := pacer.take(now, min(len(e.queue)-e.qhead, e.cfg.Batch))
			if n == 0 {
				break
			}
			sent, berr := e.sendBatch(now, n, fn)
			if berr {
				e.stats.enobufs.Add(1)
				backoffUntil = now.Add(backoff.Fail())
				break
			}
			backoff.OK()
			if sent == 0 {
				break // stalled: every slot busy
			}
			// Read between batches so a burst of replies (and of TX
			// timestamps) never piles up past the socket buffers.
			for _, c := range e.conns {
				if c != nil {
					e.drainErr(c, fn)
					e.receive(c, fn)
				}
			}
			now = e.clock()
		}
		if e.qhead == len(e.queue) {
			e.queue, e.qhead = e.queue[:0], 0
		}
		e.drainErrQueues(fn)
		// Done (Once)?
		if o.limit > 0 && wheel.Remaining() == 0 && e.qhead == len(e.queue) && !e.anyPending() {
			return nil
		}
		if called {
			called = false
			o.endTurn()
		}
		// Sleep until the next event: a due target, pacer tokens, the
		// oldest deadline, a reply, or a wake (cancel, SetTargets, Close).
		wait := time.Second
		lingering := coalesce && e.qhead < len(e.queue) && len(e.queue)-e.qhead < e.cfg.Batch
		nextDue = time.Time{}
		if t, ok := wheel.Next(); ok && !lingering {
			nextDue = t
			if coalesce {
				// Run sleeps through the first due probe's linger: one
				// wake-up then collects and sends what fell due meanwhile.
				t = t.Add(linger)
			}
			wait = min(wait, t.Sub(now))
		}
		if e.qhead < len(e.queue) {
			w := pacer.wait(now, min(len(e.queue)-e.qhead, e.cfg.Batch), len(e.queue)-e.qhead)
			if now.Before(backoffUntil) {
				w = max(w, backoffUntil.Sub(now))
			}
			if lingering {
				w = max(w, qsince.Add(linger).Sub(now))
			}
			wait = min(wait, w)
		}
		if d, ok := e.nextDeadline(); ok {
			wait = min(wait, time.Duration(d-e.mono(now)))
		}
		wait = max(wait, 0)
		var err error
		// The nap: up to two lingers without watching the sockets when
		// every socket stamps replies in the kernel (the RTT does not
		// depend on when a reply is read): replies then wait in the
		// socket until the next batch, deadline or due probe, and are
		// read many per recvmmsg (or ring walk) rather than one per
		// wake-up. Longer sleeps (few targets) wake on replies so
		// results stay prompt.
		if coalesce && wait <= 2*linger && e.kernelRx() {
			err = e.wt.nap(wait)
		} else {
			err = e.wt.wait(wait)
		}
		if err != nil {
			return err
		}
		for _, c := range e.conns {
			if c != nil {
				e.drainErr(c, fn)
				e.receive(c, fn)
			}
		}
	}
}

// batchLinger is how long Run lets due probes wait for a full batch, at
// least (its linger, lingerFor). Due probes trickle out of the wheel a few
// per 1 ms slot (10 a slot at 10,000/s), and a loop woken by every reply
// sent them a few per sendmmsg: the syscalls' fixed cost was most of the
// daemon's CPU. A probe leaving up to 10 ms late is far inside its jitter
// (interval/20).
const batchLinger = 10 * time.Millisecond

// maxLinger is the longest Run lingers: where the firings' jitter is at
// least 20 times that (intervals of 10 s and more) and a turn's probes
// fit in turnProbes. Each loop turn costs the same whatever it sends (the
// wake-up, the Go scheduler handing the thread over, the table writer's
// and the sinks' wake-ups): at 10,000 probes a second a 10 ms linger made
// ~95 turns a second, a 25 ms one ~40 (the daemon's CPU at 100k targets
// every 10 s: 18.6-19.0 % of a core before, 15.8-16.7 % with it). Not
// longer: sparse replies last ringSpan (256 ms) in a receive ring unread,
// and a nap of two lingers plus the Go scheduling latencies measured with
// GOMAXPROCS=1 (60-170 ms) must stay inside it.
const maxLinger = 25 * time.Millisecond

// turnProbes is the most probes a lingering turn collects: the loop's
// longest sleep (2 lingers, see lingerFor) must leave the replies that
// arrive meanwhile room in a receive ring (~3,000 frames) or socket
// buffer. At 10,000 probes a second it allows 51 ms; at 100,000 (1M
// targets every 10 s) 5 ms, and the linger is batchLinger, as it was.
const turnProbes = 512

// lingerFor is Run's linger for targets every interval, firings moved by
// up to jitter: jitter/20, at most maxLinger and turnProbes at the loop's
// rate (the targets' or Config.Rate, the lower), at least batchLinger. A
// probe leaves up to a linger after it fell due, and with kernel stamps
// the loop sleeps up to two lingers (its nap) without reading replies, so
// results reach the table up to that much later (the RTTs, from the
// kernel's stamps, are the same). The deadlines are not lingered: a
// probe's timeout is swept when it falls due.
func (e *Engine) lingerFor(targets int, interval, jitter time.Duration) time.Duration {
	l := min(jitter/20, maxLinger)
	rate := 0.0
	if interval > 0 {
		rate = float64(targets) / interval.Seconds()
	}
	if e.cfg.Rate > 0 {
		rate = min(rate, float64(e.cfg.Rate))
	}
	if rate > 0 {
		l = min(l, time.Duration(turnProbes/rate*float64(time.Second)))
	}
	return max(l, batchLinger)
}

// kernelRx reports whether every open socket stamps replies in the kernel.
func (e *Engine) kernelRx() bool {
	for _, c := range e.conns {
		if c != nil && c.ts != TSKernelTxRx && c.ts != TSKernelRx {
			return false
		}
	}
	return true
}

func (e *Engine) anyPending() bool {
	for _, c := range e.conns {
		if c != nil && c.inf.pending() {
			return true
		}
	}
	return false
}

func (e *Engine) nextDeadline() (int64, bool) {
	best, ok := int64(0), false
	for _, c := range e.conns {
		if c == nil {
			continue
		}
		for i, t := 0, c.inf.tail; i < c.inf.busy; i, t = i+1, t+1 {
			if s := c.inf.at(t); s.state == slotPending {
				if d := s.deadline + c.hold(); !ok || d < best {
					best, ok = d, true
				}
				break
			}
		}
	}
	return best, ok
}

func (e *Engine) sweep(now time.Time, fn func(*Result)) {
	m := e.mono(now)
	for _, c := range e.conns {
		if c == nil {
			continue
		}
		c.inf.sweep(m-c.hold(), func(seq uint16, s *slot) {
			e.stats.timeouts.Add(1)
			r := e.newResult(s, seq)
			r.Outcome = OutcomeTimeout
			fn(r)
		})
	}
}

func (e *Engine) newResult(s *slot, seq uint16) *Result {
	r := &e.res
	*r = Result{Target: int(s.target), Addr: s.slotAddr(), Seq: seq, Gen: e.list.gen}
	if int(s.target) < len(e.tt) {
		r.ID = int(s.id)
	}
	tx := s.txKern
	if tx == 0 {
		tx = s.txUser
	}
	r.Sent = time.Unix(0, tx)
	return r
}

// tokenFor returns the access token for a probe to addr now: bound to the
// target's address, so it is computed per probe (zeros without a key).
func (e *Engine) tokenFor(now time.Time, addr netip.Addr) *wire.Token {
	if e.cfg.Key != nil {
		e.token = e.cfg.Key.Token(now.UnixNano(), addr)
	}
	return &e.token
}

// sendBatch sends up to n queued probes. It returns how many left the
// queue and whether the kernel pushed back (ENOBUFS/EAGAIN).
func (e *Engine) sendBatch(now time.Time, n int, fn func(*Result)) (int, bool) {
	var cnt [2]int
	taken := 0
	// Read the batch's target entries first, in a loop of independent
	// loads: the CPU overlaps their cache misses (the queue is in the
	// wheel's order, scattered over the list), which the loop below, with
	// its work between them, took one after the other (half of
	// sendBatch's own samples in the daemon).
	var fams uint8
	for _, ti := range e.queue[e.qhead:min(e.qhead+n, len(e.queue))] {
		if int(ti) < len(e.tt) {
			fams |= e.tt[ti].fam
		}
	}
	e.fams = fams
	for ; taken < n && e.qhead < len(e.queue); taken++ {
		ti := e.queue[e.qhead]
		if int(ti) >= len(e.tt) {
			e.qhead++
			continue
		}
		t := &e.tt[ti]
		var c *conn
		why := errBadAddr
		if t.fam != famBad {
			c, why = e.conns[t.fam], errNoFamily
		}
		if c == nil {
			// No socket for this family, or not an address to probe:
			// a send error.
			e.qhead++
			e.stats.sendErrors.Add(1)
			r := &e.res
			*r = Result{Target: int(ti), ID: int(t.id), Gen: e.list.gen, Addr: t.ip(), Sent: now, Outcome: OutcomeSendError, Err: why}
			fn(r)
			continue
		}
		seq, ok := c.inf.alloc()
		if !ok {
			e.stats.stalls.Add(1)
			break
		}
		k := cnt[t.fam]
		cnt[t.fam]++
		c.txSeq[k], c.txTgt[k] = seq, ti
		h := &c.txMsg[k].Hdr
		// The sockaddr is built per probe rather than kept per target
		// (32 bytes a target: 32 MB at 1M targets).
		c.txSa[k], h.Namelen = sockaddr(t.ip(), e.port())
		h.Name = &c.txSa[k][0]
		e.qhead++
	}
	pushed := false
	txUser := now.UnixNano()
	mono := e.mono(now)
	for f, c := range e.conns {
		m := cnt[f]
		if c == nil || m == 0 {
			continue
		}
		for k := range m {
			seq, ti := c.txSeq[k], c.txTgt[k]
			t := &e.tt[ti]
			a := t.ip()
			w := wireTime(txUser, seq)
			ck := wire.Cookie(&e.cfg.Secret, a, e.id, seq, w)
			patchProbe(c.tx[k], c.kind, seq, ck, w, e.tokenFor(now, a))
			s := c.inf.at(seq)
			*s = slot{addr: t.addr, cookie: ck, txUser: txUser, deadline: mono + int64(e.timeout), target: ti, id: t.id, state: slotPending, legacy: t.legacy}
		}
		off := 0
		for off < m {
			ps, _ := c.sk.(*pktSock)
			if ps != nil {
				// Each frame's target, whose entry caches its hop: lent
				// for this call only, so the socket never holds a list
				// the loop has freed (a reload, the loop's end).
				ps.setTargets(e.tt)
				ps.hint = c.txTgt[off:m]
			}
			sent, err := c.sk.sendmmsg(c.txMsg[off:m])
			if ps != nil {
				ps.setTargets(nil)
				ps.hint = nil
			}
			if sent > 0 {
				for k := off; k < off+sent; k++ {
					c.inf.tskey[uint16(c.inf.ids)] = c.txSeq[k]
					c.inf.ids++
				}
				e.stats.sent.Add(uint64(sent))
				if c.ts == TSKernelTxRx {
					c.unstamped += sent
				}
				off += sent
				continue
			}
			if err == unix.ENOBUFS || err == unix.EAGAIN || err == unix.ENOMEM {
				// Put the unsent probes back at the head of the queue and
				// free their slots (they were the last allocated).
				for k := m - 1; k >= off; k-- {
					c.inf.unalloc()
				}
				e.requeue(c.txTgt[off:m])
				pushed = true
				break
			}
			// A hard error for message off: report it, go on with the rest.
			s := c.inf.at(c.txSeq[off])
			s.state = slotAnswered
			e.stats.sendErrors.Add(1)
			r := e.newResult(s, c.txSeq[off])
			r.Outcome, r.Err = OutcomeSendError, os.NewSyscallError("sendmmsg", err)
			fn(r)
			off++
		}
	}
	return taken, pushed
}

var errNoFamily = errors.New("no socket for this address family")

func (e *Engine) requeue(ts []int32) {
	if e.qhead >= len(ts) {
		e.qhead -= len(ts)
		copy(e.queue[e.qhead:], ts)
		return
	}
	q := append(append([]int32(nil), ts...), e.queue[e.qhead:]...)
	e.queue, e.qhead = q, 0
}

func (e *Engine) drainErrQueues(fn func(*Result)) {
	for _, c := range e.conns {
		if c != nil {
			e.drainErr(c, fn)
		}
	}
}

// drainErr reads the error queue: TX timestamps, and (ping and UDP
// sockets) ICMP errors. A raw socket's queue holds only its TX stamps
// (no IP_RECVERR), which the kernel queues while sendmmsg sends: it is
// read only while some are owed (conn.unstamped), not on every loop
// turn (the daemon made eight recvmmsg calls per batch sent, seven of
// them on an empty queue).
func (e *Engine) drainErr(c *conn, fn func(*Result)) { e.readErrQueue(c, fn, false) }

// readErrQueue is drainErr; force reads a raw socket's queue even when
// no stamp is owed (a reply whose probe has none yet: a stamp the kernel
// queued late).
func (e *Engine) readErrQueue(c *conn, fn func(*Result), force bool) {
	stampsOnly := c.socket == SocketRaw
	if stampsOnly && c.unstamped == 0 && !force {
		return
	}
	ps, _ := c.sk.(*pktSock)
	if ps != nil {
		ps.forceErr = force
		defer func() { ps.forceErr = false }()
	}
	for {
		c.eq.reset()
		n, err := c.sk.recvmmsg(c.eq.msg, unix.MSG_ERRQUEUE)
		if err != nil || n == 0 {
			c.unstamped = 0 // none queued: those owed are lost, or late (force)
			return
		}
		c.unstamped = max(c.unstamped-n, 0)
		for i := range n {
			b, ctl, _ := c.eq.data(i)
			cm := parseCmsgs(ctl)
			if !cm.hasErr {
				continue
			}
			switch cm.err.origin {
			case eeOriginTimestamping:
				if cm.err.info == scmTstampSnd && cm.ts != 0 {
					e.txStamp(c, b, cm)
				}
			case eeOriginICMP, eeOriginICMP6:
				e.queuedICMPError(c, b, cm, fn)
			case eeOriginLocal:
				// e.g. EMSGSIZE; nothing to match.
			}
		}
		if n < len(c.eq.msg) {
			c.unstamped = 0
			return
		}
		if stampsOnly && c.unstamped == 0 {
			return
		}
	}
}

// txStamp records a kernel TX timestamp. The packet, when the kernel
// returns it, ends with our probe (its link and network headers vary), so
// its seq and cookie are read from the tail; else the OPT_ID key maps to
// the seq.
func (e *Engine) txStamp(c *conn, b []byte, cm cmsgInfo) {
	var seq uint16
	plen := len(c.tx[0])
	if len(b) >= plen {
		p := b[len(b)-plen:]
		off := 0
		if c.kind != kindUDP {
			seq = binary.BigEndian.Uint16(p[6:])
			off = icmpHdrLen
		}
		ck, w, ok := probeCookie(p[off:])
		if !ok {
			return
		}
		if c.kind == kindUDP {
			seq = uint16(w)
		}
		if s := c.inf.at(seq); s.cookie != ck || wireTime(s.txUser, seq) != w {
			return
		}
	} else {
		if c.inf.ids-cm.err.data > 1<<15 {
			return // too old to trust the key ring
		}
		seq = c.inf.key(cm.err.data)
	}
	s := c.inf.at(seq)
	if s.txKern == 0 && (s.state == slotPending || s.state == slotAnswered) && cm.ts >= s.txUser-int64(time.Millisecond) {
		s.txKern = cm.ts
		e.stats.txStamps.Add(1)
	}
}

// queuedICMPError handles an ICMP error from the error queue (ping and
// UDP sockets): the data is our probe as sent, the offender the router.
func (e *Engine) queuedICMPError(c *conn, b []byte, cm cmsgInfo, fn func(*Result)) {
	var seq uint16
	payload := b
	if c.kind != kindUDP {
		if len(b) < icmpHdrLen {
			e.stats.unmatched.Add(1)
			return
		}
		seq = binary.BigEndian.Uint16(b[6:])
		payload = b[icmpHdrLen:]
	}
	ck, w, ok := probeCookie(payload)
	if c.kind == kindUDP {
		if !ok {
			e.stats.unmatched.Add(1)
			return
		}
		seq = uint16(w)
	}
	s := c.inf.at(seq)
	// The queued error does not name the destination; the cookie binds it.
	s2, v := c.inf.match(seq, s.slotAddr(), ck, w, ok)
	e.finishError(c, s2, seq, v, cm.err.typ, cm.err.code, cm.err.offender, fn)
}

func (e *Engine) finishError(c *conn, s *slot, seq uint16, v verdict, typ, code uint8, from netip.Addr, fn func(*Result)) {
	if v != vFresh {
		e.count(v)
		return
	}
	e.stats.icmpErrors.Add(1)
	r := e.newResult(s, seq)
	r.Outcome = OutcomeICMPError
	r.ICMPType, r.ICMPCode, r.From = typ, code, from
	fn(r)
}

func (e *Engine) count(v verdict) {
	switch v {
	case vDuplicate:
		e.stats.duplicates.Add(1)
	case vLate:
		e.stats.late.Add(1)
	case vBadCookie:
		e.stats.badCookie.Add(1)
	case vWrongSrc:
		e.stats.wrongSrc.Add(1)
	case vNoCookie, vHBM2Refused, vDowngrade:
		e.stats.countRefused(v)
	default:
		e.stats.unmatched.Add(1)
	}
}

// hold is how long past a probe's deadline the loop waits for it: a
// ring may hold a reply received in time for up to ringHold.
func (c *conn) hold() int64 {
	if c.ring != nil {
		return int64(ringHold)
	}
	return 0
}

// receiveRing reads the replies the receive ring holds (see rxRing).
func (e *Engine) receiveRing(c *conn, fn func(*Result)) {
	userNow := int64(0)
	n := c.ring.drain(func(f *ringFrame) {
		var pkt []byte
		var src, dst netip.Addr
		var ok bool
		if c.v6 {
			pkt, src, ok = ringIPv6(f.pkt)
			ok = ok && f.pktType == packetHost && f.proto == etherTypeIP6
			if ok {
				dst = netip.AddrFrom16([16]byte(f.pkt[24:40]))
			}
		} else {
			pkt, ok = ringIPv4(f.pkt)
			ok = ok && f.pktType == packetHost && f.proto == etherTypeIP4
			if ok {
				dst = netip.AddrFrom4([4]byte(pkt[16:20]))
			}
		}
		if !ok {
			e.stats.unmatched.Add(1)
			return
		}
		if userNow == 0 {
			userNow = time.Now().UnixNano()
		}
		// PACKET_HOST is the link-layer destination only: on a host
		// that forwards, replies routed through it for other machines
		// arrive here too. Only those addressed to one of this host's
		// addresses are what a raw socket would have seen.
		ts := f.ts
		if ts == 0 {
			ts = userNow
		}
		if c.ring.local != nil && !c.ring.local.local(dst, ts) {
			e.stats.rxRingNotLocal.Add(1)
			return
		}
		e.handle(c, pkt, src, cmsgInfo{ts: f.ts}, userNow, fn)
	})
	if n > 0 {
		e.stats.received.Add(uint64(n))
		e.stats.rxRing.Add(uint64(n))
	}
	if d := c.ring.dropped; d > 0 {
		e.stats.rxRingDrops.Add(d)
		c.ring.dropped = 0
	}
}

// receive reads replies in batches until the socket is empty.
func (e *Engine) receive(c *conn, fn func(*Result)) {
	if c.dormant {
		return
	}
	c.noLate = false
	if c.ring != nil {
		e.receiveRing(c, fn)
		return
	}
	for range 64 { // bounded, so sending is not starved
		c.rx.reset()
		n, err := c.sk.recvmmsg(c.rx.msg, 0)
		if err != nil || n == 0 {
			return
		}
		userNow := e.clock().UnixNano()
		e.stats.received.Add(uint64(n))
		for i := range n {
			b, ctl, src := c.rx.data(i)
			e.handle(c, b, src, parseCmsgs(ctl), userNow, fn)
		}
		if n < len(c.rx.msg) {
			return
		}
	}
}

// handle matches one received packet and emits its result.
func (e *Engine) handle(c *conn, b []byte, src netip.Addr, cm cmsgInfo, userNow int64, fn func(*Result)) {
	var p rxPacket
	switch {
	case c.kind == kindUDP:
		p = rxPacket{class: pktReply, src: src.Unmap(), payload: b}
	case c.v6:
		p = parseICMP6(b, src)
	case c.socket == SocketRaw:
		p = parseIPv4(b)
	default:
		p = parseICMP4(b, src)
	}
	if p.class == pktOther || (c.socket == SocketRaw && p.id != e.id) {
		e.stats.unmatched.Add(1)
		return
	}
	ck, w, has := probeCookie(p.payload)
	if c.kind == kindUDP {
		if !has || !wire.IsReply(p.payload) {
			e.stats.unmatched.Add(1)
			return
		}
		p.seq = uint16(w)
	}
	if p.class == pktError {
		s, v := c.inf.match(p.seq, p.dst, ck, w, has)
		e.finishError(c, s, p.seq, v, p.icmpType, p.icmpCode, p.src, fn)
		return
	}
	s, v := c.inf.matchReply(p.seq, p.src, p.payload, &replyPolicy{key: e.cfg.Key, acceptClear: e.cfg.AcceptClear})
	if v != vFresh {
		e.count(v)
		return
	}
	if c.ring != nil && cm.ts != 0 && cm.ts-s.txUser > int64(e.timeout) {
		// Received after the deadline, read only within ringHold: a
		// timeout and a late reply, as with the raw socket's reader.
		s.state = slotExpired
		e.stats.timeouts.Add(1)
		e.stats.late.Add(1)
		r := e.newResult(s, p.seq)
		r.Outcome = OutcomeTimeout
		fn(r)
		return
	}
	e.stats.matched.Add(1)
	r := e.newResult(s, p.seq)
	r.Outcome = OutcomeOK
	rx := cm.ts
	if s.txKern == 0 && c.ts == TSKernelTxRx && !c.noLate {
		// The TX stamp may still sit in the error queue (once a pass
		// when none is there: see conn.noLate).
		e.readErrQueue(c, fn, true)
		c.noLate = s.txKern == 0
		r = e.newResult(s, p.seq)
		r.Outcome = OutcomeOK
	}
	switch {
	case rx != 0 && s.txKern != 0:
		r.Method, r.RTT = TSKernelTxRx, time.Duration(rx-s.txKern)
	case rx != 0:
		r.Method, r.RTT = TSKernelRx, time.Duration(rx-s.txUser)
		if c.ts == TSKernelTxRx {
			e.stats.txMissing.Add(1)
		}
	default:
		rx = userNow
		r.Method, r.RTT = TSUser, time.Duration(userNow-s.txUser)
	}
	decodeHealth(r, p.payload, e.cfg.Key, rx, e.cfg.StaleAfter)
	e.stats.countHealth(r)
	fn(r)
}
