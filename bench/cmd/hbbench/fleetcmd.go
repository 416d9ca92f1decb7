// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hbmon/hb/bench"
	"github.com/hbmon/hb/internal/testutil"
)

// cmdFleet builds the simulated fleet the monitor rows use, writes a list
// of -n targets and waits for a signal, so that a daemon can be run and
// looked at by hand (perf, /proc/PID/smaps, pprof) in the prober namespace:
//
//	hbbench fleet -n 100000 -steer &   # prints the namespaces and the list
//	hbbench fleet -n 100000 -xdp -threaded &   # also "napi prober hbp0 PID", "napi hosts hbh0 PID"
//	ip netns exec PREFIX-p hb-probe --targets LIST --db /tmp/x.db ...
//
// It deletes the namespaces and the list on SIGINT or SIGTERM.
func cmdFleet(args []string) error {
	fs := flag.NewFlagSet("fleet", flag.ExitOnError)
	prefix := fs.String("prefix", "hbfleet", "namespace name prefix")
	n := fs.Int("n", 100000, "targets to write to the list")
	steer := fs.Bool("steer", false, "steer the hosts' receive to CPU 1 and the prober's to CPU 0 (the monitor section's steered row)")
	xdp := fs.Bool("xdp", false, "the hosts answer hb's probes to the first -n of them by hb's XDP responder program (the monitor section's fleet), not by the kernel's echo")
	threaded := fs.Bool("threaded", false, "with -xdp: both veths run their NAPI in kernel threads at SCHED_FIFO (the monitor section's accounting); prints their pids: the prober's (the replies' receive, the daemon's own work) and the hosts' (the fleet's)")
	fs.Parse(args)
	if *threaded && !*xdp {
		return fmt.Errorf("fleet: -threaded needs -xdp (a veth runs NAPI only with an XDP program)")
	}
	if err := bench.DeleteStale(*prefix); err != nil {
		return err
	}
	f, err := bench.NewFleet(bench.FleetConfig{Prefix: *prefix, Block: testutil.SimPrefix, Block6: netip.MustParsePrefix("2001:2::/64")})
	if err != nil {
		return err
	}
	defer func() {
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "hbbench: fleet cleanup:", err)
		}
	}()
	if *steer {
		if err := f.SteerRx(f.Hosts, bench.HostsIf, "2"); err != nil {
			return err
		}
		if err := f.SteerRx(f.Prober, bench.ProberIf, "1"); err != nil {
			return err
		}
	}
	if *xdp {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		// Children in each namespace (an attachment lives as long as its
		// process); they die with this one.
		for _, c := range []*exec.Cmd{
			f.Command(f.Prober, self, "xdp-pass", "-if", bench.ProberIf),
			f.Command(f.Hosts, self, "bpf-responder", "-mode", "xdp", "-if", bench.HostsIf, "-fleet", strconv.Itoa(*n)),
		} {
			p, err := startBackground(c)
			if err != nil {
				return err
			}
			defer func() {
				so, _ := p.stop()
				fmt.Fprintf(os.Stderr, "hbbench: %s: %s\n", c.Args[5], strings.TrimSpace(so))
			}()
			if _, err := p.waitFor("ready", 5*time.Minute); err != nil {
				return err
			}
		}
		fmt.Println("XDP responder attached")
		if *threaded {
			for _, x := range []struct{ what, ns, ifname string }{
				{"prober", f.Prober, bench.ProberIf}, {"hosts", f.Hosts, bench.HostsIf},
			} {
				pids, err := f.ThreadedNAPI(x.ns, x.ifname, true)
				if err == nil {
					err = bench.PromptNAPI(pids) // as the monitor rows: no ring overflow
				}
				if err != nil {
					return err
				}
				fmt.Printf("napi %s %s", x.what, x.ifname)
				for _, p := range pids {
					fmt.Printf(" %d", p)
				}
				fmt.Println()
			}
		}
	}
	dir, err := os.MkdirTemp("", "hbfleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := &env{tmp: dir}
	list := e.targets(*n)
	fmt.Printf("prober namespace %s\nhosts namespace %s\ntargets %s\n", f.Prober, f.Hosts, filepath.Clean(list))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
