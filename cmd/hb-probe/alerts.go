// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/notify"
)

// subConfig parses a subcommand's flags (the daemon's, for --config) and
// returns the effective config; the remaining arguments; ok false on a
// usage error (already reported).
func subConfig(name, usage string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Probe, []string, int, bool) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Probe{}, nil, exitOK, false
		}
		return config.Probe{}, nil, exitSetup, false
	}
	o.visited = config.VisitedFlags(fs)
	c, _, err := effectiveConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe %s: config: %v\n", name, err)
		return c, nil, exitSetup, false
	}
	return c, fs.Args(), exitOK, true
}

// runNotify is `hb-probe notify --test [CHANNEL]`.
func runNotify(args []string, stdout, stderr io.Writer) int {
	var test bool
	c, rest, code, ok := subConfig("notify", "Usage: hb-probe notify --test [--config FILE] [CHANNEL]\n\n"+
		"Sends a test message through every configured alert channel (or only CHANNEL), directly,\n"+
		"and prints which worked. Exit status 0 when all did, 1 when one failed, 2 on a setup error.\n",
		args, stderr, func(fs *flag.FlagSet) { fs.BoolVar(&test, "test", false, "send a test message") })
	if !ok {
		return code
	}
	if !test || len(rest) > 1 {
		fmt.Fprintln(stderr, "hb-probe notify: usage: hb-probe notify --test [CHANNEL]")
		return exitSetup
	}
	chans, err := notify.Build(c.Alerts.Channels, c.Alerts.Outbox.Timeout.D())
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe notify: %v\n", err)
		return exitSetup
	}
	if len(chans) == 0 {
		fmt.Fprintln(stderr, "hb-probe notify: no channels configured ([[alerts.channels]])")
		return exitSetup
	}
	name := ""
	if len(rest) == 1 {
		name = rest[0]
	}
	failed, err := notify.TestChannels(context.Background(), chans, name, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe notify: %v\n", err)
		return exitSetup
	}
	if failed > 0 {
		return exitSome
	}
	return exitOK
}

// runAlerts is `hb-probe alerts`: the running daemon's active alerts, or
// acknowledge one.
func runAlerts(args []string, stdout, stderr io.Writer) int {
	var url, query, by, comment string
	var ack uint64
	c, _, code, ok := subConfig("alerts", "Usage: hb-probe alerts [--config FILE] [--api URL] [--query 'host=H&level=critical']\n"+
		"       hb-probe alerts --ack ID [--by NAME] [--comment TEXT]\n\n"+
		"Lists the running daemon's active alerts (GET /api/v1/alerts on the API of the config, with its token),\n"+
		"or acknowledges one (re-notification stops until it recovers). With --token-file FILE holding a user's API\n"+
		"token (hb-probe passwd --token USER) it acts as that user: their hosts only, acknowledged under their name,\n"+
		"refused (HTTP 403) where their role is monitor.\n",
		args, stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&url, "api", "", "daemon API base `URL` (default: http:// + api.listen)")
			fs.StringVar(&query, "query", "", "filters: host=, check=, level=, acked=, match=, all=1")
			fs.Uint64Var(&ack, "ack", 0, "acknowledge the alert with this `ID` (the first column of the list)")
			fs.StringVar(&by, "by", os.Getenv("USER"), "with --ack: who acknowledges (with a user's token: that user, whatever this says)")
			fs.StringVar(&comment, "comment", "", "with --ack: a comment")
		})
	if !ok {
		return code
	}
	if url == "" {
		if !c.API.APIEnabled() {
			fmt.Fprintln(stderr, "hb-probe alerts: the API is off in the config; give --api URL")
			return exitSetup
		}
		url = "http://" + strings.Replace(c.API.Listen, "0.0.0.0:", "127.0.0.1:", 1)
	}
	token := ""
	if c.API.TokenFile != "" {
		b, err := os.ReadFile(c.API.TokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "hb-probe alerts: token file: %v\n", err)
			return exitSetup
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ack != 0 {
		a, err := alert.AckRemote(ctx, url, token, ack, by, comment)
		if err != nil {
			fmt.Fprintf(stderr, "hb-probe alerts: %v\n", err)
			return exitSetup
		}
		fmt.Fprintf(stdout, "acknowledged %d: %s %s by %s\n", a.ID, a.Level, a.Text, a.AckedBy)
		return exitOK
	}
	as, err := alert.Fetch(ctx, url, token, query)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe alerts: %v\n", err)
		return exitSetup
	}
	alert.FormatTable(stdout, as, time.Now())
	return exitOK
}
