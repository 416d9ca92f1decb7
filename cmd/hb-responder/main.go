// SPDX-License-Identifier: MIT

// Command hb-responder answers hb probes with this host's health, in the
// kernel (XDP/TC) where it can, and from userspace (UDP) where it cannot.
// docs/responder.md describes it; `hb-responder -h` lists the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/responder"
	"github.com/hbmon/hb/wire"
)

var version = "0.0.0-dev"

// Config is hb-responder's configuration (TOML; see
// packaging/hb-responder.example.toml). Command-line flags override it.
type Config struct {
	// Interfaces to attach to; empty means every up, non-loopback one.
	Interfaces []string `toml:"interfaces"`
	// IncludeLo adds the loopback interface.
	IncludeLo bool `toml:"include_lo"`
	// Attach is the order of attach modes tried per interface.
	Attach []string `toml:"attach"`
	// KeyFile holds the 32-byte shared secret (hex, base64 or raw); with
	// it blobs are sealed and requests need a valid token.
	KeyFile string `toml:"key_file"`
	KeyID   uint8  `toml:"key_id"`
	// SampleInterval is how often health is sampled and published.
	SampleInterval config.Duration `toml:"sample_interval"`
	// RateLimit is the replies per second for the whole host (spread over
	// the CPUs' token buckets); 0 means no limit. Burst is per CPU.
	RateLimit float64 `toml:"rate_limit"`
	Burst     uint32  `toml:"burst"`
	// UDPPort is where UDP probes are answered; 0 turns UDP off.
	UDPPort uint16 `toml:"udp_port"`
	// UserspaceOnly loads no eBPF program: only the UDP responder runs.
	UserspaceOnly bool `toml:"userspace_only"`
	// StatusFile is written every sample and read by `hb-responder status`.
	StatusFile string `toml:"status_file"`
	// LogLevel is debug, info, warn or error.
	LogLevel string       `toml:"log_level"`
	Compat   CompatConfig `toml:"compat"`
}

// CompatConfig holds compatibility switches.
type CompatConfig struct {
	// HBM2 answers empty-payload echo requests with the legacy 28-byte HBM
	// v2 payload (the one reply longer than its request).
	HBM2 bool `toml:"hbm2"`
}

func defaults() Config {
	return Config{
		Attach:         []string{"native", "generic", "tcx", "clsact"},
		KeyID:          1,
		SampleInterval: config.Duration(time.Second),
		RateLimit:      20000,
		Burst:          200,
		UDPPort:        wire.DefaultUDPPort,
		StatusFile:     responder.DefaultStatusPath(),
		LogLevel:       "info",
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "status" {
		os.Exit(statusCmd(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

func usageExit(err error) int {
	fmt.Fprintln(os.Stderr, "hb-responder:", err)
	return 2
}

// load resolves the configuration: defaults, then the file, then flags.
func load(args []string) (Config, string, bool, error) {
	cfg := defaults()
	fs := flag.NewFlagSet("hb-responder", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hb-responder [flags]\n       hb-responder status [--status-file FILE] [--json]\n\nflags (they override the config file):\n")
		fs.PrintDefaults()
	}
	var (
		cfgPath    = fs.String("config", "", "config file (default: $HB_CONFIG, $XDG_CONFIG_HOME/hb/, ~/.config/hb/, ./, /etc/hb/ hb-responder.toml)")
		ifaces     = fs.String("interfaces", "", "comma-separated interfaces (default: all up, non-loopback)")
		includeLo  = fs.Bool("include-lo", false, "attach to lo too")
		attach     = fs.String("attach", strings.Join(cfg.Attach, ","), "attach modes to try, in order")
		keyFile    = fs.String("key-file", "", "shared secret file: seal blobs, require tokens")
		keyID      = fs.Uint("key-id", uint(cfg.KeyID), "key id (1-255) of --key-file")
		interval   = fs.Duration("sample-interval", cfg.SampleInterval.D(), "health sampling interval")
		rateLimit  = fs.Float64("rate-limit", cfg.RateLimit, "replies per second, whole host (0: no limit)")
		burst      = fs.Uint("burst", uint(cfg.Burst), "reply burst per CPU")
		udpPort    = fs.Uint("udp-port", uint(cfg.UDPPort), "UDP probe port (0: off)")
		userspace  = fs.Bool("userspace-only", false, "no eBPF: answer UDP probes from userspace only")
		hbm2       = fs.Bool("hbm2", false, "answer empty echo requests with HBM v2 (legacy monitor)")
		statusFile = fs.String("status-file", cfg.StatusFile, "status file for `hb-responder status`")
		logLevel   = fs.String("log-level", cfg.LogLevel, "debug, info, warn or error")
		showVer    = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		return cfg, "", false, err
	}
	if fs.NArg() > 0 {
		return cfg, "", false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVer {
		return cfg, "", true, nil
	}
	path, err := config.Discover(*cfgPath, "hb-responder.toml")
	if err != nil {
		return cfg, "", false, err
	}
	if path != "" {
		if err := config.DecodeStrict(path, &cfg); err != nil {
			return cfg, path, false, err
		}
	}
	v := config.VisitedFlags(fs)
	if v.Has("interfaces") {
		cfg.Interfaces = splitList(*ifaces)
	}
	config.Override(v, "include-lo", &cfg.IncludeLo, *includeLo)
	if v.Has("attach") {
		cfg.Attach = splitList(*attach)
	}
	config.Override(v, "key-file", &cfg.KeyFile, *keyFile)
	config.Override(v, "key-id", &cfg.KeyID, uint8(*keyID))
	config.Override(v, "sample-interval", &cfg.SampleInterval, config.Duration(*interval))
	config.Override(v, "rate-limit", &cfg.RateLimit, *rateLimit)
	config.Override(v, "burst", &cfg.Burst, uint32(*burst))
	config.Override(v, "udp-port", &cfg.UDPPort, uint16(*udpPort))
	config.Override(v, "userspace-only", &cfg.UserspaceOnly, *userspace)
	config.Override(v, "hbm2", &cfg.Compat.HBM2, *hbm2)
	config.Override(v, "status-file", &cfg.StatusFile, *statusFile)
	config.Override(v, "log-level", &cfg.LogLevel, *logLevel)
	if *keyID > 255 || *udpPort > 65535 {
		return cfg, path, false, errors.New("--key-id must be 1-255 and --udp-port 0-65535")
	}
	if cfg.SampleInterval.D() < 10*time.Millisecond {
		return cfg, path, false, fmt.Errorf("sample_interval %v is too short (min 10ms)", cfg.SampleInterval)
	}
	return cfg, path, false, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(args []string) int {
	cfg, path, showVersion, err := load(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return usageExit(err)
	}
	if showVersion {
		fmt.Printf("hb-responder %s (%s/%s, %s)\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return 0
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return usageExit(fmt.Errorf("log_level: %w", err))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if path != "" {
		log.Info("config", "file", path)
	}
	modes := make([]responder.Mode, 0, len(cfg.Attach))
	for _, s := range cfg.Attach {
		m, err := responder.ParseMode(s)
		if err != nil {
			return usageExit(err)
		}
		modes = append(modes, m)
	}
	var key *wire.Key
	if cfg.KeyFile != "" {
		if key, err = responder.LoadKey(cfg.KeyFile, cfg.KeyID); err != nil {
			return usageExit(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { // SIGHUP (systemd's reload): nothing to reload without a restart yet.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		for range hup {
			log.Warn("SIGHUP: configuration reload is not supported; restart hb-responder to apply changes")
		}
	}()

	var objs *bpf.Objects
	var attached []*responder.Attachment
	var states []responder.IfaceState
	if !cfg.UserspaceOnly {
		objs, err = bpf.Load()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hb-responder:", err)
			fmt.Fprint(os.Stderr, capabilityHint())
			return 1
		}
		defer objs.Close()
		bc := bpf.Config{UDPPort: cfg.UDPPort, HBM2: cfg.Compat.HBM2, Rate: cfg.RateLimit, Burst: cfg.Burst}
		if key != nil {
			bc.KeyID = key.ID
		}
		if err := objs.Configure(bc); err != nil {
			fmt.Fprintln(os.Stderr, "hb-responder:", err)
			return 1
		}
		names := cfg.Interfaces
		if len(names) == 0 {
			names = defaultInterfaces()
		}
		if cfg.IncludeLo && !contains(names, "lo") {
			names = append(names, "lo")
		}
		for _, n := range names {
			a, err := responder.Attach(objs, n, modes)
			if err != nil {
				if errors.Is(err, bpf.ErrPermission) {
					fmt.Fprintln(os.Stderr, "hb-responder:", err)
					fmt.Fprint(os.Stderr, capabilityHint())
					closeAll(attached)
					return 1
				}
				log.Error("attach", "iface", n, "err", err)
				states = append(states, responder.IfaceState{Name: n, Mode: responder.ModeNone.String(), Error: err.Error()})
				continue
			}
			attached = append(attached, a)
			st := responder.IfaceState{Name: n, Mode: a.Mode.String()}
			if len(a.Skipped) > 0 {
				st.Error = errors.Join(a.Skipped...).Error()
			}
			states = append(states, st)
			log.Info("attached", "iface", n, "mode", a.Mode.String(), "skipped", st.Error)
		}
		defer closeAll(attached)
	}

	var sink responder.Sink
	if objs != nil {
		sink = objs
	}
	agent, err := responder.NewAgent(responder.AgentConfig{
		Interval: cfg.SampleInterval.D(), Key: key, HBM2: cfg.Compat.HBM2, StatusPath: cfg.StatusFile,
		Version: version, UDPPort: cfg.UDPPort, Logger: log,
	}, sink)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hb-responder:", err)
		return 1
	}
	agent.SetInterfaces(states)
	// One rate budget for UDP: where the kernel program is attached it
	// answers every valid UDP probe and drops those over the rate, so the
	// userspace responder runs only when no program is attached.
	if cfg.UDPPort != 0 && len(attached) == 0 {
		conn, err := responder.ListenUDP(cfg.UDPPort)
		if err != nil {
			log.Error("userspace UDP responder not started", "port", cfg.UDPPort, "err", err)
		} else {
			u := &responder.UDPResponder{Conn: conn, Judge: responder.Judge{Key: key, Port: cfg.UDPPort}, Blob: agent.Blob}
			if cfg.RateLimit > 0 {
				u.Limit = bucket.New(cfg.RateLimit, int(cfg.Burst))
			}
			agent.SetUDPCounters(u.Counters)
			go func() {
				if err := u.Serve(ctx); err != nil {
					log.Error("userspace UDP responder", "err", err)
				}
			}()
			defer conn.Close()
			log.Info("userspace UDP responder", "port", cfg.UDPPort)
		}
	}
	log.Info("running", "version", version, "interval", cfg.SampleInterval.D(), "sealed", key != nil, "hbm2", cfg.Compat.HBM2, "status", cfg.StatusFile)
	agent.Run(ctx)
	log.Info("stopping: detaching")
	if cfg.StatusFile != "" {
		os.Remove(cfg.StatusFile)
	}
	return 0
}

func closeAll(as []*responder.Attachment) {
	for _, a := range as {
		a.Close()
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
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
