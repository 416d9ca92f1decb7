// SPDX-License-Identifier: MIT

// Command hb-responder answers hb probes with this host's health, in the
// kernel (XDP/TC) where it can, and from userspace (UDP) where it cannot.
// docs/responder.md describes it; `hb-responder -h` lists the flags. The
// work is responder.Run; this file is flags -> config -> Run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/responder"
)

var version = "0.0.0-dev"

func defaults() config.Responder { return config.DefaultResponder(responder.DefaultStatusPath()) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "status" {
		os.Exit(statusCmd(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "push" {
		os.Exit(pushCmd(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

// load resolves the configuration: defaults, then the file, then flags;
// then validates it. It returns the config, the file used, and whether
// --version was asked for.
func load(args []string) (config.Responder, string, bool, error) {
	cfg := defaults()
	fs := flag.NewFlagSet("hb-responder", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hb-responder [flags]\n       hb-responder status [--status-file FILE] [--json]\n       hb-responder push -m TEXT [--key-file FILE] HOST[:PORT]...\n\n"+
			"Answers hb probes (ICMP echo and UDP carrying HBQ1) with this host's health; docs/responder.md.\n"+
			"SIGHUP re-reads the config and key file: key, rates, sample interval, UDP port, allow list, compat and log level apply at once;\n"+
			"interfaces, attach modes, userspace-only, status file and [push] need a restart (the log says which changed).\n\nflags (they override the config file):\n")
		fs.PrintDefaults()
	}
	var (
		cfgPath    = fs.String("config", "", "config file (default: $HB_CONFIG, $XDG_CONFIG_HOME/hb/, ~/.config/hb/, ./, /etc/hb/ hb-responder.toml)")
		ifaces     = fs.String("interfaces", "", "comma-separated interfaces (default: all up, non-loopback)")
		includeLo  = fs.Bool("include-lo", false, "attach to lo too")
		attach     = fs.String("attach", strings.Join(cfg.Attach, ","), "attach modes to try, in order")
		keyFile    = fs.String("key-file", "", "shared secret file (mode 0600 or stricter): seal blobs, require tokens")
		keyID      = fs.Uint("key-id", uint(cfg.KeyID), "key id (1-255) of --key-file")
		interval   = fs.Duration("sample-interval", cfg.SampleInterval.D(), "health sampling interval")
		rateLimit  = fs.Float64("rate-limit", cfg.RateLimit, "replies per second, whole host, every CPU and protocol (0: no limit)")
		burst      = fs.Uint("burst", uint(cfg.Burst), "replies that may go out at once")
		udpPort    = fs.Uint("udp-port", uint(cfg.UDPPort), "UDP probe port (0: off)")
		userspace  = fs.Bool("userspace-only", false, "no eBPF: answer UDP probes from userspace only")
		allowFrom  = fs.String("allow-from", "", "comma-separated prober addresses/prefixes; only these are answered (default: all)")
		hbm2       = fs.Bool("hbm2", false, "answer empty echo requests with HBM v2 (legacy monitor; 2x reply, no token)")
		hbm2Unauth = fs.Bool("hbm2-unauthenticated", false, "allow --hbm2 together with --key-file (anyone may read HBM v2 health)")
		statusFile = fs.String("status-file", cfg.StatusFile, "status file for `hb-responder status`")
		logLevel   = fs.String("log-level", cfg.LogLevel, "debug, info, warn or error")
		showVer    = fs.Bool("version", false, "print the version and exit")
		pushTo     listFlag
		noBoot     = fs.Bool("no-boot-message", false, "do not send the boot message with the first heartbeat")
	)
	fs.Var(&pushTo, "push", "push heartbeats to HOST[:PORT] (hb-probe or hbd, UDP 50003 by default); repeatable")
	if err := fs.Parse(args); err != nil {
		return cfg, "", false, err
	}
	if fs.NArg() > 0 {
		return cfg, "", false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVer {
		return cfg, "", true, nil
	}
	cfg, path, err := config.LoadResponder(*cfgPath, cfg)
	if err != nil {
		return cfg, path, false, err
	}
	v := config.VisitedFlags(fs)
	if *keyID > 255 || *udpPort > 65535 || *burst > 1<<32-1 {
		return cfg, path, false, errors.New("--key-id must be 1-255, --udp-port 0-65535, --burst at most 4294967295")
	}
	if v.Has("interfaces") {
		cfg.Interfaces = config.SplitList(*ifaces)
	}
	if v.Has("attach") {
		cfg.Attach = config.SplitList(*attach)
	}
	if v.Has("allow-from") {
		cfg.AllowFrom = config.SplitList(*allowFrom)
	}
	config.Override(v, "include-lo", &cfg.IncludeLo, *includeLo)
	config.Override(v, "key-file", &cfg.KeyFile, *keyFile)
	config.Override(v, "key-id", &cfg.KeyID, uint8(*keyID))
	config.Override(v, "sample-interval", &cfg.SampleInterval, config.Duration(*interval))
	config.Override(v, "rate-limit", &cfg.RateLimit, *rateLimit)
	config.Override(v, "burst", &cfg.Burst, uint32(*burst))
	config.Override(v, "udp-port", &cfg.UDPPort, uint16(*udpPort))
	config.Override(v, "userspace-only", &cfg.UserspaceOnly, *userspace)
	config.Override(v, "hbm2", &cfg.Compat.HBM2, *hbm2)
	config.Override(v, "hbm2-unauthenticated", &cfg.Compat.HBM2Unauthenticated, *hbm2Unauth)
	config.Override(v, "status-file", &cfg.StatusFile, *statusFile)
	config.Override(v, "log-level", &cfg.LogLevel, *logLevel)
	if v.Has("push") {
		cfg.Push.Servers = pushTo
	}
	if v.Has("no-boot-message") {
		cfg.Push.Boot = !*noBoot
	}
	return cfg, path, false, config.Locate(path, cfg.Validate())
}

func run(args []string) int {
	cfg, path, showVersion, err := load(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "hb-responder:", err)
		return 2
	case showVersion:
		fmt.Printf("hb-responder %s (%s/%s, %s)\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return 0
	}
	lvl, _ := config.ParseLogLevel(cfg.LogLevel) // validated
	level := new(slog.LevelVar)
	level.Set(lvl)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if path != "" {
		log.Info("config", "file", path)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP: the same resolution again (defaults < file < the same flags).
	reload := func() (config.Responder, string, error) {
		c, p, _, err := load(args)
		return c, p, err
	}
	err = responder.Run(ctx, responder.Config{Responder: cfg, Version: version, Logger: log, Load: reload, Level: level})
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "hb-responder:", err)
	if errors.Is(err, bpf.ErrPermission) {
		fmt.Fprint(os.Stderr, capabilityHint())
	}
	if errors.Is(err, responder.ErrUsage) {
		return 2
	}
	return 1
}
