// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/hbmon/hb/oneshot"
	"github.com/hbmon/hb/prober"
)

// onceLookup resolves --once's hostnames (a test replaces it).
var onceLookup prober.LookupFunc = lookup

// runOnce probes every target --count times and prints the summaries.
// A hostname that does not resolve is reported and the rest are probed;
// the exit code is then 2, as fping's.
func runOnce(ctx context.Context, o *options, stdin io.Reader, stdout, stderr io.Writer) int {
	warn := func(s string) {
		if !o.Quiet {
			fmt.Fprintf(stderr, "hb-probe: warning: %s\n", s)
		}
	}
	// No collection while the list loads either: what it allocates
	// (specs, targets, names) lives through the sweep, and cycles only
	// rescanned it (about 1.5 % of a 65,536-target sweep's CPU).
	defer oneshot.PauseGC(0)()
	// Open the engine while the list loads (its receive rings wait for
	// RCU grace periods): for IPv4, the usual case, as the families are
	// known only once the list is read; a list with IPv6 targets opens
	// again below with the families it needs.
	cfg, cfgErr := engineConfig(o)
	if cfgErr == nil && cfg.Rate <= 0 {
		cfg.Shards = runtime.GOMAXPROCS(0) // an unpaced sweep uses every CPU
	}
	type opened struct {
		e   *prober.Engine
		err error
	}
	var early chan opened
	if cfgErr == nil {
		early = make(chan opened, 1)
		c := cfg // copied here: cfg's families are set below while this opens
		c.IPv4, c.IPv6 = true, false
		go func() {
			e, err := prober.New(c)
			early <- opened{e, err}
		}()
	}
	// discard closes the early engine when it is not used (the list
	// did not load).
	discard := func() {
		if early != nil {
			if r := <-early; r.e != nil {
				r.e.Close()
			}
			early = nil
		}
	}
	defer discard()
	targets, warns, bad, err := oneshot.Load(ctx, oneshot.Source{File: o.Targets, Stdin: stdin, Args: o.Args, MaxTargets: o.MaxTargets, Lookup: onceLookup})
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	for _, w := range warns {
		warn(w)
	}
	for _, u := range bad {
		fmt.Fprintf(stderr, "hb-probe: %v\n", u)
	}
	if len(targets) == 0 {
		if len(bad) == 0 {
			fmt.Fprintln(stderr, "hb-probe: the target list is empty")
		}
		return exitSetup
	}
	if cfgErr != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", cfgErr)
		return exitSetup
	}
	// Only the families the targets need: each one opened costs sockets,
	// tables and a 1 MiB receive ring per shard.
	for _, t := range targets {
		if t.Addr.Unmap().Is4() {
			cfg.IPv4 = true
		} else {
			cfg.IPv6 = true
		}
	}
	var e *prober.Engine
	if r := <-early; cfg.IPv4 && !cfg.IPv6 && r.err == nil {
		e = r.e
	} else if r.e != nil {
		go r.e.Close() // the wrong families: closes while the right ones open
	}
	early = nil
	if e == nil {
		if e, err = prober.New(cfg); err != nil {
			fmt.Fprintf(stderr, "hb-probe: %v\n", err)
			return exitSetup
		}
	}
	defer e.Close()
	if !o.Quiet {
		fmt.Fprintf(stderr, "hb-probe: mode: %v\n", e.Mode())
	}
	opts := prober.OnceOptions{Count: o.Count, Period: o.Period}
	if !o.Quiet && len(targets) >= 1000 && isTerminal(stderr) {
		opts.Progress = func(done, total int) {
			fmt.Fprintf(stderr, "\rhb-probe: %d/%d targets done", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	defer oneshot.PauseGC(len(targets))()
	start := time.Now()
	sums, err := e.Once(ctx, targets, opts)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	elapsed := time.Since(start)
	// Close the sockets while the output is written: closing an
	// AF_PACKET socket waits for an RCU grace period (two for a receive
	// ring), tens of milliseconds that would otherwise follow the output.
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	defer func() { <-closed }()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "hb-probe: interrupted")
	}
	if o.JSON {
		err = oneshot.WriteJSON(stdout, sums)
	} else {
		err = oneshot.WriteTable(stdout, sums)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	answered := 0
	for i := range sums {
		if sums[i].Received > 0 {
			answered++
		}
	}
	if !o.Quiet {
		st := e.Stats()
		fmt.Fprintf(stderr, "hb-probe: %d/%d targets answered; %d probes in %v (%.0f/s); matched %d, timeouts %d, ICMP errors %d, duplicates %d, late %d, bad cookie %d, wrong source %d\n",
			answered, len(sums), st.Sent, elapsed.Round(time.Millisecond), float64(st.Sent)/elapsed.Seconds(),
			st.Matched, st.Timeouts, st.ICMPErrors, st.Duplicates, st.Late, st.BadCookie, st.WrongSrc)
	}
	switch {
	case len(bad) > 0:
		return exitSetup // a name not found, as fping's 2
	case answered == len(sums) && ctx.Err() == nil:
		return exitOK
	}
	return exitSome
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runFPing is `hb-probe fping ARGS` and a link named hb-fping.
func runFPing(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return oneshot.FPing(ctx, args, stdin, stdout, stderr, onceLookup)
}
