// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/wire"
)

// Sink is where the agent publishes: the loaded eBPF program's maps
// (*bpf.Objects), or nothing in userspace-only mode.
type Sink interface {
	Publish(blob, hbm2 []byte) error
	SetLocal(local []bpf.Local, bcast []netip.Addr) error
	SetIfaces(ifs []bpf.Iface) error
	Counters() (bpf.Counters, error)
}

// Clock is the agent's time source (tests inject one).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// AgentConfig configures an Agent.
type AgentConfig struct {
	Interval     time.Duration // between samples; 0 means 1s
	AddrInterval time.Duration // between local-address syncs; 0 means 2s
	Key          *wire.Key     // seal blobs and require tokens; nil: clear blobs
	HBM2         bool
	StatusPath   string // "" : no status file
	Version      string
	UDPPort      uint16
	Logger       *slog.Logger
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// LocalNet reads the host's addresses and interfaces; nil means
	// LocalNet (tests inject a fixed one).
	LocalNet func() (Net, error)
}

// Agent samples health, encodes (and seals) it, and publishes it to the
// Sink and to the userspace responders; it keeps the token and address
// maps current and writes the status file.
type Agent struct {
	cfg  AgentConfig // Key, HBM2, Interval and UDPPort change only through Reconfigure
	coll *Collector
	seal atomic.Pointer[wire.Sealer] // boot id, generation, sealing: no nonce ever repeats
	sink Sink                        // nil in userspace-only mode
	log  *slog.Logger

	hbm2     atomic.Bool
	interval atomic.Int64  // ns
	wake     chan struct{} // Reconfigure: sample now

	blob atomic.Pointer[[]byte] // the current blob, for the userspace responders

	mu     sync.Mutex // guards status and udp
	status Status
	udp    func() UDPCounters

	keyMu      sync.Mutex // guards net, lastMinute and cfg.Key (the key loop, Step, Reconfigure)
	net        Net
	haveNet    bool
	lastMinute uint64
}

// NewAgent returns an agent publishing to sink (nil: userspace only).
func NewAgent(cfg AgentConfig, sink Sink) (*Agent, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.AddrInterval <= 0 {
		cfg.AddrInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.LocalNet == nil {
		cfg.LocalNet = LocalNet
	}
	c, err := NewCollector()
	if err != nil {
		return nil, err
	}
	seal, err := wire.NewSealer(cfg.Key, rand.Reader)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, coll: c, sink: sink, log: cfg.Logger, wake: make(chan struct{}, 1)}
	a.seal.Store(seal)
	a.hbm2.Store(cfg.HBM2)
	a.interval.Store(int64(cfg.Interval))
	a.status = Status{PID: os.Getpid(), Version: cfg.Version, Started: cfg.Clock.Now().UTC(), UDPPort: cfg.UDPPort, UserspaceOnly: sink == nil, HBM2: cfg.HBM2}
	if cfg.Key != nil {
		a.status.KeyID = cfg.Key.ID
	}
	return a, nil
}

// Blob returns the current blob, or nil before the first sample.
func (a *Agent) Blob() []byte {
	if p := a.blob.Load(); p != nil {
		return *p
	}
	return nil
}

// SetInterfaces records the attachment state shown by the status file.
func (a *Agent) SetInterfaces(s []IfaceState) {
	a.mu.Lock()
	a.status.Interfaces = slices.Clone(s)
	a.mu.Unlock()
}

// SetUDPCounters gives the agent the userspace UDP responder's counters.
func (a *Agent) SetUDPCounters(f func() UDPCounters) {
	a.mu.Lock()
	a.udp = f
	a.mu.Unlock()
}

// Step takes one sample at now and publishes it. The first step also
// syncs the network and the tokens (Run keeps them current after that).
func (a *Agent) Step(ctx context.Context, now time.Time) error {
	if a.sink != nil {
		a.keyMu.Lock()
		first := !a.haveNet
		a.keyMu.Unlock()
		if first {
			if err := a.SyncNet(now); err != nil {
				return err
			}
		}
	}
	h := a.coll.Sample(ctx, now)
	blob := make([]byte, wire.BlobSize)
	if err := a.seal.Load().Encode(blob, &h); err != nil {
		return err
	}
	var hbm2 []byte
	if a.hbm2.Load() {
		hbm2 = wire.AppendHBM2(nil, HBM2(&h))
	}
	if a.sink != nil {
		if err := a.sink.Publish(blob, hbm2); err != nil {
			return err
		}
	}
	a.blob.Store(&blob)
	a.mu.Lock()
	a.status.LastPublish = now.UTC()
	a.status.Generation = h.Generation
	a.mu.Unlock()
	return nil
}

// SyncNet reads the host's interfaces and addresses and, when they
// changed, gives them (with their tokens for now) to the program.
func (a *Agent) SyncNet(now time.Time) error {
	if a.sink == nil {
		return nil
	}
	n, err := a.cfg.LocalNet()
	if err != nil {
		return fmt.Errorf("list local addresses: %w", err)
	}
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.haveNet && n.Equal(a.net) {
		return nil
	}
	if err := a.sink.SetIfaces(n.Ifaces); err != nil {
		return err
	}
	if err := a.setLocal(n, now); err != nil {
		return err
	}
	a.log.Info("local addresses", "count", len(n.Addrs), "addrs", n.Addrs, "interfaces", len(n.Ifaces))
	a.net, a.haveNet = n, true
	return nil
}

// SyncTokens puts the tokens valid at now (previous, current and next
// minute, for each local address) in the program's map when the minute
// changed. Run calls it at every minute boundary, whatever the sampling
// interval: the next minute's tokens are in the map a whole minute ahead
// of it, and the previous minute's a whole minute after.
func (a *Agent) SyncTokens(now time.Time) error {
	if a.sink == nil {
		return nil
	}
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.cfg.Key == nil || !a.haveNet || wire.EpochMinute(now.UnixNano()) == a.lastMinute {
		return nil
	}
	return a.setLocal(a.net, now)
}

// setLocal writes n's addresses with their tokens at now. keyMu is held.
func (a *Agent) setLocal(n Net, now time.Time) error {
	local := make([]bpf.Local, len(n.Addrs))
	for i, ad := range n.Addrs {
		local[i].Addr = ad
		if a.cfg.Key != nil {
			local[i].Tokens = a.cfg.Key.ValidTokens(now.UnixNano(), ad)
		}
	}
	if err := a.sink.SetLocal(local, n.Bcast); err != nil {
		return err
	}
	a.lastMinute = wire.EpochMinute(now.UnixNano())
	return nil
}

// SameKey reports whether a and b are the same key (id and secret; both
// nil counts as the same): a reload that re-reads an unchanged key file
// keeps the sealer and its boot id.
func SameKey(a, b *wire.Key) bool {
	if a == nil || b == nil {
		return a == b
	}
	probe := netip.IPv6Loopback()
	return a.ID == b.ID && a.Token(0, probe) == b.Token(0, probe)
}

// Reload is what a reload (SIGHUP) may change in a running agent.
type Reload struct {
	Key      *wire.Key // nil: clear blobs, no tokens
	HBM2     bool
	Interval time.Duration // 0 means 1s
	UDPPort  uint16
}

// Reconfigure applies r to the running agent. A changed key gets a new
// sealer (a new boot id: generations start again at 1 and the (key,
// nonce) pairs of the new key cannot repeat either) and the new key's
// tokens go into the program's map at once. The next sample is taken at
// once and then every r.Interval. The caller reconfigures the program
// (key id, HBM v2, UDP port) itself.
func (a *Agent) Reconfigure(now time.Time, r Reload) error {
	if r.Interval <= 0 {
		r.Interval = time.Second
	}
	a.keyMu.Lock()
	if !SameKey(r.Key, a.cfg.Key) {
		seal, err := wire.NewSealer(r.Key, rand.Reader)
		if err != nil {
			a.keyMu.Unlock()
			return err
		}
		a.cfg.Key = r.Key
		a.seal.Store(seal)
		if a.sink != nil && a.haveNet {
			if err := a.setLocal(a.net, now); err != nil {
				a.keyMu.Unlock()
				return err
			}
		}
	}
	a.keyMu.Unlock()
	a.hbm2.Store(r.HBM2)
	a.interval.Store(int64(r.Interval))
	a.mu.Lock()
	a.status.KeyID = 0
	if r.Key != nil {
		a.status.KeyID = r.Key.ID
	}
	a.status.HBM2, a.status.UDPPort = r.HBM2, r.UDPPort
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return nil
}

// WriteStatus writes the status file now (no-op without a path).
func (a *Agent) WriteStatus(now time.Time) error {
	if a.cfg.StatusPath == "" {
		return nil
	}
	a.mu.Lock()
	s := a.status
	s.Interfaces = slices.Clone(a.status.Interfaces)
	udp := a.udp
	a.mu.Unlock()
	s.Updated = now.UTC()
	if a.sink != nil {
		if c, err := a.sink.Counters(); err == nil {
			s.Counters = c
		}
	}
	if udp != nil {
		s.UDP = udp()
	}
	return WriteStatus(a.cfg.StatusPath, &s)
}

// Run samples and publishes every Interval until ctx is done; beside it,
// a second loop keeps the network (every AddrInterval) and the tokens (at
// every minute boundary) current. A failing step is logged and retried.
func (a *Agent) Run(ctx context.Context) error {
	clk := a.cfg.Clock
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		a.keyLoop(ctx)
	}()
	for {
		now := clk.Now()
		if err := a.Step(ctx, now); err != nil {
			a.log.Error("publish health", "err", err)
		}
		if err := a.WriteStatus(now); err != nil {
			a.log.Warn("write status file", "path", a.cfg.StatusPath, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-clk.After(time.Duration(a.interval.Load())):
		}
	}
}

// keyLoop wakes at each minute boundary to turn the tokens over, and every
// AddrInterval to look for address changes.
func (a *Agent) keyLoop(ctx context.Context) {
	if a.sink == nil {
		return
	}
	clk := a.cfg.Clock
	addrTick := clk.After(a.cfg.AddrInterval)
	for {
		now := clk.Now()
		boundary := now.Truncate(time.Minute).Add(time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-clk.After(boundary.Sub(now)):
			if err := a.SyncTokens(clk.Now()); err != nil {
				a.log.Error("update tokens", "err", err)
			}
		case <-addrTick:
			if err := a.SyncNet(clk.Now()); err != nil {
				a.log.Error("update local addresses", "err", err)
			}
			addrTick = clk.After(a.cfg.AddrInterval)
		}
	}
}
