// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/obs"
)

// ICMPFunc runs one ICMP echo check to addr within timeout, through the
// prober engine; the daemon provides it when its engine can. It returns
// an observation like the engine's (RTT, Method, ICMP error fields).
type ICMPFunc func(ctx context.Context, addr netip.Addr, timeout time.Duration) (obs.Observation, error)

// ProbeRoute serves GET /probe?target=…&module=tcp|http|icmp in the
// blackbox exporter's style, so Prometheus' multi-target relabel pattern
// works against hb-probe. Options of the module's check kind may be given
// as query parameters (check=status:200, no_verify_tls=true, timeout=2s,
// method=HEAD, host_header=…, ip=6).
type ProbeRoute struct {
	cfg    config.Checks
	prober *Prober
	icmp   ICMPFunc
	sem    chan struct{}
	rate   *bucket.Bucket // probe_rate; nil: no limit

	// Counters (exported on /metrics by WriteTo).
	served, rejected, busy, limited atomic.Uint64
}

// NewProbeRoute returns the /probe handler for [checks] c. icmp may be nil:
// module=icmp then answers 400, saying so.
func NewProbeRoute(c config.Checks, p *Prober, icmp ICMPFunc) *ProbeRoute {
	if c.ProbeLimit < 1 {
		c.ProbeLimit = 1
	}
	if p == nil {
		p = NewProber(ProberConfig{MaxBodyBytes: c.MaxBodyBytes})
	}
	r := &ProbeRoute{cfg: c, prober: p, icmp: icmp, sem: make(chan struct{}, c.ProbeLimit)}
	if c.ProbeRate > 0 {
		r.rate = bucket.New(c.ProbeRate, c.ProbeLimit)
	}
	return r
}

// Route is the api.Route to hand to the API server.
func (r *ProbeRoute) Route() api.Route {
	return api.Route{Prefix: "/probe", Open: r.cfg.ProbeOpen, Handler: r.Handle}
}

// ProbeRequest is a parsed /probe query.
type ProbeRequest struct {
	Module obs.Kind
	Spec   obs.CheckSpec // tcp/http: ready for ParseProbe
	Addr   netip.Addr    // icmp: literal address, when given
	Host   string        // icmp: name to resolve, when not a literal
}

// ParseProbeQuery parses /probe's parameters (pure). module is icmp, tcp
// or http (also the blackbox names icmp_*, tcp_*, http_*); target is an
// address or name (icmp), HOST:PORT or tcp://HOST:PORT (tcp), a URL or
// HOST[:PORT] (http). Any other parameter is a check option of the
// module's kind.
func ParseProbeQuery(args map[string]string) (ProbeRequest, error) {
	var pr ProbeRequest
	target := args["target"]
	if target == "" {
		return pr, errors.New("target parameter is missing")
	}
	if len(target) > 2048 {
		return pr, errors.New("target is too long")
	}
	mod := args["module"]
	switch {
	case mod == "icmp" || strings.HasPrefix(mod, "icmp_"):
		pr.Module = obs.KindICMP
	case mod == "tcp" || strings.HasPrefix(mod, "tcp_"):
		pr.Module = obs.KindTCP
	case mod == "http" || mod == "https" || strings.HasPrefix(mod, "http_"):
		pr.Module = obs.KindHTTP
	case mod == "":
		return pr, errors.New("module parameter is missing (icmp, tcp or http)")
	default:
		return pr, fmt.Errorf("unknown module %q (want icmp, tcp or http)", mod)
	}
	params := map[string]string{}
	for k, v := range args {
		if k != "target" && k != "module" {
			params[k] = v
		}
	}
	switch pr.Module {
	case obs.KindICMP:
		if len(params) > 0 {
			return pr, errors.New("module icmp takes no options")
		}
		t := strings.Trim(target, "[]")
		if a, err := netip.ParseAddr(t); err == nil {
			pr.Addr = a.Unmap()
		} else if validName(t) {
			pr.Host = t
		} else {
			return pr, fmt.Errorf("target %q: want an IP address or host name", target)
		}
		return pr, nil
	case obs.KindTCP:
		if !strings.HasPrefix(target, "tcp://") {
			target = "tcp://" + target
		}
	case obs.KindHTTP:
		if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
			scheme := "http://"
			if mod == "https" {
				scheme = "https://"
			}
			target = scheme + target
		}
	}
	pr.Spec = obs.CheckSpec{Host: "probe", Kind: pr.Module, Target: target, Params: params}
	return pr, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Handle serves one /probe request.
func (r *ProbeRoute) Handle(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/probe" {
		ctx.Error("not found\n", fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed)
		return
	}
	args := map[string]string{}
	dup := ""
	ctx.QueryArgs().VisitAll(func(k, v []byte) {
		if _, ok := args[string(k)]; ok {
			dup = string(k)
		}
		args[string(k)] = string(v)
	})
	if len(args) > 16 {
		dup = "(too many)"
	}
	req, err := ParseProbeQuery(args)
	if err == nil && dup != "" {
		err = fmt.Errorf("parameter %s given more than once", dup)
	}
	timeout := r.cfg.Timeout.D()
	if h := ctx.Request.Header.Peek("X-Prometheus-Scrape-Timeout-Seconds"); len(h) > 0 {
		// Leave half a second to answer, as blackbox_exporter does.
		if s, perr := strconv.ParseFloat(string(h), 64); perr == nil && s > 0 && !math.IsInf(s, 0) {
			if d := time.Duration((s - 0.5) * float64(time.Second)); d > 0 && d < timeout {
				timeout = d
			}
		}
	}
	var probe *Probe
	if err == nil && req.Module != obs.KindICMP {
		probe, err = ParseProbe(req.Spec, timeout)
		if err == nil && probe.Timeout > timeout {
			probe.Timeout = timeout
		}
	}
	if err == nil && req.Module == obs.KindICMP && r.icmp == nil {
		err = errors.New("module icmp is not served here: this hb-probe has no one-shot ICMP prober (probe ICMP hosts through the targets file and /metrics)")
	}
	if err != nil {
		r.rejected.Add(1)
		ctx.Error(err.Error()+"\n", fasthttp.StatusBadRequest)
		return
	}
	if r.rate != nil && !r.rate.Allow(time.Now()) {
		r.limited.Add(1)
		ctx.Error("too many /probe requests (probe_rate)\n", fasthttp.StatusTooManyRequests)
		return
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	default:
		r.busy.Add(1)
		ctx.Error("too many /probe requests at once\n", fasthttp.StatusServiceUnavailable)
		return
	}
	r.served.Add(1)
	start := time.Now()
	var o obs.Observation
	// Not ctx: fasthttp recycles its RequestCtx after the handler returns,
	// and a context derived from it would outlive it. The probe is bounded
	// by its timeout.
	if probe != nil {
		o = r.prober.Run(context.Background(), probe)
	} else {
		o = r.runICMP(context.Background(), req, timeout)
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.SetBody(AppendProbeMetrics(nil, req.Module, o, time.Since(start)))
}

func (r *ProbeRoute) runICMP(ctx context.Context, req ProbeRequest, timeout time.Duration) obs.Observation {
	start := time.Now() // the deadline counts from it, as in Prober.Run
	ctx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	defer cancel()
	addr := req.Addr
	var dns time.Duration
	if !addr.IsValid() {
		as, err := net.DefaultResolver.LookupNetIP(ctx, "ip", req.Host)
		dns = time.Since(start)
		if err != nil || len(as) == 0 {
			return obs.Observation{At: time.Now(), Outcome: obs.Error, Problem: "resolve: no address for " + req.Host,
				Metrics: []obs.Metric{{Name: MetricDNS, Value: dns.Seconds()}}}
		}
		addr = as[0].Unmap()
	}
	o, err := r.icmp(ctx, addr, timeout)
	if err != nil {
		o = obs.Observation{At: time.Now(), Outcome: obs.Error, Problem: err.Error()}
	}
	if dns > 0 {
		o.Metrics = append(o.Metrics[:len(o.Metrics):len(o.Metrics)], obs.Metric{Name: MetricDNS, Value: dns.Seconds()})
	}
	return o
}

// AppendProbeMetrics appends /probe's answer for one observation in the
// Prometheus text format (pure): probe_success, probe_duration_seconds
// and the module's series, named as blackbox_exporter names them where
// it has an equivalent.
func AppendProbeMetrics(b []byte, module obs.Kind, o obs.Observation, took time.Duration) []byte {
	g := func(name, help string, v float64) {
		b = append(b, "# HELP "+name+" "+help+"\n# TYPE "+name+" gauge\n"+name+" "...)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		b = append(b, '\n')
	}
	ok := 0.0
	if o.Outcome == obs.OK {
		ok = 1
	}
	m := func(name string) (float64, bool) {
		for _, x := range o.Metrics {
			if x.Name == name {
				return x.Value, true
			}
		}
		return 0, false
	}
	if o.Problem != "" {
		b = append(b, "# problem: "...)
		b = append(b, strings.ReplaceAll(o.Problem, "\n", " ")...)
		b = append(b, '\n')
	}
	g("probe_success", "Whether the probe succeeded (1) or not (0).", ok)
	dur := took.Seconds()
	if v, ok := m(MetricDuration); ok {
		dur = v
	}
	g("probe_duration_seconds", "How long the probe took, seconds.", dur)
	if v, ok := m(MetricDNS); ok {
		g("probe_dns_lookup_time_seconds", "How long name resolution took, seconds.", v)
	}
	switch module {
	case obs.KindICMP:
		name := "probe_icmp_duration_seconds"
		b = append(b, "# HELP "+name+" Duration of the ICMP echo by phase, seconds.\n# TYPE "+name+" gauge\n"...)
		b = append(b, name+`{phase="rtt"} `...)
		b = strconv.AppendFloat(b, o.RTT.Seconds(), 'g', -1, 64)
		b = append(b, '\n')
	case obs.KindTCP:
		name := "probe_tcp_duration_seconds"
		b = append(b, "# HELP "+name+" Duration of the TCP check by phase, seconds.\n# TYPE "+name+" gauge\n"...)
		c, _ := m(MetricConnect)
		b = append(b, name+`{phase="connect"} `...)
		b = strconv.AppendFloat(b, c, 'g', -1, 64)
		b = append(b, '\n')
		if fb, ok := m(MetricFirstByte); ok {
			b = append(b, name+`{phase="banner"} `...)
			b = strconv.AppendFloat(b, fb, 'g', -1, 64)
			b = append(b, '\n')
		}
	case obs.KindHTTP:
		st, _ := m(MetricStatus)
		g("probe_http_status_code", "Response HTTP status code (0: no response).", st)
		name := "probe_http_duration_seconds"
		b = append(b, "# HELP "+name+" Duration of the HTTP request by phase, seconds.\n# TYPE "+name+" gauge\n"...)
		for _, ph := range []struct{ phase, metric string }{
			{"resolve", MetricDNS}, {"connect", MetricConnect}, {"tls", MetricTLS}, {"processing", MetricFirstByte},
		} {
			v, _ := m(ph.metric)
			b = append(b, name+`{phase="`+ph.phase+`"} `...)
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
			b = append(b, '\n')
		}
		tlsUsed := 0.0
		if _, ok := m(MetricTLS); ok {
			tlsUsed = 1
		}
		g("probe_http_ssl", "Whether TLS was used for the final request.", tlsUsed)
		if v, ok := m(MetricCertEnd); ok {
			g("probe_ssl_earliest_cert_expiry", "Earliest NotAfter of the served certificate chain, unix seconds.", v)
		}
	}
	return b
}

// ProbeStats are /probe's counters.
type ProbeStats struct{ Served, Rejected, Busy, Limited uint64 }

// Stats returns the counters.
func (r *ProbeRoute) Stats() ProbeStats {
	return ProbeStats{r.served.Load(), r.rejected.Load(), r.busy.Load(), r.limited.Load()}
}
