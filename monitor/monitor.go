// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/checks"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/push"
	"github.com/hbmon/hb/rtthist"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
	"github.com/hbmon/hb/targets"
)

// Options are what the daemon takes besides its config.
type Options struct {
	// Load re-reads the configuration (defaults < file < flags) on SIGHUP;
	// it returns the config and the file it came from. nil: a reload
	// keeps the config and re-reads only the targets.
	Load func() (config.Probe, string, error)
	// Args are targets given on the command line, one per element, read
	// after the targets file.
	Args []string
	// Stdin is read for targets = "-".
	Stdin io.Reader
	// Log is the logger (default: text on stderr at cfg.LogLevel); Level,
	// when set, is the level a reload adjusts.
	Log   *slog.Logger
	Level *slog.LevelVar
	// Version is reported by /healthz.
	Version string

	// Sources, when not nil, replace the sources built from the config
	// (sources in wiring.go): tests plug their own in. NoStore runs without
	// the history database (tests).
	Sources []obs.Source
	NoStore bool
	// Lookup resolves hostnames (default: the system resolver).
	Lookup targets.LookupFunc
	// Reload, when not nil, triggers reloads instead of SIGHUP (tests).
	Reload <-chan struct{}
	// Queue caps the observations waiting for the writer (DefaultQueue).
	Queue int
	// Listener, when not nil, is the API's (tests); else the API binds
	// cfg.API.Listen before anything starts, and a failed bind is Run's
	// error.
	Listener net.Listener
}

// Monitor is the daemon: sources → writer → table → bus → sinks.
type Monitor struct {
	opts   Options
	log    *slog.Logger
	level  *slog.LevelVar
	lookup targets.LookupFunc

	reloadMu sync.Mutex  // serializes reloads and re-resolutions
	release  *time.Timer // releaseAfter's (gc.go); reloadMu
	startGC  bool        // the start-up's lower GC percent is set (gc.go); reloadMu
	cfg      config.Probe
	cfgPath  string
	targets  *targetList

	table   *state.Table
	bus     *event.Bus
	w       *writer
	sources []obs.Source
	engine  *engineSource // nil when the config has no engine (tests)
	store   *storeWiring
	alerts  *alertWiring   // monitor/alerts.go
	web     *webWiring     // monitor/web.go
	events  *push.EventLog // monitor/push.go; nil without an event log
	ln      net.Listener
	hist    *rtthist.Set       // RTT histograms on /metrics (wiring.go); nil until Run
	probe   *checks.ProbeRoute // /probe, when served (wiring.go)

	registered []obs.CheckSpec // Register's checks, kept across reloads (reloadMu)
	regMu      sync.Mutex      // guards regQ
	regQ       []*regReq       // registrations waiting for a rebuild
	// Registration counters (hb_register_*): checks queued, checks added,
	// table rebuilds they cost.
	regQueued, regApplied, regBatches atomic.Uint64
	resolveCancel                     context.CancelFunc
	closers                           []func()      // run in reverse order after everything stopped
	srcMetrics                        []io.WriterTo // sources' /metrics families (wiring.go)
	srcRoutes                         []api.Route   // sources' API routes (wiring.go)
}

// New loads the targets, builds the table and opens the sources, the
// store and the API listener. Nothing runs until Run; a failed New has
// released what it opened.
func New(ctx context.Context, cfg config.Probe, path string, o Options) (_ *Monitor, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	m := &Monitor{opts: o, cfg: cfg, cfgPath: path, log: o.Log, level: o.Level, lookup: o.Lookup, bus: &event.Bus{}}
	if m.level == nil {
		m.level = new(slog.LevelVar)
		lv, _ := config.ParseLogLevel(cfg.LogLevel)
		m.level.Set(lv)
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: m.level}))
	}
	if m.lookup == nil {
		m.lookup = lookup
	}
	applyGCPercent(cfg.GCPercent, m.log, true)
	m.startGC = lowerGCForStart(cfg.GCPercent, m.log)
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.cfg.API.APIEnabled() || o.Listener != nil {
		m.ln = o.Listener
		if m.ln == nil {
			// Bind first: a port in use or an address that is not local
			// is a failed start (non-zero exit), not a log line.
			if m.ln, err = net.Listen("tcp", m.cfg.API.Listen); err != nil {
				return nil, fmt.Errorf("api: cannot listen on %s: %w", m.cfg.API.Listen, err)
			}
		}
	}
	m.targets, err = m.loadTargets(ctx, &m.cfg)
	if err != nil {
		return nil, err
	}
	m.table, err = state.NewFrom(newHostSpecs(m.targets.hosts), &state.Config{
		FailuresToDown: cfg.FSM.FailuresToDown, SuccessesToUp: cfg.FSM.SuccessesToUp, EWMAAlpha: cfg.FSM.EWMAAlpha,
	})
	if err != nil {
		return nil, err
	}
	// The table holds the hosts now (the store and the sources read them
	// from its view): dropped before the store and the sources allocate.
	m.targets.trim()
	m.w = newWriter(m.table, m.bus, m.log, o.Queue)
	// The store before the sources: the push event log writes through
	// the store's writer (monitor/push.go), so it must close first
	// (closers run in reverse order).
	if !o.NoStore {
		if err := m.openStore(&m.cfg); err != nil {
			return nil, err
		}
		m.closers = append(m.closers, m.closeStore)
		m.restore(ctx)
		m.setStoreHosts(m.table.View())
	}
	if o.Sources != nil {
		m.sources = o.Sources
	} else if m.sources, err = m.buildSources(&m.cfg); err != nil {
		return nil, err
	}
	if err := m.openAlerts(&m.cfg); err != nil {
		return nil, err
	}
	m.closers = append(m.closers, m.closeAlerts)
	if err := m.openWeb(&m.cfg); err != nil {
		return nil, err
	}
	return m, nil
}

// Table is the state table (read it through View).
func (m *Monitor) Table() *state.Table { return m.table }

// Bus is the event bus sinks subscribe to.
func (m *Monitor) Bus() *event.Bus { return m.bus }

// Sink is the obs.Sink every source observes into.
func (m *Monitor) Sink() obs.Sink { return m.w }

// WriterStats are the writer's counters.
func (m *Monitor) WriterStats() WriterStats { return m.w.Stats() }

// Addr is the API's listening address, or nil when the API is off.
func (m *Monitor) Addr() net.Addr {
	if m.ln == nil {
		return nil
	}
	return m.ln.Addr()
}

func (m *Monitor) close() {
	m.reloadMu.Lock()
	if m.release != nil {
		m.release.Stop()
	}
	m.restoreGC()
	m.reloadMu.Unlock()
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	if m.ln != nil && m.opts.Listener == nil {
		m.ln.Close()
	}
}

// Run is New then Monitor.Run: the daemon until ctx ends (SIGINT,
// SIGTERM) or a part fails.
func Run(ctx context.Context, cfg config.Probe, path string, o Options) error {
	m, err := New(ctx, cfg, path, o)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

// Run runs the daemon until ctx ends, then shuts down in order: sources
// stop, the writer applies what is queued, sinks drain and the store
// flushes, then everything closes. It returns the error of a part that
// failed (a source, the API server), nil after a clean stop.
func (m *Monitor) Run(ctx context.Context) error {
	defer m.close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	if m.store != nil {
		m.startStore()
	}
	m.startAlerts()
	m.startWeb(runCtx)
	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); m.w.run(stopWriter) }()

	// Sinks and routes first, then sources.
	errc := make(chan error, len(m.sources)+1)
	var apiWG sync.WaitGroup
	if m.ln != nil {
		srv, err := api.New(api.Config{
			Addr: m.ln.Addr().String(), TokenFile: m.cfg.API.TokenFile, OpenMetrics: m.cfg.API.OpenMetrics, Pprof: m.cfg.API.Pprof,
			Version: m.opts.Version, Routes: m.routes(), Authorize: m.webAuthorize(),
			ExportLabels: m.cfg.Checks.ExportLabels, Collectors: m.collectors(runCtx),
		}, m.table, m.history(), m.engineStats())
		if err != nil {
			close(stopWriter)
			<-writerDone
			return err
		}
		m.log.Info("api", "listen", m.scheme()+"://"+m.ln.Addr().String(), "auth", m.cfg.API.TokenFile != "")
		apiWG.Add(1)
		ln := m.webListener(m.ln)
		m.ln = nil // Serve closes it
		go func() {
			defer apiWG.Done()
			if err := srv.ServeListener(runCtx, ln); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("api: %w", err)
			}
		}()
	} else {
		m.log.Info("api", "listen", "off")
	}

	m.setChecks(m.table.View())
	var srcWG sync.WaitGroup
	for _, s := range m.sources {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			if err := s.Run(runCtx, m.w); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", s.Name(), err)
			}
		}()
	}
	m.reloadMu.Lock()
	m.startResolver(runCtx, m.cfg, m.targets)
	// Once every check has had its first result and its first state
	// change has gone through the sinks: the start-up's peak handed back.
	m.releaseAfter(m.cfg.Interval.D() + m.cfg.Timeout.D() + 2*time.Second)
	m.reloadMu.Unlock()
	m.log.Info("monitoring", "hosts", m.table.View().Len(), "checks", m.table.View().NumChecks(),
		"interval", m.cfg.Interval.String(), "timeout", m.cfg.Timeout.String(), "rate", m.cfg.Rate)

	reload := m.opts.Reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		ch := make(chan struct{})
		go func() {
			for {
				select {
				case <-hup:
					select {
					case ch <- struct{}{}:
					case <-runCtx.Done():
						return
					}
				case <-runCtx.Done():
					return
				}
			}
		}()
		reload = ch
	}
	var runErr error
loop:
	for {
		select {
		case <-reload:
			m.reload(runCtx)
		case err := <-errc:
			runErr = err
			break loop
		case <-runCtx.Done():
			break loop
		}
	}
	m.log.Info("shutting down")
	cancel()
	srcWG.Wait()      // 1. sources stopped: nothing new is observed
	close(stopWriter) // 2. the writer applies what is queued, then stops
	<-writerDone
	apiWG.Wait()
	m.close() // 3. sinks drain, the store flushes and closes
	return runErr
}

// setChecks hands every source its checks of view v: one list per
// source, built at its exact size straight from the view (no per-kind
// lists copied again per source: at 100k checks each copy is ~12 MB).
func (m *Monitor) setChecks(v *state.View) {
	all := v.Checks()
	var served [obs.NumKinds]bool
	for _, s := range m.sources {
		var mine [obs.NumKinds]bool
		for _, k := range s.Kinds() {
			if int(k) < obs.NumKinds {
				mine[k], served[k] = true, true
			}
		}
		n := 0
		for _, c := range all {
			if mine[c.Spec().Kind] {
				n++
			}
		}
		var cs []obs.Check
		if n > 0 {
			cs = make([]obs.Check, 0, n)
			for _, c := range all {
				if mine[c.Spec().Kind] {
					cs = append(cs, obs.Check{ID: c.ID, Spec: c.Spec()})
				}
			}
		}
		s.SetChecks(v.Gen, cs)
	}
	var unserved [obs.NumKinds]int
	for _, c := range all {
		if !served[c.Spec().Kind] {
			unserved[c.Spec().Kind]++
		}
	}
	for k, n := range unserved {
		if n > 0 {
			m.log.Warn("no source serves these checks: they stay unknown", "kind", obs.Kind(k).String(), "checks", n)
		}
	}
}

// applyTargets replaces the table's hosts (on the writer) and the
// sources' checks. reloadMu held.
func (m *Monitor) applyTargets(ctx context.Context, hosts []targets.Host, why string) bool {
	var r state.ReloadResult
	var err error
	specs := newHostSpecs(hosts) // off the writer
	if !m.w.do(ctx, func() {
		if r, err = m.table.ReloadFrom(specs); err == nil {
			// On the writer: the bus has one publisher.
			at := now().UTC()
			m.bus.Publish(event.Event{Type: event.Message, At: at, Level: event.LevelInfo, Source: "hb",
				Text: fmt.Sprintf("targets applied (%s): %d checks added, %d removed, %d kept", why, r.Added, r.Removed, r.Kept)})
			m.w.hostChanges(r.Hosts, at, why)
		}
	}) {
		return false
	}
	if err != nil {
		m.log.Error("targets not applied", "why", why, "err", err)
		return false
	}
	m.setChecks(m.table.View())
	m.relabelHist()
	if m.store != nil {
		m.setStoreHosts(m.table.View())
	}
	m.log.Info("targets applied", "why", why, "hosts", len(hosts), "checks", m.table.View().NumChecks(),
		"added", r.Added, "removed", r.Removed, "kept", r.Kept)
	if r.Added+r.Removed >= releaseChanges {
		m.releaseAfter(m.cfg.Interval.D() + m.cfg.Timeout.D() + 2*time.Second)
	}
	return true
}

// reload re-reads the config file and the targets (SIGHUP). The sockets,
// the store and the state of unchanged checks stay.
func (m *Monitor) reload(ctx context.Context) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.log.Info("SIGHUP: reloading config and targets")
	c, path := m.cfg, m.cfgPath
	if m.opts.Load != nil {
		var err error
		c, path, err = m.opts.Load()
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			m.log.Error("reload: config rejected, keeping the running one", "err", err)
			return
		}
	}
	tl, err := m.loadTargets(ctx, &c)
	if err != nil {
		m.log.Error("reload: targets rejected, keeping the running ones", "err", err)
		return
	}
	tl.hosts = withRegistered(tl.hosts, m.registered)
	if !m.applyTargets(ctx, tl.hosts, "SIGHUP") {
		return // nothing of this reload applies: not its log level nor its gc_percent either
	}
	for _, k := range restartKeys(&m.cfg, &c) {
		m.log.Warn("reload: changed setting takes effect after a restart", "key", k)
	}
	if lv, err := config.ParseLogLevel(c.LogLevel); err == nil {
		m.level.Set(lv)
	}
	applyGCPercent(c.GCPercent, m.log, false)
	m.startGC = false // the reload's gc_percent stands
	m.reloadAlerts(&c)
	m.reloadWeb(&c)
	tl.trim()
	m.cfg, m.cfgPath, m.targets = c, path, tl
	m.startResolver(ctx, c, tl)
}

// restartKeys names the settings that differ between a and b and that a
// reload cannot apply (sockets, engine pacing, database, API listener,
// state machine).
func restartKeys(a, b *config.Probe) []string {
	var out []string
	check := func(key string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, key)
		}
	}
	check("interval", a.Interval, b.Interval)
	check("timeout", a.Timeout, b.Timeout)
	check("rate", a.Rate, b.Rate)
	check("batch", a.Batch, b.Batch)
	check("proto", a.Proto, b.Proto)
	check("udp_port", a.UDPPort, b.UDPPort)
	check("key_file", a.KeyFile, b.KeyFile)
	check("key_id", a.KeyID, b.KeyID)
	check("accept_clear", a.AcceptClear, b.AcceptClear)
	check("no_kernel_tx", a.NoKernelTx, b.NoKernelTx)
	check("tx", a.TX, b.TX)
	check("rx", a.RX, b.RX)
	check("stale_after", a.StaleAfter, b.StaleAfter)
	check("store", a.Store, b.Store)
	check("api", a.API, b.API)
	check("fsm", a.FSM, b.FSM)
	check("web", a.Web, b.Web) // users and the certificate files' contents do reload (monitor/web.go)
	return out
}

// Register adds a check at run time (obs.Registrar): a heartbeat from an
// unknown host, an auto-created pulse. The host is created when new (with
// no address); a check that exists already is returned as is. Every
// source then receives its checks again. A registration costs a table
// rebuild (like a reload), but registrations that arrive together share
// one: each call queues its check, and whichever caller takes the
// registration lock first applies everything queued in one rebuild
// (RegisterBatch does the same for a list).
func (m *Monitor) Register(ctx context.Context, spec obs.CheckSpec) (obs.Check, uint64, error) {
	cs, gen, err := m.RegisterBatch(ctx, []obs.CheckSpec{spec})
	if err != nil {
		return obs.Check{}, 0, err
	}
	return cs[0], gen, nil
}

// regReq is one queued registration; done closes once it is answered.
type regReq struct {
	spec obs.CheckSpec
	out  obs.Check
	gen  uint64
	err  error
	done chan struct{}
}

// RegisterBatch registers specs (obs.BatchRegistrar) in one table rebuild
// shared with every registration queued meanwhile; it returns their
// checks in the order of specs, all in generation gen (or later: take
// each source's SetChecks for the current ids).
func (m *Monitor) RegisterBatch(ctx context.Context, specs []obs.CheckSpec) ([]obs.Check, uint64, error) {
	for _, spec := range specs {
		if spec.Host == "" || spec.Name == "" || spec.Kind == obs.KindInvalid {
			return nil, 0, errors.New("monitor: register: check needs a host, a name and a kind")
		}
	}
	out := make([]obs.Check, len(specs))
	reqs := make([]*regReq, 0, len(specs))
	var at []int // index in specs of each of reqs
	v := m.table.View()
	for i, spec := range specs {
		if c := v.LookupCheck(spec.Host, spec.Name); c != nil {
			out[i] = obs.Check{ID: c.ID, Spec: c.Spec()}
			continue
		}
		reqs = append(reqs, &regReq{spec: spec, done: make(chan struct{})})
		at = append(at, i)
	}
	if len(reqs) == 0 {
		return out, v.Gen, nil
	}
	m.regMu.Lock()
	m.regQ = append(m.regQ, reqs...)
	m.regMu.Unlock()
	m.regQueued.Add(uint64(len(reqs)))

	// Whoever holds reloadMu next applies the whole queue: ours is then
	// either answered already or in the batch we take.
	m.reloadMu.Lock()
	m.regMu.Lock()
	batch := m.regQ
	m.regQ = nil
	m.regMu.Unlock()
	if len(batch) > 0 {
		m.registerQueued(ctx, batch)
	}
	m.reloadMu.Unlock()

	gen := v.Gen
	for k, r := range reqs {
		<-r.done
		if r.err != nil {
			return nil, 0, r.err
		}
		out[at[k]], gen = r.out, max(gen, r.gen)
	}
	// Ids of checks that existed before may have moved with the rebuild.
	if nv := m.table.View(); nv.Gen != v.Gen {
		for i := range out {
			if c := nv.LookupCheck(out[i].Spec.Host, out[i].Spec.Name); c != nil {
				out[i] = obs.Check{ID: c.ID, Spec: c.Spec()}
			}
		}
		gen = nv.Gen
	}
	return out, gen, nil
}

// registerQueued applies queued registrations in one table rebuild and
// answers each. reloadMu held.
func (m *Monitor) registerQueued(ctx context.Context, batch []*regReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	v := m.table.View()
	specs := viewSpecs(v)
	var added []obs.CheckSpec
	var newHosts []store.Host
	fresh := map[string]int{} // hosts this batch creates, by name
	for _, r := range batch {
		sp := r.spec
		i := -1
		if h := v.Lookup(sp.Host); h != nil {
			i = h.ID
		} else if j, ok := fresh[sp.Host]; ok {
			i = j
		} else {
			i = len(specs)
			fresh[sp.Host] = i
			specs = append(specs, state.HostSpec{Name: sp.Host})
			newHosts = append(newHosts, store.Host{Name: sp.Host})
		}
		if !slices.ContainsFunc(specs[i].Checks, func(c obs.CheckSpec) bool { return c.Name == sp.Name }) {
			specs[i].Checks = append(specs[i].Checks, sp)
			added = append(added, sp)
		}
	}
	var err error
	if !m.w.do(ctx, func() {
		var rr state.ReloadResult
		if rr, err = m.table.Reload(specs); err == nil {
			// An added check starts unknown, which the rule does not
			// count: this finds nothing unless the rule changes.
			m.w.hostChanges(rr.Hosts, now().UTC(), "register")
		}
	}) {
		err = ctx.Err()
	}
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("monitor: register: %w", err)
		}
		return
	}
	nv := m.table.View()
	for _, r := range batch {
		c := nv.LookupCheck(r.spec.Host, r.spec.Name)
		if c == nil { // cannot happen: the rebuild added it
			r.err = fmt.Errorf("monitor: register: %s/%s missing after the rebuild", r.spec.Host, r.spec.Name)
			continue
		}
		r.out, r.gen = obs.Check{ID: c.ID, Spec: c.Spec()}, nv.Gen
	}
	m.registered = append(m.registered, added...)
	m.regBatches.Add(1)
	m.regApplied.Add(uint64(len(added)))
	m.setChecks(nv)
	if m.store != nil {
		// The store adds what it is told: only the new hosts and checks.
		m.store.st.SetHosts(newHosts)
		m.store.st.SetChecks(added)
	}
	if len(added) == 1 {
		m.log.Info("check registered", "host", added[0].Host, "check", added[0].Name, "kind", added[0].Kind.String())
	} else {
		m.log.Info("checks registered", "checks", len(added), "hosts", len(newHosts), "table_checks", nv.NumChecks())
	}
}

var _ obs.BatchRegistrar = (*Monitor)(nil)

var _ obs.Registrar = (*Monitor)(nil)

// withRegistered adds the registered checks that hosts lack (a reload
// keeps what was registered at run time; a targets line for the same
// check takes over). hosts' elements are not modified: a host that gains
// a check gets a new Checks slice.
func withRegistered(hosts []targets.Host, reg []obs.CheckSpec) []targets.Host {
	if len(reg) == 0 {
		return hosts
	}
	idx := make(map[string]int, len(hosts))
	for i := range hosts {
		idx[hosts[i].Name] = i
	}
	for _, spec := range reg {
		i, ok := idx[spec.Host]
		if !ok {
			hosts = append(hosts, targets.Host{Name: spec.Host, Pos: "registered"})
			i = len(hosts) - 1
			idx[spec.Host] = i
		}
		if h := &hosts[i]; h.CheckNamed(spec.Name) == nil {
			h.Checks = append(h.Checks[:len(h.Checks):len(h.Checks)], spec)
		}
	}
	return hosts
}

// engineStats returns the API's engine counters source (nil without an
// engine).
func (m *Monitor) engineStats() api.StatsSource {
	if m.engine == nil {
		return nil
	}
	return m.engine.stats
}

// history returns the API's history source (nil without a store).
func (m *Monitor) history() api.HistorySource {
	if m.store == nil {
		return nil
	}
	return historySource{m.store.st}
}
