// SPDX-License-Identifier: MIT

package checks

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hbmon/hb/obs"
)

// Option keys a tcp or http check accepts in a targets line
// (`tcp://db:5432 check=banner_contains:SSH- timeout=3s`). The targets
// parser rejects other keys for these kinds; OptionKeys returns them.
const (
	KeyCheck       = "check"         // status:200,204 | body_contains:TEXT | banner_contains:TEXT
	KeyTimeout     = "timeout"       // Go duration, e.g. 2s
	KeyMethod      = "method"        // HTTP method, default GET
	KeyHostHeader  = "host_header"   // Host header to send instead of the URL's host
	KeyNoVerifyTLS = "no_verify_tls" // true|false ("no_verify_tls" alone means true)
	KeyIP          = "ip"            // 4 | 6 | any: address family to resolve and connect with
	KeyInterval    = "interval"      // read by the targets parser into CheckSpec.Interval; accepted here
)

var (
	tcpKeys  = []string{KeyCheck, KeyTimeout, KeyInterval, KeyIP}
	httpKeys = []string{KeyCheck, KeyTimeout, KeyInterval, KeyMethod, KeyHostHeader, KeyNoVerifyTLS, KeyIP}
)

// OptionKeys returns the option keys check kind k accepts, nil for kinds
// this package does not serve.
func OptionKeys(k obs.Kind) []string {
	switch k {
	case obs.KindTCP:
		return slices.Clone(tcpKeys)
	case obs.KindHTTP:
		return slices.Clone(httpKeys)
	}
	return nil
}

// ExpectKind is what a check= option tests.
type ExpectKind uint8

const (
	ExpectNone           ExpectKind = iota // tcp: connect ok; http: status 2xx/3xx
	ExpectStatus                           // status:200,204
	ExpectBodyContains                     // body_contains:TEXT (http)
	ExpectBannerContains                   // banner_contains:TEXT (tcp)
)

// Expect is a parsed check= option.
type Expect struct {
	Kind     ExpectKind
	Statuses []int  // ExpectStatus
	Text     string // ExpectBodyContains, ExpectBannerContains
}

// ParseExpect parses a check= value for kind k: "status:200,204" and
// "body_contains:TEXT" for http, "banner_contains:TEXT" for tcp. An empty
// value means no check beyond the default.
func ParseExpect(k obs.Kind, s string) (Expect, error) {
	if s == "" {
		return Expect{}, nil
	}
	name, arg, ok := strings.Cut(s, ":")
	if !ok {
		return Expect{}, fmt.Errorf("check %q: want status:CODES, body_contains:TEXT or banner_contains:TEXT", s)
	}
	switch name {
	case "status":
		if k != obs.KindHTTP {
			return Expect{}, fmt.Errorf("check %q: status applies to http checks only", s)
		}
		var codes []int
		for _, f := range strings.Split(arg, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || c < 100 || c > 599 {
				return Expect{}, fmt.Errorf("check %q: bad status code %q (want 100..599)", s, f)
			}
			if !slices.Contains(codes, c) {
				codes = append(codes, c)
			}
		}
		return Expect{Kind: ExpectStatus, Statuses: codes}, nil
	case "body_contains":
		if k != obs.KindHTTP {
			return Expect{}, fmt.Errorf("check %q: body_contains applies to http checks only", s)
		}
		if arg == "" {
			return Expect{}, fmt.Errorf("check %q: empty text", s)
		}
		return Expect{Kind: ExpectBodyContains, Text: arg}, nil
	case "banner_contains":
		if k != obs.KindTCP {
			return Expect{}, fmt.Errorf("check %q: banner_contains applies to tcp checks only", s)
		}
		if arg == "" {
			return Expect{}, fmt.Errorf("check %q: empty text", s)
		}
		return Expect{Kind: ExpectBannerContains, Text: arg}, nil
	}
	return Expect{}, fmt.Errorf("check %q: unknown check %q (want status, body_contains or banner_contains)", s, name)
}

// String is the check= value that parses back to e.
func (e Expect) String() string {
	switch e.Kind {
	case ExpectStatus:
		s := make([]string, len(e.Statuses))
		for i, c := range e.Statuses {
			s[i] = strconv.Itoa(c)
		}
		return "status:" + strings.Join(s, ",")
	case ExpectBodyContains:
		return "body_contains:" + e.Text
	case ExpectBannerContains:
		return "banner_contains:" + e.Text
	}
	return ""
}

// Family restricts name resolution and connections to one address family.
type Family uint8

const (
	FamilyAny Family = iota // both; the resolver's first answer (or Addr) wins
	Family4                 // IPv4 only
	Family6                 // IPv6 only
)

// ParseFamily parses an ip= value: "4", "6", "any" (also "ipv4", "ipv6").
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(s) {
	case "", "any":
		return FamilyAny, nil
	case "4", "ipv4", "ip4":
		return Family4, nil
	case "6", "ipv6", "ip6":
		return Family6, nil
	}
	return FamilyAny, fmt.Errorf("ip %q: want 4, 6 or any", s)
}

func (f Family) network() string {
	switch f {
	case Family4:
		return "ip4"
	case Family6:
		return "ip6"
	}
	return "ip"
}

// Probe is one check, parsed and validated: everything needed to run it.
// It is plain data; running it is Prober's job.
type Probe struct {
	Kind       obs.Kind // KindTCP or KindHTTP
	URL        *url.URL // http: the request URL (scheme http or https)
	Host       string   // host name or literal address, without brackets
	Port       uint16
	Addr       netip.Addr // connect here instead of resolving Host, when valid
	Family     Family
	Timeout    time.Duration
	Expects    []Expect // every one must pass (check= may be repeated)
	Method     string   // http
	HostHeader string   // http: overrides the Host header
	NoVerify   bool     // https: skip certificate verification
}

// ErrNotServed is returned for kinds this package does not run.
var ErrNotServed = errors.New("check kind not served by the tcp/http checks")

// ParseProbe validates spec and returns its Probe. defTimeout applies when
// neither spec.Timeout nor a timeout= option is set. The target is
// spec.Target: "tcp://host:port", "http://host[:port]/path" or
// "https://…"; spec.Addr, when valid, is the address to connect to.
func ParseProbe(spec obs.CheckSpec, defTimeout time.Duration) (*Probe, error) {
	if spec.Kind != obs.KindTCP && spec.Kind != obs.KindHTTP {
		return nil, fmt.Errorf("%s: %w", spec.Kind, ErrNotServed)
	}
	p := &Probe{Kind: spec.Kind, Addr: spec.Addr.Unmap(), Timeout: spec.Timeout, Method: "GET"}
	if p.Timeout == 0 {
		p.Timeout = defTimeout
	}
	if err := p.parseTarget(spec.Target); err != nil {
		return nil, err
	}
	allowed := tcpKeys
	if spec.Kind == obs.KindHTTP {
		allowed = httpKeys
	}
	for _, k := range sortedKeys(spec.Params) {
		v := spec.Params[k]
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("option %q does not apply to %s checks (allowed: %s)", k, spec.Kind, strings.Join(allowed, ", "))
		}
		var err error
		switch k {
		case KeyCheck:
			for _, c := range obs.ParamList(spec.Params, k) {
				var e Expect
				if e, err = ParseExpect(spec.Kind, c); err != nil {
					break
				}
				if e.Kind != ExpectNone {
					p.Expects = append(p.Expects, e)
				}
			}
		case KeyTimeout:
			p.Timeout, err = parseTimeout(v)
		case KeyMethod:
			p.Method, err = parseMethod(v)
		case KeyHostHeader:
			if v == "" || strings.ContainsAny(v, " \t\r\n/") {
				err = fmt.Errorf("host_header %q: want a host name (and :port)", v)
			}
			p.HostHeader = v
		case KeyNoVerifyTLS:
			p.NoVerify, err = parseBool(k, v)
		case KeyIP:
			p.Family, err = ParseFamily(v)
		case KeyInterval:
			// CheckSpec.Interval carries it; validated by the targets parser.
		}
		if err != nil {
			return nil, err
		}
	}
	if p.Timeout <= 0 {
		return nil, errors.New("no timeout: set timeout= or the checks default")
	}
	if p.Addr.IsValid() && ((p.Family == Family4 && !p.Addr.Is4()) || (p.Family == Family6 && !p.Addr.Is6())) {
		if _, err := netip.ParseAddr(p.Host); err == nil {
			return nil, fmt.Errorf("address %v does not match ip=%s", p.Addr, spec.Params[KeyIP])
		}
		// A name resolved (by the targets file) in the other family:
		// resolve it again, in the family asked for, at each run.
		p.Addr = netip.Addr{}
	}
	return p, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (p *Probe) parseTarget(t string) error {
	u, err := url.Parse(t)
	if err != nil {
		return fmt.Errorf("target %q: %w", t, err)
	}
	switch {
	case p.Kind == obs.KindTCP && u.Scheme == "tcp":
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return fmt.Errorf("target %q: want tcp://HOST:PORT", t)
		}
	case p.Kind == obs.KindHTTP && (u.Scheme == "http" || u.Scheme == "https"):
		if u.User != nil {
			return fmt.Errorf("target %q: credentials in the URL are not supported", t)
		}
		u.Fragment = ""
		if u.Path == "" {
			u.Path = "/"
		}
		p.URL = u
	default:
		return fmt.Errorf("target %q: want tcp://HOST:PORT, http://HOST[:PORT]/PATH or https://…", t)
	}
	p.Host = u.Hostname()
	if p.Host == "" {
		return fmt.Errorf("target %q: no host", t)
	}
	port := u.Port()
	switch {
	case port != "":
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("target %q: bad port %q", t, port)
		}
		p.Port = uint16(n)
	case u.Scheme == "http":
		p.Port = 80
	case u.Scheme == "https":
		p.Port = 443
	default:
		return fmt.Errorf("target %q: tcp needs a port", t)
	}
	if a, err := netip.ParseAddr(p.Host); err == nil {
		if p.Addr.IsValid() && p.Addr != a.Unmap() {
			return fmt.Errorf("target %q: address %v differs from the resolved %v", t, a, p.Addr)
		}
		p.Addr = a.Unmap()
	}
	return nil
}

func parseTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		if n, err2 := strconv.ParseFloat(v, 64); err2 == nil {
			d, err = time.Duration(n*float64(time.Second)), nil
		}
	}
	if err != nil || d <= 0 || d > 10*time.Minute {
		return 0, fmt.Errorf("timeout %q: want a duration in (0, 10m], e.g. 2s", v)
	}
	return d, nil
}

func parseMethod(v string) (string, error) {
	m := strings.ToUpper(v)
	switch m {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH":
		return m, nil
	}
	return "", fmt.Errorf("method %q: want GET, HEAD, POST, PUT, DELETE, OPTIONS or PATCH", v)
}

func parseBool(k, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "true", "yes", "1", "on":
		return true, nil
	case "false", "no", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q: want true or false", k, v)
}

// Name is the check name a target gets by default: "tcp:PORT" for tcp,
// "http:PATH" for http(s) (the scheme's default port omitted), as in
// obs.CheckSpec.Name.
func (p *Probe) Name() string {
	if p.Kind == obs.KindTCP {
		return "tcp:" + strconv.Itoa(int(p.Port))
	}
	return "http:" + p.URL.RequestURI()
}

// hostPort is Host:Port for dialing by name.
func (p *Probe) hostPort() string { return net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))) }
