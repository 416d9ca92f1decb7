// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/monitor"
)

// runCheckConfig is `hb-probe check-config [flags]`: it takes the same
// flags as the daemon, applies defaults < file < flags, validates, and
// prints where the config came from and the effective values as TOML.
// Exit 0 when valid, 2 otherwise.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	o := &options{}
	fs := newFlagSet(o, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hb-probe check-config [--config FILE] [daemon flags]\n\n"+
			"Finds the config file as the daemon does, applies the flags given, validates, and prints the\n"+
			"effective configuration. Exit status 0 when valid, 2 when not.\n\nSearch order:\n")
		for _, c := range config.Candidates(o.Daemon.Config, config.ProbeFile) {
			fmt.Fprintf(stderr, "  %-18s %s\n", c.Source, c.Path)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitSetup
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hb-probe: check-config takes no arguments (got %q)\n", fs.Args())
		return exitSetup
	}
	o.visited = config.VisitedFlags(fs)
	c, path, err := effectiveConfig(o)
	if err != nil {
		if path != "" {
			fmt.Fprintf(stderr, "hb-probe: config %s is invalid:\n%v\n", path, err)
		} else {
			fmt.Fprintf(stderr, "hb-probe: config invalid:\n%v\n", err)
		}
		return exitSetup
	}
	if path != "" {
		fmt.Fprintf(stdout, "# config file: %s\n", path)
	} else {
		fmt.Fprintf(stdout, "# config file: none found (defaults); searched:\n")
		for _, cand := range config.Candidates(o.Daemon.Config, config.ProbeFile) {
			fmt.Fprintf(stdout, "#   %s\n", cand.Path)
		}
	}
	if len(o.visited) > 0 {
		fmt.Fprintf(stdout, "# overridden by flags:")
		fs.Visit(func(f *flag.Flag) { fmt.Fprintf(stdout, " --%s", f.Name) })
		fmt.Fprintln(stdout)
	}
	if db, err := monitor.DBPath(&c); err == nil {
		fmt.Fprintf(stdout, "# database: %s\n", db)
	}
	b, err := toml.Marshal(&c)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	stdout.Write(b)
	return exitOK
}
