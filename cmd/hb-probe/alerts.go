// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
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
	var base, query, by, comment, caFile, serverName, silence string
	var ack uint64
	var lift, extend int64
	var dur time.Duration
	c, _, code, ok := subConfig("alerts", "Usage: hb-probe alerts [--config FILE] [--api URL] [--ca FILE] [--query 'host=H&level=critical']\n"+
		"       hb-probe alerts --ack ID [--by NAME] [--comment TEXT]\n"+
		"       hb-probe alerts --silence 'host=web1[,check=icmp]' [--for 2h] [--by NAME] [--comment TEXT]\n"+
		"       hb-probe alerts --extend SILENCE_ID [--for 1h]    |    hb-probe alerts --lift SILENCE_ID\n\n"+
		"Lists the running daemon's active alerts (GET /api/v1/alerts on the API of the config, with its token;\n"+
		"STATUS says \"silenced until 14:05 (silence 3 by alice: reboot)\" where an active silence covers one),\n"+
		"or acknowledges one (re-notification stops until it recovers). With --token-file FILE holding a user's API\n"+
		"token (hb-probe passwd --token USER) it acts as that user: their hosts only, acknowledged under their name,\n"+
		"refused (HTTP 403) where their role is monitor. --silence mutes the alerts the matchers select for --for\n"+
		"(docs/alerts.md, \"Noise control\"), --extend moves a silence's end by --for, --lift ends it now.\n\n"+
		"The daemon is found from the same config: api.listen, with an unspecified address (0.0.0.0, [::], none)\n"+
		"taken as loopback (127.0.0.1, [::1]), over https:// when web.tls_cert and web.tls_key are set, else\n"+
		"http://. The daemon's certificate is checked against the system's roots, or only against the CAs in\n"+
		"--ca FILE (PEM; a self-signed certificate may be its own CA), for the address connected to, or for\n"+
		"--servername NAME when the certificate names the host rather than the loopback address.\n"+
		"Exit status 0, or 2 when the daemon cannot be reached or refuses.\n",
		args, stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&base, "api", "", "daemon API base `URL` (default: from api.listen and web.tls_cert, e.g. https://127.0.0.1:8787)")
			fs.StringVar(&caFile, "ca", "", "PEM `FILE` with the CA certificate(s) to check the daemon's TLS certificate against (default: the system roots)")
			fs.StringVar(&serverName, "servername", "", "check the daemon's TLS certificate for this host `NAME` instead of the address connected to")
			fs.StringVar(&query, "query", "", "filters: host=, check=, level=, acked=, silenced=true|false, match=, all=1")
			fs.Uint64Var(&ack, "ack", 0, "acknowledge the alert with this `ID` (the first column of the list)")
			fs.StringVar(&by, "by", os.Getenv("USER"), "with --ack: who acknowledges (with a user's token: that user, whatever this says)")
			fs.StringVar(&comment, "comment", "", "with --ack or --silence: a comment")
			fs.StringVar(&silence, "silence", "", "create a silence with these `MATCHERS` (host=web1,check=icmp) lasting --for")
			fs.Int64Var(&extend, "extend", 0, "end the silence with this `ID` --for later")
			fs.Int64Var(&lift, "lift", 0, "end the silence with this `ID` now (delete it)")
			fs.DurationVar(&dur, "for", 2*time.Hour, "with --silence: how long; with --extend: how much longer")
		})
	if !ok {
		return code
	}
	from := "--api"
	if base == "" {
		if !c.API.APIEnabled() {
			fmt.Fprintln(stderr, "hb-probe alerts: the API is off in the config; give --api URL")
			return exitSetup
		}
		u, err := daemonURL(c)
		if err != nil {
			fmt.Fprintf(stderr, "hb-probe alerts: %v; give --api URL\n", err)
			return exitSetup
		}
		base = u
		from = fmt.Sprintf("api.listen %q", c.API.Listen)
		if c.Web.TLS() {
			from += " with web.tls_cert"
		}
	}
	hc, err := apiClient(caFile, serverName)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe alerts: %v\n", err)
		return exitSetup
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
	r := alert.Remote{Base: base, Token: token, HTTP: hc}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "hb-probe alerts: %v\n", err)
		if hint := connectHint(err, base, from); hint != "" {
			fmt.Fprintf(stderr, "hb-probe alerts: %s\n", hint)
		}
		return exitSetup
	}
	n := 0
	for _, set := range []bool{ack != 0, silence != "", extend != 0, lift != 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintln(stderr, "hb-probe alerts: give one of --ack, --silence, --extend and --lift")
		return exitSetup
	}
	switch {
	case silence != "":
		s, err := r.AddSilence(ctx, silence, dur, by, comment)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "silence %d: %s until %s by %s\n", s.ID, s.Matchers, s.EndsAt.Local().Format(time.RFC3339), s.Author)
		return exitOK
	case extend != 0:
		s, err := r.ExtendSilence(ctx, extend, dur, by)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "silence %d: %s now until %s\n", s.ID, s.Matchers, s.EndsAt.Local().Format(time.RFC3339))
		return exitOK
	case lift != 0:
		if err := r.LiftSilence(ctx, lift); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "silence %d lifted\n", lift)
		return exitOK
	}
	if ack != 0 {
		a, err := r.Ack(ctx, ack, by, comment)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "acknowledged %d: %s %s by %s\n", a.ID, a.Level, a.Text, a.AckedBy)
		return exitOK
	}
	as, err := r.Fetch(ctx, query)
	if err != nil {
		return fail(err)
	}
	alert.FormatTable(stdout, as, time.Now())
	return exitOK
}

// daemonURL is the base URL of the daemon's API from its config: the
// listen address, an unspecified one (":8787", "0.0.0.0:8787",
// "[::]:8787") as loopback, https when the listener speaks TLS.
func daemonURL(c config.Probe) (string, error) {
	host, port, err := net.SplitHostPort(c.API.Listen)
	if err != nil {
		return "", fmt.Errorf("api.listen %q: %w", c.API.Listen, err)
	}
	if host == "" {
		host = "127.0.0.1"
	} else if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
		if a.Is6() && !a.Is4In6() {
			host = "::1"
		}
	}
	scheme := "http"
	if c.Web.TLS() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// alertsDial, when not nil, dials for hb-probe alerts (tests: inside a
// network namespace).
var alertsDial func(ctx context.Context, network, addr string) (net.Conn, error)

// apiClient is the HTTP client for the daemon's API: TLS checked against
// the CAs in caFile (else the system roots), for serverName when given.
func apiClient(caFile, serverName string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", caFile)
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: nil, TLSHandshakeTimeout: 5 * time.Second, DialContext: alertsDial}
	if tr.DialContext == nil {
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	return &http.Client{Transport: tr}, nil
}

// connectHint explains a failure to reach the daemon: where the URL came
// from and what to change.
func connectHint(err error, base, from string) string {
	var ce *alert.ConnectError
	if !errors.As(err, &ce) {
		return ""
	}
	msg := err.Error()
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.As(err, &ua):
		return "the daemon's certificate is not signed by a CA this command trusts: give --ca FILE with the CA (or the self-signed certificate)"
	case errors.As(err, &hn):
		return "the daemon's certificate is not valid for the name checked (the address connected to, or --servername): give --servername NAME with a name it has"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the daemon at " + base + " speaks plain HTTP (URL from " + from + "): is web.tls_cert set in this config but not in the daemon's?"
	case strings.Contains(msg, "malformed HTTP response") || strings.Contains(msg, "EOF") && strings.HasPrefix(base, "http://"):
		return "the daemon at " + base + " does not speak plain HTTP, perhaps HTTPS (URL from " + from + "): set web.tls_cert and web.tls_key as the daemon has them, or give --api https://..."
	}
	return "is the daemon running and listening there? (URL from " + from + "; --api URL to give another)"
}
