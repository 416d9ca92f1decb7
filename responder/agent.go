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
	SetTokens(t [2]wire.Token) error
	SetAddrs(addrs []netip.Addr) error
	Counters() (bpf.Counters, error)
}

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
}

// Agent samples health, encodes (and seals) it, and publishes it to the
// Sink and to the userspace responders; it keeps the token and address
// maps current and writes the status file.
type Agent struct {
	cfg  AgentConfig
	coll *Collector
	seal *wire.Sealer // boot id, generation, sealing: no nonce ever repeats
	sink Sink         // nil in userspace-only mode
	log  *slog.Logger

	blob atomic.Pointer[[]byte] // the current blob, for the userspace responders

	mu     sync.Mutex // guards status and udp
	status Status
	udp    func() UDPCounters

	lastMinute uint64
	addrs      []netip.Addr
	lastAddrs  time.Time
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
	c, err := NewCollector()
	if err != nil {
		return nil, err
	}
	seal, err := wire.NewSealer(cfg.Key, rand.Reader)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, coll: c, seal: seal, sink: sink, log: cfg.Logger}
	a.status = Status{PID: os.Getpid(), Version: cfg.Version, Started: time.Now().UTC(), UDPPort: cfg.UDPPort, UserspaceOnly: sink == nil, HBM2: cfg.HBM2}
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

// Step takes one sample at now and publishes it; it refreshes the tokens
// when the minute changed and the addresses when AddrInterval passed.
func (a *Agent) Step(ctx context.Context, now time.Time) error {
	if a.sink != nil {
		if err := a.syncTokens(now); err != nil {
			return err
		}
		if now.Sub(a.lastAddrs) >= a.cfg.AddrInterval {
			if err := a.syncAddrs(); err != nil {
				return err
			}
			a.lastAddrs = now
		}
	}
	h := a.coll.Sample(ctx, now)
	blob := make([]byte, wire.BlobSize)
	if err := a.seal.Encode(blob, &h); err != nil {
		return err
	}
	var hbm2 []byte
	if a.cfg.HBM2 {
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

func (a *Agent) syncTokens(now time.Time) error {
	if a.cfg.Key == nil {
		return nil
	}
	m := wire.EpochMinute(now.UnixNano())
	if m == a.lastMinute {
		return nil
	}
	if err := a.sink.SetTokens(a.cfg.Key.ValidTokens(now.UnixNano())); err != nil {
		return err
	}
	a.lastMinute = m
	return nil
}

func (a *Agent) syncAddrs() error {
	addrs, err := LocalAddrs()
	if err != nil {
		return fmt.Errorf("list local addresses: %w", err)
	}
	if slices.Equal(addrs, a.addrs) {
		return nil
	}
	if err := a.sink.SetAddrs(addrs); err != nil {
		return err
	}
	a.log.Info("local addresses", "count", len(addrs), "addrs", addrs)
	a.addrs = addrs
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

// Run samples and publishes every Interval until ctx is done. A failing
// step is logged and retried at the next tick.
func (a *Agent) Run(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		now := time.Now()
		if err := a.Step(ctx, now); err != nil {
			a.log.Error("publish health", "err", err)
		}
		if err := a.WriteStatus(now); err != nil {
			a.log.Warn("write status file", "path", a.cfg.StatusPath, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
