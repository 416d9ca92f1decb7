// SPDX-License-Identifier: MIT

package monitor

// The place where sources, sinks and API routes are wired in. A package
// that adds a source appends it in buildSources; one that adds a sink
// subscribes to m.bus in startSinks; one that serves endpoints adds its
// api.Routes in routes. Keep each addition to a few lines here.

import (
	"fmt"
	"io"
	"os"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/push"
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

	// Heartbeats pushed by hosts (push/): HBP1 and legacy hbd over UDP.
	if c.Push.Enabled {
		pk, err := LoadPushKey(c.KeyFile, c.KeyID)
		if err != nil {
			return nil, err
		}
		rcv, err := push.NewReceiver(push.ReceiverConfig{Push: c.Push, Key: pk, Registrar: m, Bus: m.bus,
			DynDNS: push.NewDynDNS(c.Push, m.log), Log: m.log})
		if err != nil {
			return nil, err
		}
		m.srcMetrics = append(m.srcMetrics, rcv)
		m.srcRoutes = append(m.srcRoutes, rcv.Routes(m.table)...)
		srcs = append(srcs, rcv)
	}

	// Other sources (tcp/http checks) go here.
	return srcs, nil
}

// routes are the endpoints other packages serve on the API listener.
func (m *Monitor) routes() []api.Route {
	rs := append([]api.Route(nil), m.srcRoutes...)
	rs = append(rs, m.alertRoutes()...) // monitor/alerts.go
	// Other packages' routes (pulses, dashboard) go here.
	return rs
}

// collectors write further families on /metrics: the event bus's and the
// store's counters; other packages append theirs here.
func (m *Monitor) collectors() []io.WriterTo {
	cs := append([]io.WriterTo{m.bus.Metrics()}, m.srcMetrics...)
	if m.store != nil {
		cs = append(cs, m.store.st.Metrics())
	}
	cs = append(cs, m.alertCollectors()...) // monitor/alerts.go
	return cs
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
	key, err := LoadKey(c.KeyFile, c.KeyID)
	if err != nil {
		return prober.Config{}, err
	}
	return prober.Config{
		Proto: proto, Interval: c.Interval.D(), Timeout: c.Timeout.D(), Rate: c.Rate, Batch: c.Batch,
		Key: key, StaleAfter: c.StaleAfter.D(), UDPPort: c.UDPPort, NoKernelTx: c.NoKernelTx,
	}, nil
}

// LoadPushKey reads the key file for push heartbeats (the same file and
// id as LoadKey, under the push HKDF labels); "" is no key.
func LoadPushKey(path string, id int) (*wire.PushKey, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret, err := wire.ParseSecret(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return wire.NewPushKey(uint8(id), secret)
}

// LoadKey reads a key file in the format wire.ParseSecret accepts (the
// same files hb-responder reads); "" is no key.
func LoadKey(path string, id int) (*wire.Key, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret, err := wire.ParseSecret(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return wire.NewKey(uint8(id), secret)
}
