// SPDX-License-Identifier: MIT

// Command hb-probe watches many hosts with batched ICMP/UDP probes (and the
// other checks of its target list) and reports their reachability,
// kernel-timestamped RTT and health.
//
//	hb-probe --once --targets hosts.txt      # probe every target once, print a table, exit 0/1/2
//	hb-probe --targets hosts.txt             # daemon mode (package monitor)
//
// main is thin: flags → config → monitor.Run. See docs/prober.md and
// docs/operations.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/monitor"
)

// version is set at build time (-ldflags -X main.version=…).
var version = "0.0.0-dev"

// Exit codes, as fping uses them.
const (
	exitOK    = 0 // every target answered (daemon: clean stop)
	exitSome  = 1 // some target did not answer
	exitSetup = 2 // usage or setup error (daemon: failed start or failure)
)

// subcommands are `hb-probe NAME [args]`; each takes its own flags.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"backup":       runBackup,      // backup.go
	"check-config": runCheckConfig, // checkconfig.go
	"notify":       runNotify,      // alerts.go
	"alerts":       runAlerts,      // alerts.go
	"passwd":       runPasswd,      // passwd.go
}

func main() {
	if filepath.Base(os.Args[0]) == "hb-fping" { // a link named hb-fping is fping
		os.Exit(runFPing(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if filepath.Base(os.Args[0]) == "pingstate" { // a link named pingstate is pingstate (pingstate.go)
		os.Exit(runPingstate("pingstate", os.Args[1:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fping" { // fping's command line (once.go)
		return runFPing(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "pingstate" { // pingstate's command line (pingstate.go)
		return runPingstate("hb-probe pingstate", args[1:], stderr)
	}
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			return sub(args[1:], stdout, stderr)
		}
	}
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v (see --help)\n", err)
		return exitSetup
	}
	if o.Version {
		fmt.Fprintf(stdout, "hb-probe %s\n", version)
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.Once {
		return runOnce(ctx, o, stdin, stdout, stderr)
	}
	if err := runDaemon(ctx, o, stdin, stderr); err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	return exitOK
}

// runDaemon runs hb-probe continuously until ctx ends (SIGINT, SIGTERM).
// A failed start (bad config or targets, sockets, database, API bind) and
// a part failing later are errors: the exit status is then non-zero, so
// systemd's Restart=on-failure applies.
func runDaemon(ctx context.Context, o *options, stdin io.Reader, stderr io.Writer) error {
	cfg, path, err := effectiveConfig(o)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	level := new(slog.LevelVar)
	lv, _ := config.ParseLogLevel(cfg.LogLevel)
	level.Set(lv)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if path != "" {
		log.Info("config", "file", path)
	} else {
		log.Info("config", "file", "none found, defaults and flags")
	}
	return monitor.Run(ctx, cfg, path, monitor.Options{
		Load:    func() (config.Probe, string, error) { return effectiveConfig(o) },
		Args:    o.Args,
		Stdin:   stdin,
		Log:     log,
		Level:   level,
		Version: version,
	})
}
