// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/monitor"
	"github.com/hbmon/hb/store"
)

// runBackup is `hb-probe backup [--config FILE] [--db FILE] OUT`: a
// consistent copy of the history database, taken while the daemon keeps
// writing (VACUUM INTO). The database is the one the daemon would use:
// --db, else the config file's store.db, else the default location.
func runBackup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hb-probe backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "config `FILE` (default: discovered as the daemon does)")
	db := fs.String("db", "", "database `FILE` to copy (default: the config's store.db, else the default location)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hb-probe backup [--config FILE] [--db FILE] OUT.db\n\n"+
			"Writes a consistent copy of hb-probe's history database to OUT.db (which must not exist)\n"+
			"while the daemon keeps running.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitSetup
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitSetup
	}
	out := fs.Arg(0)
	src := *db
	if src == "" {
		c, _, err := config.LoadProbe(*cfgFile)
		if err != nil {
			fmt.Fprintf(stderr, "hb-probe: backup: config: %v\n", err)
			return exitSetup
		}
		if src, err = monitor.DBPath(&c); err != nil {
			fmt.Fprintf(stderr, "hb-probe: backup: %v\n", err)
			return exitSetup
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := store.Backup(ctx, src, out); err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	st, err := os.Stat(out)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: backup: %v\n", err)
		return exitSetup
	}
	fmt.Fprintf(stdout, "hb-probe: backed up %s to %s (%d bytes)\n", src, out, st.Size())
	return exitOK
}
