// SPDX-License-Identifier: MIT

package monitor

// The place where sources, sinks and API routes are wired in. A package
// that adds a source appends it in buildSources; one that adds a sink
// subscribes to m.bus in startSinks; one that serves endpoints adds its
// api.Routes in routes. Keep each addition to a few lines here.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/checks"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/keyfile"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/rtthist"
	"github.com/hbmon/hb/targets"
	"github.com/hbmon/hb/wire"
)

// buildSources opens the sources the config asks for.
func (m *Monitor) buildSources(c *config.Probe) ([]obs.Source, error) {
	var srcs []obs.Source

	// The prober engine: icmp and udp checks.
	ecfg, err := EngineConfig(c)
	if err != nil {
		return nil, err
	}
	eng, err := prober.New(ecfg)
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, func() { eng.Close() })
	mode := eng.Mode()
	m.log.Info("probe mode", "socket", mode.Socket.String(), "timestamps", mode.Timestamps.String(), "reason", mode.Reason)
	if mode.Socket != prober.SocketRaw {
		m.log.Warn("no raw socket (CAP_NET_RAW missing): probing with " + mode.Socket.String() +
			"; run as root or `setcap cap_net_raw+ep` the binary for raw ICMP with kernel timestamps")
	}
	m.engine = newEngineSource(eng)
	srcs = append(srcs, m.engine)

	// Heartbeats, pulses, the event log and the watchtower API (push/).
	ps, err := m.buildPush(c)
	if err != nil {
		return nil, err
	}
	srcs = append(srcs, ps...)

	// TCP and HTTP(S) checks ([checks]; docs/checks.md).
	cs := checks.New(c.Checks, m.log.With("source", "checks"))
	m.srcMetrics = append(m.srcMetrics, cs)
	srcs = append(srcs, cs)
	return srcs, nil
}

// routes are the endpoints other packages serve on the API listener.
func (m *Monitor) routes() []api.Route {
	rs := append([]api.Route(nil), m.srcRoutes...)
	// Blackbox-style /probe: tcp and http through the checks' prober,
	// icmp through a one-shot prober engine.
	if m.cfg.Checks.ProbeRoute {
		m.probe = checks.NewProbeRoute(m.cfg.Checks, nil, m.icmpOnce)
		rs = append(rs, m.probe.Route())
	}
	rs = append(rs, m.alertRoutes()...) // monitor/alerts.go
	rs = append(rs, m.webRoutes()...)   // the dashboard (monitor/web.go)
	// Other packages' routes go here.
	return rs
}

// validateLine checks the options of a targets line of a source's kind
// (tcp/http: check=, method=, ip=, …), so a bad value is an error naming
// FILE:LINE at load time rather than a check left out later.
func validateLine(l *targets.Line) error {
	if l.Kind != obs.KindTCP && l.Kind != obs.KindHTTP {
		return nil
	}
	sp := obs.CheckSpec{Kind: l.Kind, Target: l.Target, Addr: l.Addr, Timeout: l.Timeout, Params: l.Params}
	if _, err := checks.ParseProbe(sp, time.Second); err != nil {
		return fmt.Errorf("%s: %w", l.Pos, err)
	}
	return nil
}

// icmpOnce probes addr once with a prober engine of its own (the daemon's
// engine runs continuously and cannot interleave a one-shot), opened for
// this request and closed after it: /probe?module=icmp. probe_limit bounds
// how many exist at once.
func (m *Monitor) icmpOnce(ctx context.Context, addr netip.Addr, timeout time.Duration) (obs.Observation, error) {
	cfg, err := EngineConfig(&m.cfg)
	if err != nil {
		return obs.Observation{}, err
	}
	cfg.Timeout = timeout
	eng, err := prober.New(cfg)
	if err != nil {
		return obs.Observation{}, fmt.Errorf("icmp: %w", err)
	}
	defer eng.Close()
	var o obs.Observation
	_, err = eng.Once(ctx, []prober.Target{{Addr: addr, Name: addr.String(), Pos: "/probe"}},
		prober.OnceOptions{Count: 1, Timeout: timeout, OnResult: func(r *prober.Result) { o = observation(r, time.Now()) }})
	if err != nil {
		return obs.Observation{}, fmt.Errorf("icmp: %w", err)
	}
	if o.Outcome == obs.OutcomeInvalid {
		return obs.Observation{}, errors.New("icmp: no result")
	}
	return o, nil
}

// collectors write further families on /metrics: the event bus's and the
// store's counters; other packages append theirs here.
func (m *Monitor) collectors(ctx context.Context) []io.WriterTo {
	cs := append([]io.WriterTo{m.w.Metrics(), m.registerMetrics(), m.bus.Metrics(), m.rttHist(ctx)}, m.srcMetrics...)
	if m.engine != nil {
		cs = append(cs, m.engine.Metrics())
	}
	if m.probe != nil {
		cs = append(cs, m.probe)
	}
	if m.store != nil {
		cs = append(cs, m.store.st.Metrics())
	}
	cs = append(cs, m.alertCollectors()...) // monitor/alerts.go
	if m.web != nil && m.web.srv != nil {
		cs = append(cs, m.web.srv.Metrics()) // monitor/web.go
	}
	return cs
}

// rttHist is the per-check RTT histograms ([checks] rtt_buckets,
// rtt_native_factor, export_labels), fed by the bus until ctx ends.
func (m *Monitor) rttHist(ctx context.Context) io.WriterTo {
	export := m.cfg.Checks.ExportLabels
	m.hist = rtthist.New(rtthist.Config{Buckets: m.cfg.Checks.RTTBuckets, ExportLabels: export, Table: m.table,
		NativeFactor: m.cfg.Checks.RTTNativeFactor,
		Labels: func(host string) []string {
			h := m.table.View().Lookup(host)
			vals := make([]string, len(export))
			for i, k := range export {
				if h != nil {
					vals[i], _ = h.Spec().Labels.Get(k)
				}
			}
			return vals
		}})
	// A batch subscription (one wake-up per batch of results), as large
	// as the store's: it holds only the events waiting.
	sub := m.bus.SubscribeBatch("rtthist", storeQueue, event.Result)
	m.closers = append(m.closers, sub.Close)
	go m.hist.Run(ctx, sub)
	return m.hist
}

// relabelHist drops the histograms of checks no longer configured and
// re-reads exported labels after a reload.
func (m *Monitor) relabelHist() {
	if m.hist == nil {
		return
	}
	v := m.table.View()
	m.hist.Relabel(func(host, check string) bool { return v.LookupCheck(host, check) != nil })
}

// EngineConfig is the prober engine's configuration under c. The engine's
// zero values mean what the config's zeros mean (rate 0: unlimited).
func EngineConfig(c *config.Probe) (prober.Config, error) {
	var proto prober.Proto
	switch c.Proto {
	case "icmp":
		proto = prober.ProtoICMP
	case "udp":
		proto = prober.ProtoUDP
	}
	tx := prober.TXAuto
	if c.TX != "" {
		var err error
		if tx, err = prober.ParseTX(c.TX); err != nil {
			return prober.Config{}, err
		}
	}
	rx := prober.RXAuto
	if c.RX != "" {
		var err error
		if rx, err = prober.ParseRX(c.RX); err != nil {
			return prober.Config{}, err
		}
	}
	key, err := LoadKey(c.KeyFile, c.KeyID)
	if err != nil {
		return prober.Config{}, err
	}
	return prober.Config{
		Proto: proto, Interval: c.Interval.D(), Timeout: c.Timeout.D(), Rate: c.Rate, Batch: c.Batch,
		Key: key, AcceptClear: c.AcceptClear, StaleAfter: c.StaleAfter.D(), UDPPort: c.UDPPort, NoKernelTx: c.NoKernelTx,
		TX: tx, RX: rx,
	}, nil
}

// LoadPushKey reads the key file for push heartbeats (the same file and
// id as LoadKey, under the push HKDF labels); "" is no key.
func LoadPushKey(path string, id int) (*wire.PushKey, error) {
	if path == "" {
		return nil, nil
	}
	return keyfile.PushKey(path, uint8(id))
}

// LoadKey reads a key file with the one loader hb-responder uses too
// (internal/keyfile); "" is no key.
func LoadKey(path string, id int) (*wire.Key, error) {
	if path == "" {
		return nil, nil
	}
	return keyfile.Key(path, uint8(id))
}
