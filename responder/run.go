// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

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
	// Load re-reads the configuration on SIGHUP (defaults < file < flags,
	// as at start) and returns it with the file it came from; Run
	// validates it. nil: SIGHUP is logged and ignored.
	Load func() (config.Responder, string, error)
	// Level, when set, is the logger's level: log_level applies on reload.
	Level *slog.LevelVar
	// Reload, when not nil, triggers reloads instead of SIGHUP (tests).
	Reload <-chan struct{}
}

// ErrUsage wraps configuration errors Run finds (a bad key file, an
// unknown attach mode): the caller exits 2 for them, 1 for the rest.
var ErrUsage = errors.New("configuration")

// Run is hb-responder: it loads the key, loads and attaches the eBPF
// program (unless UserspaceOnly), starts the userspace UDP responder when
// no program is attached, and samples and publishes health until ctx is
// done; then it detaches and removes the status file. SIGHUP reloads what
// can change while running (reload). Errors wrapping bpf.ErrPermission
// mean missing capabilities.
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
	// Caught from the start, so that a SIGHUP during start-up neither
	// kills the process nor is lost: it is handled once running.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	rt := &running{cfg: cfg.Responder, log: log, load: cfg.Load, level: cfg.Level, key: key}
	var attached []*Attachment
	var states []IfaceState
	defer func() {
		for _, a := range attached {
			a.Close()
		}
	}()
	if !cfg.UserspaceOnly {
		var err error
		if rt.objs, err = bpf.Load(); err != nil {
			return err
		}
		defer rt.objs.Close()
		rt.prog = rt.objs
		if err := rt.objs.Configure(bpfConfig(&cfg.Responder, key, allow)); err != nil {
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
			a, err := Attach(rt.objs, n, modes)
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
	if rt.objs != nil {
		sink = rt.objs
	}
	var err error
	rt.agent, err = NewAgent(AgentConfig{
		Interval: cfg.SampleInterval.D(), Key: key, HBM2: cfg.HBM2On(), StatusPath: cfg.StatusFile,
		Version: cfg.Version, UDPPort: cfg.UDPPort, Logger: log,
	}, sink)
	if err != nil {
		return err
	}
	rt.agent.SetInterfaces(states)
	// One rate budget for UDP: where the kernel program is attached it
	// answers every valid UDP probe and drops those over the rate, so the
	// userspace responder runs only when no program is attached.
	if len(attached) == 0 {
		rt.udp = &UDPResponder{Judge: Judge{Key: key, Port: cfg.UDPPort, AllowFrom: allow}, Blob: rt.agent.Blob, Limit: newLimit(&cfg.Responder)}
		rt.agent.SetUDPCounters(rt.udp.Counters)
		if cfg.UDPPort != 0 {
			conn, err := ListenUDP(cfg.UDPPort)
			if err != nil {
				log.Error("userspace UDP responder not started", "port", cfg.UDPPort, "err", err)
			} else {
				rt.serveUDP(ctx, conn)
			}
		}
		defer rt.stopUDP()
	}
	// Push heartbeats ([push] servers, --push): the shutdown heartbeat goes
	// out when ctx ends, before Run returns.
	if len(cfg.Push.Servers) > 0 {
		pk, err := LoadPushKey(cfg.KeyFile, cfg.KeyID)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		if rt.push, err = NewPusher(cfg.Push, pk, nil, log.With("part", "push")); err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		rt.pushKey = rt.push
		done := make(chan struct{})
		go func() { defer close(done); rt.push.Run(ctx) }()
		defer func() { <-done }()
		log.Info("pushing heartbeats", "servers", strings.Join(cfg.Push.Servers, ","), "interval", cfg.Push.Interval.D(),
			"authenticated", pk != nil, "sealed", cfg.Push.Seal, "checks", len(cfg.Push.Checks))
	}

	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			case <-cfg.Reload:
			}
			rt.reload(ctx)
		}
	}()
	log.Info("running", "version", cfg.Version, "interval", cfg.SampleInterval.D(), "sealed", key != nil,
		"hbm2", cfg.HBM2On(), "allow_from", len(allow), "status", cfg.StatusFile, "reload", cfg.Load != nil)
	rt.agent.Run(ctx)
	<-reloaded
	log.Info("stopping: detaching")
	if cfg.StatusFile != "" {
		os.Remove(cfg.StatusFile)
	}
	return nil
}

// bpfConfig is what the program enforces under c.
func bpfConfig(c *config.Responder, key *wire.Key, allow []netip.Prefix) bpf.Config {
	bc := bpf.Config{UDPPort: c.UDPPort, HBM2: c.HBM2On(), Rate: c.RateLimit, Burst: c.Burst, AllowFrom: allow}
	if key != nil {
		bc.KeyID = key.ID
	}
	return bc
}

// newLimit is the userspace responder's rate limiter under c (nil: none).
func newLimit(c *config.Responder) *bucket.Bucket {
	if c.RateLimit > 0 {
		return bucket.New(c.RateLimit, int(c.Burst))
	}
	return nil
}

// running is what a reload changes: the applied configuration and the
// parts that take a new one while running.
type running struct {
	cfg   config.Responder // as applied: settings that need a restart keep their start values
	log   *slog.Logger
	load  func() (config.Responder, string, error)
	level *slog.LevelVar
	key   *wire.Key

	objs  *bpf.Objects // nil: userspace only
	agent *Agent
	udp   *UDPResponder // nil: the kernel program answers UDP
	push  *Pusher       // nil: no [push] servers at start

	// What a reload configures, as interfaces so that a test can make
	// one fail (the real eBPF map update cannot be made to fail on
	// demand): objs and push when there are.
	prog    interface{ Configure(bpf.Config) error } // nil: userspace only
	pushKey interface{ SetKey(*wire.PushKey) error } // nil: no push

	udpStop context.CancelFunc // the serving UDP responder; nil when none
	udpDone chan struct{}
}

// serveUDP starts the userspace responder on conn.
func (r *running) serveUDP(ctx context.Context, conn *net.UDPConn) {
	r.udp.Conn = conn
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.udp.Serve(sctx); err != nil {
			r.log.Error("userspace UDP responder", "err", err)
		}
	}()
	r.udpStop, r.udpDone = cancel, done
	port := 0
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		port = a.Port
	}
	r.log.Info("userspace UDP responder", "port", port)
}

// stopUDP stops the userspace responder and closes its socket.
func (r *running) stopUDP() {
	if r.udpStop == nil {
		return
	}
	r.udpStop()
	<-r.udpDone
	r.udp.Conn.Close()
	r.udpStop, r.udpDone = nil, nil
}

// reload re-reads the configuration (SIGHUP) and applies what can change
// while running: the key file (read again even when its name did not
// change: rotation in place) and key_id, rate_limit and burst,
// sample_interval, udp_port, allow_from, compat.hbm2 and
// compat.hbm2_unauthenticated, and log_level. interfaces, include_lo,
// attach, userspace_only, status_file and the [push] section need a
// restart: a change to them is logged and not applied (the push key
// follows key_file). Everything new is read and checked before anything
// is applied, so a bad file, a bad value, an unreadable key file or a
// port that cannot be bound keeps the running configuration whole.
func (r *running) reload(ctx context.Context) {
	log := r.log
	if r.load == nil {
		log.Warn("SIGHUP ignored: hb-responder was started without a configuration loader; restart it to apply changes")
		return
	}
	log.Info("SIGHUP: reloading the configuration")
	reject := func(err error) {
		log.Error("reload: configuration rejected, keeping the running one", "err", err)
	}
	nc, path, err := r.load()
	if err == nil {
		err = config.Locate(path, nc.Validate())
	}
	if err != nil {
		reject(err)
		return
	}
	old := r.cfg
	var key *wire.Key
	if nc.KeyFile != "" {
		if key, err = LoadKey(nc.KeyFile, nc.KeyID); err != nil {
			reject(err)
			return
		}
	}
	var pk *wire.PushKey
	if r.pushKey != nil {
		if pk, err = LoadPushKey(nc.KeyFile, nc.KeyID); err != nil {
			reject(err)
			return
		}
		if pk == nil && old.Push.Seal {
			reject(errors.New("push.seal needs key_file (the [push] section takes a restart; key_file cannot go while heartbeats are sealed)"))
			return
		}
	}
	allow, _ := nc.AllowPrefixes() // validated
	var conn *net.UDPConn
	if r.udp != nil && nc.UDPPort != old.UDPPort && nc.UDPPort != 0 {
		if conn, err = ListenUDP(nc.UDPPort); err != nil {
			reject(fmt.Errorf("udp_port %d: %w", nc.UDPPort, err))
			return
		}
	}

	// Settings that need a restart keep their running values.
	var restart []string
	keep := func(name string, changed bool) {
		if changed {
			restart = append(restart, name)
		}
	}
	keep("interfaces", !slices.Equal(old.Interfaces, nc.Interfaces))
	keep("include_lo", old.IncludeLo != nc.IncludeLo)
	keep("attach", !slices.Equal(old.Attach, nc.Attach))
	keep("userspace_only", old.UserspaceOnly != nc.UserspaceOnly)
	keep("status_file", old.StatusFile != nc.StatusFile)
	keep("push", !reflect.DeepEqual(old.Push, nc.Push))
	nc.Interfaces, nc.IncludeLo, nc.Attach = old.Interfaces, old.IncludeLo, old.Attach
	nc.UserspaceOnly, nc.StatusFile, nc.Push = old.UserspaceOnly, old.StatusFile, old.Push
	for _, k := range restart {
		log.Warn("reload: changed setting takes effect after a restart (systemctl restart hb-responder)", "key", k)
	}
	if r.level == nil && old.LogLevel != nc.LogLevel {
		log.Warn("reload: changed setting takes effect after a restart (systemctl restart hb-responder)", "key", "log_level")
		nc.LogLevel = old.LogLevel
	}

	var changed []string
	diff := func(name string, c bool) {
		if c {
			changed = append(changed, name)
		}
	}
	rotated := !SameKey(r.key, key)
	diff("key", rotated)
	diff("rate_limit", old.RateLimit != nc.RateLimit)
	diff("burst", old.Burst != nc.Burst)
	diff("sample_interval", old.SampleInterval != nc.SampleInterval)
	diff("udp_port", old.UDPPort != nc.UDPPort)
	diff("allow_from", !slices.Equal(old.AllowFrom, nc.AllowFrom))
	diff("hbm2", old.HBM2On() != nc.HBM2On())
	diff("log_level", old.LogLevel != nc.LogLevel)

	// Apply, all or nothing. The tokens of a new key go in first, then the
	// program's key id, then a blob sealed with the new key (the agent
	// samples at once): a probe in between may get a reply without
	// health, never a wrong one accepted. The steps that can fail (agent,
	// program, push key) go first; if one fails, those already applied
	// get the running configuration back and the reload is not applied.
	var applied []string
	undo := func(failed string, err error) {
		log.Error("reload: applying failed, rolling back", "part", failed, "err", err)
		var stuck []string
		oldAllow, _ := old.AllowPrefixes() // validated
		for _, part := range slices.Backward(applied) {
			var err error
			switch part {
			case "ebpf_program":
				err = r.prog.Configure(bpfConfig(&old, r.key, oldAllow))
			case "agent":
				err = r.agent.Reconfigure(time.Now(), Reload{Key: r.key, HBM2: old.HBM2On(), Interval: old.SampleInterval.D(), UDPPort: old.UDPPort})
			}
			if err != nil {
				log.Error("reload: rolling back", "part", part, "err", err)
				stuck = append(stuck, part)
			}
		}
		if conn != nil {
			conn.Close()
		}
		if len(stuck) > 0 {
			// The next reload applies every part again.
			log.Error("reload: partly applied: these parts run the new configuration, the others the running one; fix the cause and reload again (or restart)",
				"file", path, "failed", failed, "new", strings.Join(stuck, ","))
			return
		}
		log.Error("reload: not applied, rolled back: the running configuration is kept", "file", path, "failed", failed)
	}
	if err := r.agent.Reconfigure(time.Now(), Reload{Key: key, HBM2: nc.HBM2On(), Interval: nc.SampleInterval.D(), UDPPort: nc.UDPPort}); err != nil {
		// The agent may hold the new key already: put the old one back.
		applied = append(applied, "agent")
		undo("agent", err)
		return
	}
	applied = append(applied, "agent")
	if r.prog != nil {
		if err := r.prog.Configure(bpfConfig(&nc, key, allow)); err != nil {
			applied = append(applied, "ebpf_program") // maybe partly written
			undo("ebpf_program", err)
			return
		}
		applied = append(applied, "ebpf_program")
	}
	if r.pushKey != nil {
		if err := r.pushKey.SetKey(pk); err != nil {
			undo("push_key", err)
			return
		}
	}
	// What cannot fail.
	if r.level != nil {
		if lv, err := config.ParseLogLevel(nc.LogLevel); err == nil {
			r.level.Set(lv)
		}
	}
	if r.udp != nil {
		// An unchanged rate keeps its bucket: a reload does not refill it.
		lim := r.udp.limit()
		if old.RateLimit != nc.RateLimit || old.Burst != nc.Burst {
			lim = newLimit(&nc)
		}
		r.udp.Set(Judge{Key: key, Port: nc.UDPPort, AllowFrom: allow}, lim)
		if nc.UDPPort != old.UDPPort {
			r.stopUDP()
			if conn != nil {
				r.serveUDP(ctx, conn)
			}
		}
	}
	r.cfg, r.key = nc, key
	keyID := 0
	if key != nil {
		keyID = int(key.ID)
	}
	log.Info("reload: applied", "file", path, "changed", strings.Join(changed, ","), "key_rotated", rotated,
		"sealed", key != nil, "key_id", keyID, "rate_limit", nc.RateLimit, "burst", nc.Burst,
		"sample_interval", nc.SampleInterval.D(), "udp_port", nc.UDPPort, "allow_from", len(allow),
		"hbm2", nc.HBM2On(), "log_level", nc.LogLevel, "restart_needed", strings.Join(restart, ","))
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
