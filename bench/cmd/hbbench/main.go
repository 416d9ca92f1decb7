// SPDX-License-Identifier: MIT

//go:build linux

// Command hbbench runs hb's benchmarks against its peers on a simulated
// fleet (two network namespaces, a veth pair, 198.18.0.0/15) and writes
// docs/benchmarks.md. It needs root. bench/run.sh is the entry point:
//
//	hbbench run -out docs/benchmarks.md   # everything, under 10 minutes
//	hbbench run -only sweep -quick        # one section, small sizes
//
// The other subcommands run inside a namespace as the harness's children:
// loadgen, echo-responder, bpf-responder, xdp-pass, http-get, http-time; fleet
// keeps a fleet up for looking at a daemon by hand.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hbmon/hb/bench"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hbbench run|fleet|loadgen|echo-responder|bpf-responder [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "fleet":
		err = cmdFleet(os.Args[2:])
	case "loadgen":
		err = cmdLoadgen(os.Args[2:])
	case "echo-responder":
		err = bench.RunEchoResponder()
	case "bpf-responder":
		err = cmdBPFResponder(os.Args[2:])
	case "xdp-pass":
		err = cmdXDPPass(os.Args[2:])
	case "http-time":
		err = cmdHTTPTime(os.Args[2:])
	case "http-get":
		err = cmdHTTPGet(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hbbench:", err)
		os.Exit(1)
	}
}

func cmdLoadgen(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	var c bench.LoadConfig
	dst := fs.String("dst", bench.HostsAddr.String(), "responder address")
	fs.StringVar(&c.Iface, "if", bench.ProberIf, "interface to count replies on")
	fs.DurationVar(&c.Duration, "dur", 2*time.Second, "sending time")
	fs.Uint64Var(&c.Max, "max", 20_000_000, "at most this many requests")
	fs.IntVar(&c.Batch, "batch", 64, "requests per sendmmsg")
	fs.BoolVar(&c.XDPPass, "xdp-pass", true, "attach XDP_PASS to -if (native XDP_TX on the peer veth needs it)")
	fs.Parse(args)
	a, err := netip.ParseAddr(*dst)
	if err != nil {
		return err
	}
	c.Dst = a
	res, err := bench.RunLoad(c)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func cmdBPFResponder(args []string) error {
	fs := flag.NewFlagSet("bpf-responder", flag.ExitOnError)
	mode := fs.String("mode", "xdp", "xdp, xdpgeneric or tc")
	iface := fs.String("if", bench.HostsIf, "interface")
	addr := fs.String("addr", bench.HostsAddr.String(), "the host address to answer for")
	fleet := fs.Int("fleet", 0, "answer for the first `N` simulated hosts (bench.FleetAddr) instead of -addr")
	fs.Parse(args)
	a, err := netip.ParseAddr(*addr)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var r *bench.BPFResponder
	t0 := time.Now()
	if *fleet > 0 {
		r, err = bench.StartFleetResponder(*mode, *iface, *fleet)
	} else {
		r, err = bench.StartBPFResponder(*mode, *iface, a)
	}
	if err != nil {
		return err
	}
	fmt.Printf("ready in %.2f s\n", time.Since(t0).Seconds())
	<-sig
	c, cerr := r.Counters()
	if err := r.Close(); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	return json.NewEncoder(os.Stdout).Encode(c)
}

// cmdXDPPass attaches an XDP_PASS program to -if until SIGTERM: native
// XDP_TX on the peer veth delivers only then (the veth runs NAPI).
func cmdXDPPass(args []string) error {
	fs := flag.NewFlagSet("xdp-pass", flag.ExitOnError)
	iface := fs.String("if", bench.ProberIf, "interface")
	fs.Parse(args)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	c, err := bench.AttachXDPPass(*iface)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-sig
	return c.Close()
}

// cmdHTTPGet GETs a URL and copies the body to stdout; with -wait it retries
// until the server answers 200 (a daemon starting up).
func cmdHTTPGet(args []string) error {
	fs := flag.NewFlagSet("http-get", flag.ExitOnError)
	wait := fs.Duration("wait", 0, "retry this long until the server answers 200")
	timeout := fs.Duration("timeout", 30*time.Second, "one request's time limit")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("http-get: want one URL")
	}
	c := &http.Client{Timeout: *timeout}
	deadline := time.Now().Add(*wait)
	for {
		resp, err := c.Get(fs.Arg(0))
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				_, err = io.Copy(os.Stdout, resp.Body)
				resp.Body.Close()
				return err
			}
			resp.Body.Close()
			err = fmt.Errorf("GET %s: %s", fs.Arg(0), resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cmdHTTPTime GETs a URL n times and prints, per request, the full
// response time in ms and the body's size in bytes.
func cmdHTTPTime(args []string) error {
	fs := flag.NewFlagSet("http-time", flag.ExitOnError)
	n := fs.Int("n", 5, "requests")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("http-time: want one URL")
	}
	c := &http.Client{Timeout: 30 * time.Second}
	for range *n {
		t0 := time.Now()
		resp, err := c.Get(fs.Arg(0))
		if err != nil {
			return err
		}
		size, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", fs.Arg(0), resp.Status)
		}
		fmt.Printf("%.3f %d\n", float64(time.Since(t0).Microseconds())/1e3, size)
	}
	return nil
}
