// SPDX-License-Identifier: MIT

package monitor

// The place where sources, sinks and API routes are wired in. A package
// that adds a source appends it in buildSources; one that adds a sink
// subscribes to m.bus in startSinks; one that serves endpoints adds its
// api.Routes in routes. Keep each addition to a few lines here.

import (
	"fmt"
	"os"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
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

	// Other sources (tcp/http checks, push receiver) go here.
	return srcs, nil
}

// routes are the endpoints other packages serve on the API listener.
func (m *Monitor) routes() []api.Route {
	var rs []api.Route
	rs = append(rs, m.alertRoutes()...) // monitor/alerts.go
	// Other packages' routes (pulses, dashboard) go here.
	return rs
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
