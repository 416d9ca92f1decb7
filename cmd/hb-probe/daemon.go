package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	hbstate "github.com/hbmon/hb/state" // once.go has a func named state
	"github.com/hbmon/hb/store"
)

// daemonOptions are the flags only daemon mode (and check-config) use.
type daemonOptions struct {
	Config    string        // --config FILE
	DB        string        // --db FILE
	Listen    string        // --listen host:port
	TokenFile string        // --token-file FILE
	Retention time.Duration // --retention
	LogLevel  string        // --log-level
	Shard     string        // --shard k/n
}

func addDaemonFlags(fs *flag.FlagSet, d *daemonOptions) {
	def := config.DefaultProbe()
	fs.StringVar(&d.Config, "config", "", "daemon: config `FILE` (default: $HB_CONFIG, $XDG_CONFIG_HOME/hb, ~/.config/hb, ./, /etc/hb; see docs/operations.md)")
	fs.StringVar(&d.DB, "db", "", "daemon: history database `FILE` (default $STATE_DIRECTORY/hb-probe.db, else $XDG_DATA_HOME/hb/hb-probe.db)")
	fs.StringVar(&d.Listen, "listen", def.API.Listen, "daemon: API and /metrics address host:port ('off': no API)")
	fs.StringVar(&d.TokenFile, "token-file", "", "daemon: bearer token `FILE` the API requires (except /healthz)")
	fs.DurationVar(&d.Retention, "retention", def.Store.Retention.D(), "daemon: keep history this long (0: forever)")
	fs.StringVar(&d.LogLevel, "log-level", def.LogLevel, "daemon: debug, info, warn or error")
	fs.StringVar(&d.Shard, "shard", "", "daemon: probe only shard `k/n` of the targets (stable hash of the name)")
}

// effectiveConfig is defaults < config file < the flags the user set. It
// returns the config and the file it came from ("" = defaults only).
func effectiveConfig(o *options) (config.Probe, string, error) {
	c, path, err := config.LoadProbe(o.Daemon.Config)
	if err != nil {
		return c, path, err
	}
	v := o.visited
	config.Override(v, "targets", &c.Targets, o.Targets)
	config.Override(v, "interval", &c.Interval, config.Duration(o.Interval))
	config.Override(v, "timeout", &c.Timeout, config.Duration(o.Timeout))
	config.Override(v, "count", &c.Count, o.Count)
	config.Override(v, "rate", &c.Rate, o.Rate)
	config.Override(v, "batch", &c.Batch, o.Batch)
	config.Override(v, "proto", &c.Proto, o.Proto)
	config.Override(v, "udp-port", &c.UDPPort, o.UDPPort)
	config.Override(v, "key", &c.KeyFile, o.KeyFile)
	config.Override(v, "key-id", &c.KeyID, o.KeyID)
	config.Override(v, "no-kernel-tx", &c.NoKernelTx, o.NoKernelTx)
	config.Override(v, "max-targets", &c.MaxTargets, o.MaxTargets)
	config.Override(v, "resolve-every", &c.ResolveEvery, config.Duration(o.ResolveEvery))
	config.Override(v, "stale-after", &c.StaleAfter, config.Duration(o.StaleAfter))
	config.Override(v, "shard", &c.Shard, o.Daemon.Shard)
	config.Override(v, "log-level", &c.LogLevel, o.Daemon.LogLevel)
	config.Override(v, "db", &c.Store.DB, o.Daemon.DB)
	config.Override(v, "retention", &c.Store.Retention, config.Duration(o.Daemon.Retention))
	config.Override(v, "listen", &c.API.Listen, o.Daemon.Listen)
	config.Override(v, "token-file", &c.API.TokenFile, o.Daemon.TokenFile)
	return c, path, c.Validate()
}

// probeOptions turns the effective config back into the flag options the
// engine and target helpers of main.go take.
func probeOptions(c *config.Probe, o *options) *options {
	n := *o
	n.Targets, n.Interval, n.Timeout, n.Count = c.Targets, c.Interval.D(), c.Timeout.D(), c.Count
	n.Rate, n.Batch, n.Proto, n.UDPPort = c.Rate, c.Batch, c.Proto, c.UDPPort
	n.KeyFile, n.KeyID, n.NoKernelTx, n.MaxTargets = c.KeyFile, c.KeyID, c.NoKernelTx, c.MaxTargets
	n.ResolveEvery, n.StaleAfter = c.ResolveEvery.D(), c.StaleAfter.D()
	return &n
}

func dbPath(c *config.Probe) (string, error) {
	if c.Store.DB != "" {
		return c.Store.DB, nil
	}
	return store.DefaultPath()
}

// daemon is hb-probe's continuous mode: the engine feeds the state table
// and the store; the API reads the table and the store.
type daemon struct {
	o     *options
	log   *slog.Logger
	level *slog.LevelVar

	cfg      config.Probe // guarded by reloadMu
	cfgPath  string
	reloadMu sync.Mutex

	engine *prober.Engine
	table  *hbstate.Table
	store  *store.Store

	// writeMu makes the engine goroutine (Apply) and reloads (Reload) the
	// table's single writer: they never run at the same time. Readers
	// (API) never take it.
	writeMu sync.Mutex

	healthOK, healthBad atomic.Uint64

	resolveCancel context.CancelFunc // stops the hostname re-resolver of the current targets
}

// runDaemon runs hb-probe continuously until ctx ends (SIGINT, SIGTERM).
func runDaemon(ctx context.Context, o *options) error {
	cfg, path, err := effectiveConfig(o)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	level := new(slog.LevelVar)
	lv, _ := config.ParseLogLevel(cfg.LogLevel)
	level.Set(lv)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if path != "" {
		log.Info("config", "file", path)
	} else {
		log.Info("config", "file", "none found, defaults and flags")
	}
	d := &daemon{o: o, log: log, level: level, cfg: cfg, cfgPath: path}
	return d.run(ctx)
}

func (d *daemon) warn(s string) { d.log.Warn(s) }

// targets loads, resolves and shards the target list of c.
func (d *daemon) targets(ctx context.Context, c *config.Probe) ([]prober.Spec, []prober.Target, error) {
	po := probeOptions(c, d.o)
	if po.Targets == "" && len(po.Args) == 0 {
		return nil, nil, errors.New("no targets: set targets in the config file, or give --targets FILE or addresses as arguments")
	}
	specs, ts, err := loadTargets(ctx, po, os.Stdin, d.warn)
	if err != nil {
		return nil, nil, err
	}
	sh, _ := config.ParseShard(c.Shard)
	if sh.N > 1 {
		kept := ts[:0:0]
		for _, t := range ts {
			if sh.Keep(t.Name) {
				kept = append(kept, t)
			}
		}
		d.log.Info("shard", "shard", sh.String(), "targets", len(kept), "of", len(ts))
		ts = kept
	}
	return specs, ts, nil
}

func hostSpecs(ts []prober.Target) []hbstate.HostSpec {
	hs := make([]hbstate.HostSpec, len(ts))
	for i, t := range ts {
		hs[i] = hbstate.HostSpec{Name: t.Name, Addr: t.Addr, Labels: hbstate.LabelsFromMap(t.Labels)}
	}
	return hs
}

func storeHosts(ts []prober.Target) []store.Host {
	hs := make([]store.Host, len(ts))
	for i, t := range ts {
		hs[i] = store.Host{Name: t.Name, Address: t.Addr.String(), Labels: t.Labels}
	}
	return hs
}

func (d *daemon) run(ctx context.Context) error {
	c := &d.cfg
	specs, ts, err := d.targets(ctx, c)
	if err != nil {
		return err
	}
	ecfg, err := engineConfig(probeOptions(c, d.o))
	if err != nil {
		return err
	}
	d.engine, err = prober.New(ecfg)
	if err != nil {
		return err
	}
	defer d.engine.Close()
	m := d.engine.Mode()
	d.log.Info("probe mode", "socket", m.Socket.String(), "timestamps", m.Timestamps.String(), "reason", m.Reason)
	if m.Socket != prober.SocketRaw {
		d.log.Warn("no raw socket (CAP_NET_RAW missing): probing with " + m.Socket.String() +
			"; run as root or `setcap cap_net_raw+ep` the binary for raw ICMP with kernel timestamps")
	}

	d.table, err = hbstate.New(hostSpecs(ts), &hbstate.Config{
		FailuresToDown: c.FSM.FailuresToDown, SuccessesToUp: c.FSM.SuccessesToUp, EWMAAlpha: c.FSM.EWMAAlpha,
	})
	if err != nil {
		return err
	}

	db, err := dbPath(c)
	if err != nil {
		return err
	}
	ret := c.Store.Retention.D()
	if ret == 0 {
		ret = -1 // forever
	}
	d.store, err = store.Open(db, &store.Options{Retention: ret, Log: d.log})
	if err != nil {
		return err
	}
	defer func() {
		if err := d.store.Close(); err != nil {
			d.log.Error("store close", "err", err)
		}
		st := d.store.Stats()
		d.log.Info("store closed", "committed", st.Committed, "dropped", st.Dropped, "errors", st.Errors)
	}()
	d.log.Info("history", "db", db, "retention", c.Store.Retention.String())
	d.restore(ctx)
	d.store.SetHosts(storeHosts(ts))

	// Everything below stops when runCtx ends; the store closes last.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if c.API.APIEnabled() {
		srv, err := api.New(api.Config{
			Addr: c.API.Listen, TokenFile: c.API.TokenFile, OpenMetrics: c.API.OpenMetrics, Version: version,
		}, d.table, historySource{d.store}, d.engineStats)
		if err != nil {
			return err
		}
		d.log.Info("api", "listen", "http://"+c.API.Listen, "auth", c.API.TokenFile != "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(runCtx); err != nil {
				d.log.Error("api stopped", "err", err)
				cancel()
			}
		}()
	} else {
		d.log.Info("api", "listen", "off")
	}

	d.engine.SetTargets(ts)
	d.startResolver(runCtx, specs, ts, c.ResolveEvery.D())
	d.log.Info("probing", "targets", len(ts), "interval", c.Interval.String(), "timeout", c.Timeout.String(), "rate", c.Rate)
	engineDone := make(chan error, 1)
	go func() { engineDone <- d.engine.Run(runCtx, d.onResult) }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var runErr error
loop:
	for {
		select {
		case <-hup:
			d.reload(runCtx)
		case err := <-engineDone:
			if err != nil && runCtx.Err() == nil {
				runErr = fmt.Errorf("prober: %w", err)
			}
			engineDone = nil
			break loop
		case <-runCtx.Done():
			break loop
		}
	}
	d.log.Info("shutting down")
	cancel()
	if engineDone != nil {
		<-engineDone
	}
	wg.Wait()
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	if err := d.store.Flush(fctx); err != nil {
		d.log.Error("store flush", "err", err)
	}
	return runErr
}

// startResolver re-resolves the hostnames among specs every `every`,
// replacing the targets when an address changed.
func (d *daemon) startResolver(ctx context.Context, specs []prober.Spec, ts []prober.Target, every time.Duration) {
	if d.resolveCancel != nil {
		d.resolveCancel()
		d.resolveCancel = nil
	}
	if every <= 0 || !prober.HasHostnames(specs) {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	d.resolveCancel = cancel
	go prober.Reresolve(rctx, specs, ts, every, lookup, func(nts []prober.Target) {
		d.reloadMu.Lock()
		defer d.reloadMu.Unlock()
		if rctx.Err() != nil {
			return // a SIGHUP reload replaced this target list
		}
		d.applyTargets(nts, "re-resolve")
	}, d.warn)
}

// applyTargets swaps the table and the engine's targets. reloadMu held.
func (d *daemon) applyTargets(ts []prober.Target, why string) {
	d.writeMu.Lock()
	r, err := d.table.Reload(hostSpecs(ts))
	d.writeMu.Unlock()
	if err != nil {
		d.log.Error("targets not applied", "why", why, "err", err)
		return
	}
	d.engine.SetTargets(ts)
	d.store.SetHosts(storeHosts(ts))
	d.log.Info("targets applied", "why", why, "targets", len(ts), "added", r.Added, "removed", r.Removed, "kept", r.Kept)
}

// reload re-reads the config file and the targets (SIGHUP). The sockets,
// the store and the state of unchanged hosts stay.
func (d *daemon) reload(ctx context.Context) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.log.Info("SIGHUP: reloading config and targets")
	c, path, err := effectiveConfig(d.o)
	if err != nil {
		d.log.Error("reload: config rejected, keeping the running one", "err", err)
		return
	}
	specs, ts, err := d.targets(ctx, &c)
	if err != nil {
		d.log.Error("reload: targets rejected, keeping the running ones", "err", err)
		return
	}
	old := d.cfg
	for _, k := range restartKeys(&old, &c) {
		d.log.Warn("reload: changed setting takes effect after a restart", "key", k)
	}
	if lv, err := config.ParseLogLevel(c.LogLevel); err == nil {
		d.level.Set(lv)
	}
	d.cfg, d.cfgPath = c, path
	d.applyTargets(ts, "SIGHUP")
	d.startResolver(ctx, specs, ts, c.ResolveEvery.D())
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
	check("no_kernel_tx", a.NoKernelTx, b.NoKernelTx)
	check("stale_after", a.StaleAfter, b.StaleAfter)
	check("store", a.Store, b.Store)
	check("api", a.API, b.API)
	check("fsm", a.FSM, b.FSM)
	return out
}

// restore puts each configured host back in the state the store last
// recorded for it.
func (d *daemon) restore(ctx context.Context) {
	recs, err := d.store.Hosts(ctx)
	if err != nil {
		d.log.Error("restore: reading host states", "err", err)
		return
	}
	v := d.table.View()
	n := 0
	for _, rec := range recs {
		h := v.Lookup(rec.Name)
		st, ok := hbstate.ParseState(rec.State)
		if h == nil || !ok || st == hbstate.Unknown || h.Spec.Addr.String() != rec.Address {
			continue
		}
		d.writeMu.Lock()
		err := d.table.Restore(h.ID, st, rec.StateSince, rec.Transitions)
		d.writeMu.Unlock()
		if err != nil {
			d.log.Warn("restore", "host", rec.Name, "err", err)
			continue
		}
		n++
	}
	d.log.Info("restored host states", "hosts", n)
}

var obsMethods = [...]obs.Method{
	hbstate.MethodNone:      obs.MethodNone,
	hbstate.MethodKernel:    obs.MethodKernelTxRx,
	hbstate.MethodKernelRX:  obs.MethodKernelRx,
	hbstate.MethodUserspace: obs.MethodUser,
}

var methods = [...]hbstate.Method{
	prober.TSKernelTxRx: hbstate.MethodKernel,
	prober.TSKernelRx:   hbstate.MethodKernelRX,
	prober.TSUser:       hbstate.MethodUserspace,
}

// observation maps an engine result onto the state table's input. Health
// payloads are copied: r is only valid during the callback.
func observation(r *prober.Result, now time.Time) hbstate.Observation {
	ob := hbstate.Observation{At: now}
	switch r.Outcome {
	case prober.OutcomeOK:
		ob.Outcome = hbstate.OK
		ob.RTT = r.RTT
		if int(r.Method) < len(methods) {
			ob.Method = methods[r.Method]
		}
		if r.BlobErr == nil {
			switch r.HealthKind {
			case prober.HealthHBH1:
				h := r.Health
				ob.Health = &h
			case prober.HealthHBM2:
				m := r.HBM2
				ob.HBM2 = &m
			}
		}
	case prober.OutcomeTimeout:
		ob.Outcome = hbstate.Timeout
	case prober.OutcomeICMPError:
		ob.Outcome = hbstate.Error
		ob.ICMPType, ob.ICMPCode, ob.From = r.ICMPType, r.ICMPCode, r.From
		ob.Problem = r.Problem()
	case prober.OutcomeSendError:
		ob.Outcome = hbstate.Error
		ob.Problem = r.Problem()
	}
	return ob
}

// onResult runs on the engine's goroutine for every result: it updates the
// table, queues the store writes and logs transitions. It never blocks on
// I/O (store writes are queued).
func (d *daemon) onResult(r *prober.Result) {
	now := time.Now()
	switch {
	case r.HealthKind != prober.HealthNone && r.BlobErr == nil:
		d.healthOK.Add(1)
	case r.BlobErr != nil:
		d.healthBad.Add(1)
	}
	ob := observation(r, now)
	if ob.Outcome == 0 {
		return
	}
	d.writeMu.Lock()
	h := d.table.View().LookupAddr(r.Addr)
	if h == nil { // removed by a reload while in flight
		d.writeMu.Unlock()
		return
	}
	ch, err := d.table.Apply(h.ID, ob)
	d.writeMu.Unlock()
	if err != nil {
		return
	}
	name := h.Spec.Name
	check, kind := "icmp", obs.KindICMP
	if d.engine.Mode().Socket == prober.SocketUDP {
		check, kind = "udp", obs.KindUDP
	}
	o := &obs.Observation{At: now, RTT: ob.RTT, Method: obsMethods[ob.Method], Health: ob.Health, HBM2: ob.HBM2,
		ICMPType: ob.ICMPType, ICMPCode: ob.ICMPCode, From: ob.From, Problem: ob.Problem}
	switch ob.Outcome {
	case hbstate.OK:
		o.Outcome = obs.OK
	case hbstate.Timeout:
		o.Outcome = obs.Timeout
	default:
		o.Outcome = obs.Error
	}
	ev := event.Event{Type: event.Result, At: now, Host: name, Check: check, Kind: kind, Obs: o}
	d.store.Record(ev)
	if ob.Outcome != hbstate.OK {
		ev.Type = event.Problem
		ev.Text = r.Problem()
		d.store.Record(ev)
	}
	if ch.Changed {
		snap := h.Snapshot()
		d.store.Record(event.Event{Type: event.StateChange, At: now, Host: name, Check: check, Kind: kind, Obs: o,
			Old: ch.Old, New: ch.New, HostOld: ch.Old, HostNew: ch.New, Snap: snap})
		lvl := slog.LevelInfo
		if ch.New == hbstate.Down || ch.New == hbstate.Degraded {
			lvl = slog.LevelWarn
		}
		attrs := []any{"host", name, "addr", h.Spec.Addr.String(), "from", ch.Old.String(), "to", ch.New.String()}
		if ob.Outcome != hbstate.OK {
			attrs = append(attrs, "problem", snap.Problem)
		} else {
			attrs = append(attrs, "rtt", ob.RTT.String())
		}
		d.log.Log(context.Background(), lvl, "state change", attrs...)
	}
}

func (d *daemon) engineStats() api.EngineStats {
	s := d.engine.Stats()
	return api.EngineStats{
		Mode:       d.engine.Mode().Socket.String(),
		Sent:       s.Sent,
		Received:   s.Matched,
		Timeouts:   s.Timeouts,
		ICMPErrors: s.ICMPErrors,
		Late:       s.Late,
		Duplicates: s.Duplicates,
		Invalid:    s.BadCookie + s.WrongSrc + s.Unmatched,
		SendErrors: s.SendErrors,
		HealthOK:   d.healthOK.Load(),
		HealthBad:  d.healthBad.Load(),
	}
}

// historySource adapts the store to the API's HistorySource.
type historySource struct{ s *store.Store }

func (h historySource) History(ctx context.Context, host string, from, to time.Time) (api.History, error) {
	rolls, err := h.s.History(ctx, host, from, to)
	if err != nil {
		return api.History{}, err
	}
	trs, err := h.s.StateChanges(ctx, store.Query{Host: host, From: from, To: to, Limit: 10000, HostChanges: true})
	if err != nil {
		return api.History{}, err
	}
	out := api.History{Rollups: make([]api.Rollup, 0, len(rolls)), Changes: make([]api.StateChange, 0, len(trs))}
	f := func(v float64) *float64 { return &v }
	for _, r := range rolls {
		ar := api.Rollup{Minute: r.Minute, Probes: r.Probes, Losses: r.Losses, HealthSeen: r.HealthSamples}
		if r.RTTSamples > 0 {
			ar.RTTMinSec, ar.RTTAvgSec, ar.RTTMaxSec = f(r.RTTMin.Seconds()), f(r.RTTAvg.Seconds()), f(r.RTTMax.Seconds())
		}
		if r.HealthSamples > 0 {
			ar.CPURatio, ar.MemRatio, ar.DiskRatio, ar.Load1 = f(r.CPU/100), f(r.Mem/100), f(r.Disk/100), f(r.Load1)
		}
		out.Rollups = append(out.Rollups, ar)
	}
	for i := len(trs) - 1; i >= 0; i-- { // the store answers newest first
		out.Changes = append(out.Changes, api.StateChange{At: trs[i].At, From: trs[i].HostFrom, To: trs[i].HostTo})
	}
	return out, nil
}

func (h historySource) Problems(ctx context.Context, from, to time.Time, limit int) ([]api.Problem, error) {
	ps, err := h.s.Problems(ctx, store.Query{From: from, To: to, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]api.Problem, 0, len(ps))
	for _, p := range ps {
		ap := api.Problem{At: p.At, Host: p.Host, Detail: p.Detail}
		switch p.Kind {
		case store.KindTimeout:
			ap.Kind = "timeout"
		case store.KindICMPError:
			ap.Kind = "icmp"
			t, c := int(p.ICMPType), int(p.ICMPCode)
			ap.ICMPType, ap.ICMPCode = &t, &c
		default:
			ap.Kind = "error"
		}
		out = append(out, ap)
	}
	return out, nil
}
