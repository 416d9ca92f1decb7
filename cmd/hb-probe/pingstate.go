// SPDX-License-Identifier: MIT

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
	"syscall"

	"github.com/hbmon/hb/pingstate"
)

// runPingstate is pingstate's command line (package pingstate):
// `hb-probe pingstate --protocol tcp --address HOST --port 22 …`, or
// `pingstate …` through a link named pingstate.
func runPingstate(name string, args []string, stderr io.Writer) int {
	o, err := pingstate.ParseArgs(name, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", name, err)
		return exitSetup
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := pingstate.Run(ctx, o, nil, log); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitSetup
	}
	return exitOK
}
