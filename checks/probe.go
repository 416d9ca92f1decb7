// SPDX-License-Identifier: MIT

package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hbmon/hb/obs"
)

// Metric names a tcp or http observation carries (obs.Metric), in base
// units. Phases are measured with the process clock.
const (
	MetricDNS       = "dns_seconds"                       // name resolution (absent for literal or pre-resolved addresses)
	MetricConnect   = "connect_seconds"                   // TCP handshake
	MetricTLS       = "tls_seconds"                       // TLS handshake (https)
	MetricFirstByte = "first_byte_seconds"                // request written → first response byte (http)
	MetricDuration  = "duration_seconds"                  // the whole check, resolution to last byte read
	MetricStatus    = "http_status_code"                  // http
	MetricCertEnd   = "tls_cert_expiry_timestamp_seconds" // earliest NotAfter in the served chain, unix seconds
)

// Prober runs probes. Its zero value is not usable; use NewProber.
type Prober struct {
	resolver *net.Resolver
	maxBody  int64
	bannerN  int
	// Two shared transports (verify on/off) without keep-alives: every
	// check opens its own connection, as a health check must, and the
	// dialer connects to the address resolved (and timed) by the probe.
	verify, noVerify *http.Transport
}

// ProberConfig tunes a Prober; the zero value means the defaults.
type ProberConfig struct {
	Resolver     *net.Resolver  // default net.DefaultResolver
	MaxBodyBytes int64          // body bytes read and searched by body_contains; default 64 KiB
	BannerBytes  int            // banner bytes read by banner_contains; default 1 KiB
	RootCAs      *x509.CertPool // trusted roots for https; default the system's
}

// NewProber returns a Prober.
func NewProber(c ProberConfig) *Prober {
	p := &Prober{resolver: c.Resolver, maxBody: c.MaxBodyBytes, bannerN: c.BannerBytes}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.maxBody <= 0 {
		p.maxBody = 64 << 10
	}
	if p.bannerN <= 0 {
		p.bannerN = 1 << 10
	}
	p.verify = p.transport(false, c.RootCAs)
	p.noVerify = p.transport(true, nil)
	return p
}

type dialKey struct{}

// dialTarget travels in the request context: where to connect, and the
// trace to fill.
type dialTarget struct {
	addr       netip.AddrPort
	serverName string // https: the name (or address) the certificate must be valid for
	t          *timings
}

func (p *Prober) transport(insecure bool, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dt, _ := ctx.Value(dialKey{}).(*dialTarget)
			if dt == nil {
				return nil, errors.New("checks: no dial target")
			}
			return dt.t.dial(ctx, dt.addr)
		},
		// TLS is done here rather than by the transport so that the
		// certificate's expiry is known even when verification fails, and
		// the handshake is timed with the check's own clock.
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dt, _ := ctx.Value(dialKey{}).(*dialTarget)
			if dt == nil {
				return nil, errors.New("checks: no dial target")
			}
			c, err := dt.t.dial(ctx, dt.addr)
			if err != nil {
				return nil, err
			}
			tc, err := dt.t.handshake(ctx, c, dt.serverName, insecure, roots)
			if err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		ResponseHeaderTimeout:  0, // the request context carries the deadline
	}
}

// handshake runs the TLS client handshake on c: the chain is verified
// (unless insecure) against roots (nil: the system's) for serverName, and
// its earliest expiry recorded either way.
func (t *timings) handshake(ctx context.Context, c net.Conn, serverName string, insecure bool, roots *x509.CertPool) (*tls.Conn, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // verified below unless no_verify_tls, the user's explicit choice
		VerifyConnection: func(cs tls.ConnectionState) error {
			end := earliestExpiry(cs.PeerCertificates)
			t.set(func(p *phases) { p.certEnd = end })
			if insecure {
				return nil
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: no server certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, DNSName: serverName, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return nil
		},
	}
	if _, err := netip.ParseAddr(serverName); err != nil {
		cfg.ServerName = serverName // SNI only for names (RFC 6066 §3)
	}
	tc := tls.Client(c, cfg)
	t.mark(func(p *phases) *time.Duration { return &p.tlsStart })
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &phaseError{"tls", err}
	}
	t.mark(func(p *phases) *time.Duration { return &p.tlsDone })
	return tc, nil
}

// phases are the phases of one check, as offsets from its start.
type phases struct {
	dns                    time.Duration
	connStart, connDone    time.Duration
	tlsStart, tlsDone      time.Duration
	wrote, firstByte, done time.Duration
	resolved               bool
	certEnd                time.Time // earliest NotAfter of the served chain (also when verification failed)
}

// timings collects one check's phases. net/http may still be dialing for
// a request that has already failed, so every access is locked, and
// nothing is recorded once the check has finished.
type timings struct {
	start    time.Time
	mu       sync.Mutex // guards p and finished
	p        phases
	finished bool
}

func (t *timings) since() time.Duration { return time.Since(t.start) }

// set records into the phases unless the check has finished.
func (t *timings) set(fn func(p *phases)) {
	t.mu.Lock()
	if !t.finished {
		fn(&t.p)
	}
	t.mu.Unlock()
}

func (t *timings) mark(field func(p *phases) *time.Duration) {
	d := t.since()
	t.set(func(p *phases) { *field(p) = d })
}

func (t *timings) get() phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.p
}

// finish marks the end and returns the final phases.
func (t *timings) finish() phases {
	d := t.since()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.done, t.finished = d, true
	return t.p
}

func earliestExpiry(certs []*x509.Certificate) time.Time {
	var end time.Time
	for _, c := range certs {
		if end.IsZero() || c.NotAfter.Before(end) {
			end = c.NotAfter
		}
	}
	return end
}

var dialer = net.Dialer{KeepAlive: -1}

func (t *timings) dial(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
	t.mark(func(p *phases) *time.Duration { return &p.connStart })
	c, err := dialer.DialContext(ctx, "tcp", a.String())
	if err == nil {
		t.mark(func(p *phases) *time.Duration { return &p.connDone })
	}
	return c, err
}

// Run runs probe p once, within its timeout (and ctx), and returns the
// observation.
func (p *Prober) Run(ctx context.Context, pr *Probe) obs.Observation {
	// The deadline counts from the clock's start: a deadline set first
	// would leave a check preempted in between reporting less than its
	// timeout when it times out.
	t := &timings{start: time.Now()}
	ctx, cancel := context.WithDeadline(ctx, t.start.Add(pr.Timeout))
	defer cancel()
	var o obs.Observation
	addr, err := p.resolve(ctx, pr, t)
	if err == nil {
		if pr.Kind == obs.KindTCP {
			o, err = p.runTCP(ctx, pr, addr, t)
		} else {
			o, err = p.runHTTP(ctx, pr, addr, t)
		}
	}
	ph := t.finish()
	o.At = time.Now()
	if err != nil {
		o.Outcome, o.Problem = classify(err, pr.Timeout)
		o.RTT, o.Method = 0, obs.MethodNone
	} else {
		o.Outcome = obs.OK
		o.Method = obs.MethodUser
	}
	o.Metrics = ph.metrics(o.Metrics, pr)
	return o
}

func (p *Prober) resolve(ctx context.Context, pr *Probe, t *timings) (netip.AddrPort, error) {
	if pr.Addr.IsValid() {
		return netip.AddrPortFrom(pr.Addr, pr.Port), nil
	}
	as, err := p.resolver.LookupNetIP(ctx, pr.Family.network(), pr.Host)
	d := t.since()
	t.set(func(p *phases) { p.dns, p.resolved = d, true })
	if err != nil {
		return netip.AddrPort{}, &phaseError{"resolve", err}
	}
	if len(as) == 0 {
		return netip.AddrPort{}, &phaseError{"resolve", fmt.Errorf("no address for %s", pr.Host)}
	}
	return netip.AddrPortFrom(as[0].Unmap(), pr.Port), nil
}

// phaseError says which phase of a check failed.
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// checkError is a check that ran to the end and did not pass (an outcome
// of obs.Error, never a timeout).
type checkError struct{ msg string }

func (e *checkError) Error() string { return e.msg }

func (p *Prober) runTCP(ctx context.Context, pr *Probe, a netip.AddrPort, t *timings) (obs.Observation, error) {
	c, err := t.dial(ctx, a)
	if err != nil {
		return obs.Observation{}, &phaseError{"connect", err}
	}
	defer c.Close()
	ph := t.get()
	o := obs.Observation{RTT: ph.connDone - ph.connStart, Detail: "connect ok"}
	var wants [][]byte
	for _, e := range pr.Expects {
		if e.Kind == ExpectBannerContains {
			wants = append(wants, []byte(e.Text))
		}
	}
	if wants == nil {
		return o, nil
	}
	found := func(b []byte) bool {
		for _, w := range wants {
			if !bytes.Contains(b, w) {
				return false
			}
		}
		return true
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(dl)
	}
	buf := make([]byte, 0, 256)
	for len(buf) < p.bannerN {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), p.bannerN-len(buf)))
		}
		n, err := c.Read(buf[len(buf):min(cap(buf), p.bannerN)])
		buf = buf[:len(buf)+n]
		if n > 0 && len(buf) == n {
			t.mark(func(p *phases) *time.Duration { return &p.firstByte })
		}
		if found(buf) {
			o.Detail = "banner " + printable(firstLine(buf), 64)
			return o, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return o, &phaseError{"banner", err}
		}
	}
	if len(buf) == 0 {
		return o, &checkError{"no banner (connection closed)"}
	}
	var lacks []byte
	for _, w := range wants {
		if !bytes.Contains(buf, w) {
			lacks = w
			break
		}
	}
	return o, &checkError{fmt.Sprintf("banner %q lacks %q", printable(firstLine(buf), 64), lacks)}
}

func (p *Prober) runHTTP(ctx context.Context, pr *Probe, a netip.AddrPort, t *timings) (obs.Observation, error) {
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { t.mark(func(p *phases) *time.Duration { return &p.wrote }) },
		GotFirstResponseByte: func() { t.mark(func(p *phases) *time.Duration { return &p.firstByte }) },
	}
	ctx = httptrace.WithClientTrace(context.WithValue(ctx, dialKey{}, &dialTarget{a, pr.Host, t}), trace)
	req, err := http.NewRequestWithContext(ctx, pr.Method, pr.URL.String(), nil)
	if err != nil {
		return obs.Observation{}, &phaseError{"request", err}
	}
	req.Header.Set("User-Agent", "hb-probe")
	if pr.HostHeader != "" {
		req.Host = pr.HostHeader
	}
	tr := p.verify
	if pr.NoVerify {
		tr = p.noVerify
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		var pe *phaseError
		if errors.As(err, &pe) {
			return obs.Observation{}, err
		}
		return obs.Observation{}, &phaseError{t.httpPhase(pr), err}
	}
	defer resp.Body.Close()
	o := obs.Observation{Detail: "HTTP " + strconv.Itoa(resp.StatusCode)}
	o.Metrics = append(o.Metrics, obs.Metric{Name: MetricStatus, Value: float64(resp.StatusCode)})
	// Read the body (bounded): a server that stalls mid-body times out
	// here, and body_contains searches what was read.
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody))
	if err != nil {
		return o, &phaseError{"body", err}
	}
	ph := t.get()
	o.RTT = ph.firstByte - ph.connStart
	return o, checkHTTP(pr.Expects, resp.StatusCode, body, p.maxBody)
}

func (t *timings) httpPhase(pr *Probe) string {
	ph := t.get()
	switch {
	case ph.connDone == 0:
		return "connect"
	case pr.URL.Scheme == "https" && ph.tlsDone == 0:
		return "tls"
	case ph.firstByte == 0:
		return "response"
	}
	return "body"
}

// checkHTTP applies the checks to a response: every status:… must list
// the status (without one, 2xx and 3xx pass), and every body_contains:…
// must be found in the body read.
func checkHTTP(es []Expect, status int, body []byte, limit int64) error {
	statusChecked := false
	for _, e := range es {
		if e.Kind == ExpectStatus {
			statusChecked = true
			if !slices.Contains(e.Statuses, status) {
				return &checkError{fmt.Sprintf("HTTP %d, want %s", status, strings.TrimPrefix(e.String(), "status:"))}
			}
		}
	}
	if !statusChecked && (status < 200 || status > 399) {
		return &checkError{fmt.Sprintf("HTTP %d", status)}
	}
	for _, e := range es {
		if e.Kind == ExpectBodyContains && !bytes.Contains(body, []byte(e.Text)) {
			return &checkError{fmt.Sprintf("HTTP %d, body (first %d bytes) lacks %q", status, min(int64(len(body)), limit), e.Text)}
		}
	}
	return nil
}

func (t *phases) metrics(ms []obs.Metric, pr *Probe) []obs.Metric {
	if t.resolved {
		ms = append(ms, obs.Metric{Name: MetricDNS, Value: t.dns.Seconds()})
	}
	if t.connDone > 0 {
		ms = append(ms, obs.Metric{Name: MetricConnect, Value: (t.connDone - t.connStart).Seconds()})
	}
	if t.tlsDone > 0 {
		ms = append(ms, obs.Metric{Name: MetricTLS, Value: (t.tlsDone - t.tlsStart).Seconds()})
	}
	if t.firstByte > 0 {
		from := t.wrote
		if pr.Kind == obs.KindTCP {
			from = t.connDone
		}
		ms = append(ms, obs.Metric{Name: MetricFirstByte, Value: (t.firstByte - from).Seconds()})
	}
	if !t.certEnd.IsZero() {
		ms = append(ms, obs.Metric{Name: MetricCertEnd, Value: float64(t.certEnd.Unix())})
	}
	return append(ms, obs.Metric{Name: MetricDuration, Value: t.done.Seconds()})
}

// classify turns a failed check's error into an outcome and a short,
// readable cause: "connect: connection refused", "timeout after 2s
// (connect)", "tls: x509: certificate has expired …", "HTTP 500, want 200".
func classify(err error, timeout time.Duration) (obs.Outcome, string) {
	var ce *checkError
	if errors.As(err, &ce) {
		return obs.Error, ce.msg
	}
	phase := "check"
	var pe *phaseError
	if errors.As(err, &pe) {
		phase = pe.phase
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return obs.Timeout, "timeout after " + timeout.String() + " (" + phase + ")"
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return obs.Error, phase + ": connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return obs.Error, phase + ": connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return obs.Error, phase + ": host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return obs.Error, phase + ": network unreachable"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return obs.Error, "resolve: no such host " + dnsErr.Name
		}
		return obs.Error, "resolve: " + dnsErr.Err
	}
	msg := innermost(err).Error()
	if msg == "EOF" || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "connection closed by server"
	}
	if strings.HasPrefix(msg, phase+": ") { // crypto/tls says "tls: …" itself
		return obs.Error, msg
	}
	return obs.Error, phase + ": " + msg
}

// innermost strips phase and net.OpError wrappers, whose text repeats
// the addresses the check already names.
func innermost(err error) error {
	for {
		var op *net.OpError
		var pe *phaseError
		switch {
		case errors.As(err, &op) && op.Err != nil:
			err = op.Err
		case errors.As(err, &pe):
			err = pe.err
		default:
			return err
		}
	}
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}

// printable keeps at most n bytes of b, with non-printable bytes as '.'.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
