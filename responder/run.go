// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/wire"
)

// Config is everything Run needs: the validated file and flag settings,
// and the process's identity.
type Config struct {
	config.Responder
	Version string
	Logger  *slog.Logger // nil: slog.Default()
}

// ErrUsage wraps configuration errors Run finds (a bad key file, an
// unknown attach mode): the caller exits 2 for them, 1 for the rest.
var ErrUsage = errors.New("configuration")

// Run is hb-responder: it loads the key, loads and attaches the eBPF
// program (unless UserspaceOnly), starts the userspace UDP responder when
// no program is attached, and samples and publishes health until ctx is
// done; then it detaches and removes the status file. Errors wrapping
// bpf.ErrPermission mean missing capabilities.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	modes := make([]Mode, 0, len(cfg.Attach))
	for _, s := range cfg.Attach {
		m, err := ParseMode(s)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		modes = append(modes, m)
	}
	allow, _ := cfg.AllowPrefixes() // validated
	var key *wire.Key
	if cfg.KeyFile != "" {
		var err error
		if key, err = LoadKey(cfg.KeyFile, cfg.KeyID); err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
	}
	// SIGHUP does not reload anything (hb-responder(8), docs/responder.md):
	// it is caught only so that it does not kill the process, and logged so
	// that whoever sent it learns a restart is needed.
	go func() {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Warn("SIGHUP ignored: hb-responder does not reload its configuration or key file; restart it to apply changes (systemctl restart hb-responder)")
			}
		}
	}()

	var objs *bpf.Objects
	var attached []*Attachment
	var states []IfaceState
	defer func() {
		for _, a := range attached {
			a.Close()
		}
	}()
	if !cfg.UserspaceOnly {
		var err error
		if objs, err = bpf.Load(); err != nil {
			return err
		}
		defer objs.Close()
		bc := bpf.Config{UDPPort: cfg.UDPPort, HBM2: cfg.HBM2On(), Rate: cfg.RateLimit, Burst: cfg.Burst, AllowFrom: allow}
		if key != nil {
			bc.KeyID = key.ID
		}
		if err := objs.Configure(bc); err != nil {
			return err
		}
		names := cfg.Interfaces
		if len(names) == 0 {
			names = defaultInterfaces()
		}
		if cfg.IncludeLo && !slices.Contains(names, "lo") {
			names = append(names, "lo")
		}
		for _, n := range names {
			a, err := Attach(objs, n, modes)
			if errors.Is(err, bpf.ErrPermission) {
				return err
			}
			if err != nil {
				log.Error("attach", "iface", n, "err", err)
				states = append(states, IfaceState{Name: n, Mode: ModeNone.String(), Error: err.Error()})
				continue
			}
			attached = append(attached, a)
			st := IfaceState{Name: n, Mode: a.Mode.String()}
			if len(a.Skipped) > 0 {
				st.Error = errors.Join(a.Skipped...).Error()
			}
			states = append(states, st)
			log.Info("attached", "iface", n, "mode", a.Mode.String(), "skipped", st.Error)
		}
	}

	var sink Sink
	if objs != nil {
		sink = objs
	}
	agent, err := NewAgent(AgentConfig{
		Interval: cfg.SampleInterval.D(), Key: key, HBM2: cfg.HBM2On(), StatusPath: cfg.StatusFile,
		Version: cfg.Version, UDPPort: cfg.UDPPort, Logger: log,
	}, sink)
	if err != nil {
		return err
	}
	agent.SetInterfaces(states)
	// One rate budget for UDP: where the kernel program is attached it
	// answers every valid UDP probe and drops those over the rate, so the
	// userspace responder runs only when no program is attached.
	if cfg.UDPPort != 0 && len(attached) == 0 {
		conn, err := ListenUDP(cfg.UDPPort)
		if err != nil {
			log.Error("userspace UDP responder not started", "port", cfg.UDPPort, "err", err)
		} else {
			defer conn.Close()
			u := &UDPResponder{Conn: conn, Judge: Judge{Key: key, Port: cfg.UDPPort, AllowFrom: allow}, Blob: agent.Blob}
			if cfg.RateLimit > 0 {
				u.Limit = bucket.New(cfg.RateLimit, int(cfg.Burst))
			}
			agent.SetUDPCounters(u.Counters)
			go func() {
				if err := u.Serve(ctx); err != nil {
					log.Error("userspace UDP responder", "err", err)
				}
			}()
			log.Info("userspace UDP responder", "port", cfg.UDPPort)
		}
	}
	// Push heartbeats ([push] servers, --push): the shutdown heartbeat goes
	// out when ctx ends, before Run returns.
	if len(cfg.Push.Servers) > 0 {
		pk, err := LoadPushKey(cfg.KeyFile, cfg.KeyID)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		p, err := NewPusher(cfg.Push, pk, nil, log.With("part", "push"))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx) }()
		defer func() { <-done }()
		log.Info("pushing heartbeats", "servers", strings.Join(cfg.Push.Servers, ","), "interval", cfg.Push.Interval.D(),
			"authenticated", pk != nil, "sealed", cfg.Push.Seal, "checks", len(cfg.Push.Checks))
	}
	log.Info("running", "version", cfg.Version, "interval", cfg.SampleInterval.D(), "sealed", key != nil,
		"hbm2", cfg.HBM2On(), "allow_from", len(allow), "status", cfg.StatusFile)
	agent.Run(ctx)
	log.Info("stopping: detaching")
	if cfg.StatusFile != "" {
		os.Remove(cfg.StatusFile)
	}
	return nil
}

// defaultInterfaces is every up, non-loopback interface.
func defaultInterfaces() []string {
	ifs, _ := net.Interfaces()
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			out = append(out, i.Name)
		}
	}
	return out
}
