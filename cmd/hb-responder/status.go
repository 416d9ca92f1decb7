// SPDX-License-Identifier: MIT

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hbmon/hb/responder"
)

// statusCmd prints what the running hb-responder last wrote to its status
// file. Exit 0: running and publishing; 1: not running or stale.
func statusCmd(args []string) int {
	fset := flag.NewFlagSet("hb-responder status", flag.ContinueOnError)
	path := fset.String("status-file", responder.DefaultStatusPath(), "status file the daemon writes")
	asJSON := fset.Bool("json", false, "print the raw status as JSON")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	s, err := responder.ReadStatus(*path)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "hb-responder status: not running (no %s)\n", *path)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hb-responder status:", err)
		return 1
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(s)
		return 0
	}
	now := time.Now()
	alive := syscall.Kill(s.PID, 0) == nil || errors.Is(syscall.Kill(s.PID, 0), syscall.EPERM)
	age := now.Sub(s.LastPublish).Round(time.Millisecond)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "pid\t%d (%s)\n", s.PID, map[bool]string{true: "running", false: "NOT RUNNING"}[alive])
	fmt.Fprintf(w, "version\t%s\n", s.Version)
	fmt.Fprintf(w, "started\t%s\n", s.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "last blob\tgeneration %d, %s ago\n", s.Generation, age)
	fmt.Fprintf(w, "key id\t%d\n", s.KeyID)
	fmt.Fprintf(w, "udp port\t%d\n", s.UDPPort)
	fmt.Fprintf(w, "hbm2 compat\t%v\n", s.HBM2)
	if s.UserspaceOnly {
		fmt.Fprintf(w, "mode\tuserspace only (no eBPF)\n")
	}
	for _, i := range s.Interfaces {
		line := i.Mode
		if i.Error != "" {
			line += "  (" + i.Error + ")"
		}
		fmt.Fprintf(w, "iface %s\t%s\n", i.Name, line)
	}
	c := s.Counters
	fmt.Fprintf(w, "kernel\tanswered %d, reach %d, hbm2 %d, passed %d, denied %d, too-small %d, rate-limited %d\n", c.Answered, c.Reach, c.HBM2, c.Passed, c.Denied, c.TooSmall, c.RateLimited)
	u := s.UDP
	fmt.Fprintf(w, "userspace udp\tanswered %d, reachable %d, dropped %d, rate-limited %d\n", u.Answered, u.Reachable, u.Dropped, u.RateLimited)
	w.Flush()
	if !alive {
		return 1
	}
	if stale := now.Sub(s.Updated); stale > 10*time.Second {
		fmt.Fprintf(os.Stderr, "hb-responder status: status file is %s old: the daemon is stuck\n", stale.Round(time.Second))
		return 1
	}
	return 0
}
