// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/responder"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// pushCmd is `hb-responder push -m TEXT HOST...`: one heartbeat carrying a
// message to each server, waiting for their ACKs (hbc's one-off message
// mode). It exits 0 when every server acknowledged, 1 otherwise.
func pushCmd(args []string) int {
	fs := flag.NewFlagSet("hb-responder push", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hb-responder push -m TEXT [flags] HOST[:PORT]...\n\n"+
			"Sends one heartbeat carrying TEXT as a message to each server (hb-probe's push receiver)\n"+
			"and waits for the ACKs. The key, name and seal setting come from the config file's [push]\n"+
			"section unless given here.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var (
		cfgPath = fs.String("config", "", "config file (as for the daemon)")
		msg     = fs.String("m", "", "message text (required)")
		keyFile = fs.String("key-file", "", "shared secret file (default: the config's key_file)")
		keyID   = fs.Uint("key-id", 0, "key id (default: the config's key_id)")
		name    = fs.String("name", "", "host name to send (default: the config's push.name, else the hostname)")
		wait    = fs.Duration("wait", 3*time.Second, "how long to wait for the ACKs")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *msg == "" {
		fmt.Fprintln(os.Stderr, "hb-responder push: -m TEXT is required")
		return 2
	}
	cfg, _, err := config.LoadResponder(*cfgPath, defaults())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hb-responder push:", err)
		return 2
	}
	v := config.VisitedFlags(fs)
	config.Override(v, "key-file", &cfg.KeyFile, *keyFile)
	config.Override(v, "key-id", &cfg.KeyID, uint8(*keyID))
	config.Override(v, "name", &cfg.Push.Name, *name)
	if fs.NArg() > 0 {
		cfg.Push.Servers = fs.Args()
	}
	if len(cfg.Push.Servers) == 0 {
		fmt.Fprintln(os.Stderr, "hb-responder push: no server: give HOST[:PORT] or push.servers in the config")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "hb-responder push:", err)
		return 2
	}
	key, err := responder.LoadPushKey(cfg.KeyFile, cfg.KeyID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hb-responder push:", err)
		return 2
	}
	n, err := responder.SendOnce(context.Background(), cfg.Push, key, *msg, *wait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hb-responder push:", err)
		return 1
	}
	fmt.Printf("acknowledged by %d of %d servers\n", n, len(cfg.Push.Servers))
	if n < len(cfg.Push.Servers) {
		return 1
	}
	return 0
}
