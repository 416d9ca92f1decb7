// SPDX-License-Identifier: MIT

package checks

import (
	"container/heap"
	"context"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
)

// Source runs the tcp and http checks of the table: an obs.Source.
//
// One scheduler goroutine keeps a min-heap of due times and sleeps on one
// timer until the earliest; due checks go to a fixed pool of workers
// (config concurrency). A check still running when it is due again is
// skipped (and counted), so a slow or blackholed target never piles up
// work. An idle check is a heap entry: no goroutine, timer or socket.
type Source struct {
	cfg    config.Checks
	prober *Prober
	log    *slog.Logger

	mu      sync.Mutex // guards pending and the wake-up below
	pending *schedule  // set by SetChecks, taken by the scheduler
	wake    chan struct{}

	stats Stats
}

// Stats are the source's counters, totals since it was made.
type Stats struct {
	Run     atomic.Uint64 // checks run
	Skipped atomic.Uint64 // due while the previous run was still going
	Invalid atomic.Uint64 // checks rejected by ParseProbe at SetChecks
	Running atomic.Int64  // checks running now
}

// New returns a Source for the [checks] section c (config.DefaultChecks
// for defaults). log may be nil.
func New(c config.Checks, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.Concurrency < 1 {
		c.Concurrency = 1
	}
	return &Source{
		cfg:    c,
		prober: NewProber(ProberConfig{MaxBodyBytes: c.MaxBodyBytes}),
		log:    log,
		wake:   make(chan struct{}, 1),
	}
}

// Name implements obs.Source.
func (s *Source) Name() string { return "checks" }

// Kinds implements obs.Source.
func (s *Source) Kinds() []obs.Kind { return []obs.Kind{obs.KindTCP, obs.KindHTTP} }

// Stats returns the live counters.
func (s *Source) Stats() *Stats { return &s.stats }

// Prober is the prober the source runs checks with (the /probe handler
// shares it).
func (s *Source) Prober() *Prober { return s.prober }

// entry is one scheduled check.
type entry struct {
	id       int
	key      string // identity across generations: keeps the phase on reload
	probe    *Probe
	interval time.Duration
	due      time.Time
	running  *atomic.Bool // shared with the previous generation's entry
	idx      int          // heap index
}

type schedule struct {
	gen     uint64
	entries []*entry
}

// SetChecks implements obs.Source. Checks that do not parse are logged
// and left out (the targets parser validates them first, so this is a
// second line of defence).
func (s *Source) SetChecks(gen uint64, checks []obs.Check) {
	sc := &schedule{gen: gen}
	for _, c := range checks {
		if c.Spec.Kind != obs.KindTCP && c.Spec.Kind != obs.KindHTTP {
			continue
		}
		p, err := ParseProbe(c.Spec, s.cfg.Timeout.D())
		if err != nil {
			s.stats.Invalid.Add(1)
			s.log.Warn("check left out", "host", c.Spec.Host, "check", c.Spec.Name, "err", err)
			continue
		}
		iv := c.Spec.Interval
		if iv <= 0 {
			iv = s.cfg.Interval.D()
		}
		if iv <= 0 {
			iv = 10 * time.Second
		}
		sc.entries = append(sc.entries, &entry{id: c.ID, key: specKey(c.Spec), probe: p, interval: iv})
	}
	s.mu.Lock()
	s.pending = sc
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func specKey(sp obs.CheckSpec) string {
	var b strings.Builder
	b.WriteString(sp.Host)
	b.WriteByte(0)
	b.WriteString(sp.Name)
	b.WriteByte(0)
	b.WriteString(sp.Target)
	return b.String()
}

// phase is a stable offset in [0, iv) from the check's key, so a fleet's
// checks spread over the interval instead of firing together.
func phase(key string, iv time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(iv))
}

type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *entryHeap) Push(x any)        { e := x.(*entry); e.idx = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type job struct {
	gen uint64
	e   *entry
}

// Run implements obs.Source: it schedules and runs checks until ctx ends,
// then waits for the running ones to finish (each within its timeout).
func (s *Source) Run(ctx context.Context, sink obs.Sink) error {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.stats.Running.Add(1)
				o := s.prober.Run(ctx, j.e.probe)
				s.stats.Running.Add(-1)
				s.stats.Run.Add(1)
				j.e.running.Store(false)
				if ctx.Err() == nil {
					sink.Observe(j.gen, j.e.id, o)
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(jobs)

	var (
		h     entryHeap
		gen   uint64
		timer = time.NewTimer(time.Hour)
		byKey = map[string]*entry{}
	)
	defer timer.Stop()
	for {
		s.mu.Lock()
		sc := s.pending
		s.pending = nil
		s.mu.Unlock()
		if sc != nil {
			gen = sc.gen
			now := time.Now()
			next := make(map[string]*entry, len(sc.entries))
			h = h[:0]
			for _, e := range sc.entries {
				if old := byKey[e.key]; old != nil {
					e.running = old.running
					e.due = old.due
					if e.interval != old.interval {
						e.due = now.Add(phase(e.key, e.interval))
					}
				} else {
					e.running = new(atomic.Bool)
					e.due = now.Add(phase(e.key, e.interval))
				}
				next[e.key] = e
				heap.Push(&h, e)
			}
			byKey = next
		}
		// Dispatch what is due.
		now := time.Now()
		for len(h) > 0 && !h[0].due.After(now) {
			e := h[0]
			e.due = e.due.Add(e.interval)
			if e.due.Before(now) { // fell behind (suspend, overload): skip ahead, keep the phase
				e.due = e.due.Add(now.Sub(e.due).Truncate(e.interval) + e.interval)
			}
			heap.Fix(&h, 0)
			if !e.running.CompareAndSwap(false, true) {
				s.stats.Skipped.Add(1)
				continue
			}
			select {
			case jobs <- job{gen, e}:
			case <-ctx.Done():
				e.running.Store(false)
				return nil
			}
		}
		wait := time.Hour
		if len(h) > 0 {
			wait = time.Until(h[0].due)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}
