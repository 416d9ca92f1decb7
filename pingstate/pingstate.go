// SPDX-License-Identifier: MIT

package pingstate

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hbmon/hb/checks"
	"github.com/hbmon/hb/obs"
)

// Defaults, as pingstate's.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 3 * time.Second
	DefaultAPIHost  = "127.0.0.1"
	DefaultAPIPort  = 8787
	RecentLen       = 20 // results kept in the status object's recent list
)

// Options are pingstate's command-line options.
type Options struct {
	Protocol    string // tcp, http or https
	Address     string // host name or IP address
	Port        int    // 0: 80 for http, 443 for https; required for tcp
	Path        string // http(s) request path
	Check       string // banner_contains:…, status:…, body_contains:…
	Timeout     time.Duration
	NoVerifyTLS bool
	Interval    time.Duration
	APIHost     string
	APIPort     int
}

// seconds is a flag that takes pingstate's seconds ("5", "0.5") or a Go
// duration ("5s", "500ms").
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return ""
	}
	return strconv.FormatFloat(s.d.Seconds(), 'g', -1, 64)
}

func (s seconds) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return fmt.Errorf("want seconds (5, 0.5) or a duration (5s)")
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return fmt.Errorf("must be positive")
	}
	*s.d = d
	return nil
}

// ParseArgs parses pingstate's command line (name is the program name in
// the usage text). It returns flag.ErrHelp after printing help for -h.
func ParseArgs(name string, args []string, stderr io.Writer) (Options, error) {
	o := Options{Protocol: "tcp", Path: "/", Timeout: DefaultTimeout, Interval: DefaultInterval, APIHost: DefaultAPIHost, APIPort: DefaultAPIPort}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Protocol, "protocol", o.Protocol, "what to probe: tcp (connect), http or https (request)")
	fs.StringVar(&o.Address, "address", "", "host name or IP address to probe (required)")
	fs.IntVar(&o.Port, "port", 0, "port (default 80 for http, 443 for https; required for tcp)")
	fs.StringVar(&o.Path, "path", o.Path, "http(s): request path")
	fs.StringVar(&o.Check, "check", "", "check on the answer: status:200,204 or body_contains:TEXT (http), banner_contains:TEXT (tcp)")
	fs.Var(seconds{&o.Timeout}, "timeout", "seconds a probe may take (or a duration: 2s)")
	fs.BoolVar(&o.NoVerifyTLS, "no-verify-tls", false, "https: do not verify the server's certificate")
	fs.Var(seconds{&o.Interval}, "interval", "seconds between probes (or a duration: 5s)")
	fs.StringVar(&o.APIHost, "api-host", o.APIHost, "address the status API listens on")
	fs.IntVar(&o.APIPort, "api-port", o.APIPort, "port the status API listens on")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: %s --protocol tcp|http|https --address HOST [--port N] [options]

Watches one TCP port or HTTP(S) URL like pingstate: a state machine
(unknown, up, degraded, down) fed every --interval, served on
http://API-HOST:API-PORT/ (also /status), /state and /healthz (200 only
when up). hb-probe's pingstate personality: see docs/checks.md.

Examples:
  %[1]s --protocol tcp --address 10.0.0.5 --port 22 --check banner_contains:SSH-
  %[1]s --protocol https --address example.org --path /health --check status:200,204

Options:
`, name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	_, err := o.Probe()
	return o, err
}

// Target is the check's target URL: tcp://HOST:PORT, http(s)://HOST:PORT/PATH.
func (o *Options) Target() (string, error) {
	if o.Address == "" {
		return "", errors.New("--address is required")
	}
	host := o.Address
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		host = a.String()
	}
	port := o.Port
	switch o.Protocol {
	case "tcp":
		if port == 0 {
			return "", errors.New("--port is required for --protocol tcp")
		}
	case "http":
		if port == 0 {
			port = 80
		}
	case "https":
		if port == 0 {
			port = 443
		}
	default:
		return "", fmt.Errorf("--protocol %q: want tcp, http or https", o.Protocol)
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("--port %d: want 1-65535", port)
	}
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	if o.Protocol == "tcp" {
		return "tcp://" + hp, nil
	}
	path := o.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return o.Protocol + "://" + hp + path, nil
}

// Spec is the check these options describe.
func (o *Options) Spec() (obs.CheckSpec, error) {
	t, err := o.Target()
	if err != nil {
		return obs.CheckSpec{}, err
	}
	kind := obs.KindTCP
	if o.Protocol != "tcp" {
		kind = obs.KindHTTP
	}
	params := map[string]string{}
	if o.Check != "" {
		params[checks.KeyCheck] = o.Check
	}
	if o.NoVerifyTLS {
		if kind != obs.KindHTTP {
			return obs.CheckSpec{}, errors.New("--no-verify-tls applies to --protocol https")
		}
		params[checks.KeyNoVerifyTLS] = "true"
	}
	return obs.CheckSpec{Host: o.Address, Name: o.Protocol, Kind: kind, Target: t, Interval: o.Interval, Timeout: o.Timeout, Params: params}, nil
}

// Probe validates the options and returns the parsed check.
func (o *Options) Probe() (*checks.Probe, error) {
	sp, err := o.Spec()
	if err != nil {
		return nil, err
	}
	p, err := checks.ParseProbe(sp, o.Timeout)
	if err != nil {
		return nil, fmt.Errorf("--check/--address: %w", err)
	}
	if o.APIPort < 0 || o.APIPort > 65535 {
		return nil, fmt.Errorf("--api-port %d: want 0-65535", o.APIPort)
	}
	return p, nil
}

// Describe is the status object's "probe" text: "tcp 10.0.0.5:22",
// "https example.org:443/health".
func (o *Options) Describe() string {
	t, _ := o.Target()
	_, rest, _ := strings.Cut(t, "://")
	return o.Protocol + " " + rest
}
