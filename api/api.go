// SPDX-License-Identifier: MIT

package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/hbmon/hb/internal/keyfile"
	"github.com/hbmon/hb/state"
)

// DefaultAddr is where the API listens unless told otherwise: loopback
// only, so nothing is exposed without a decision.
const DefaultAddr = "127.0.0.1:8787"

// Config configures the server. The zero value serves on DefaultAddr
// without authentication.
type Config struct {
	Addr string // host:port; default DefaultAddr

	// Token, if set, is the bearer token every request except /healthz
	// must carry ("Authorization: Bearer TOKEN"). TokenFile is read when
	// Token is empty; surrounding whitespace is trimmed.
	Token     string
	TokenFile string
	// OpenMetrics exempts /metrics from the token, for scrapers that
	// cannot send one. /healthz is always open.
	OpenMetrics bool

	Version string // reported by /healthz

	// Routes are extra endpoints other packages serve on this listener
	// (checks' /probe, pulses, alerts, the dashboard). They are matched by
	// path prefix before the built-in ones, longest prefix first.
	Routes []Route

	// ExportLabels are target-file label names added to every per-host
	// series on /metrics (config [checks] export_labels); a host without
	// the label gets none.
	ExportLabels []string

	// Pprof serves Go's profiles (net/http/pprof's endpoints, through
	// fasthttp/pprofhandler) under /debug/pprof/, behind the bearer token
	// like every other endpoint. Off by default: a CPU profile costs the
	// daemon CPU while it runs. Config [api] pprof.
	Pprof bool

	// Collectors write further metric families at the end of /metrics
	// (the RTT histograms, other packages' counters), in the text format.
	Collectors []io.WriterTo

	// Authorize, when set, accepts further credentials besides the bearer
	// token (the dashboard's sessions and users' API tokens, web/), and
	// makes every endpoint but /healthz and open routes require one of
	// them even without a token file. It answers whether ctx carries them.
	Authorize func(ctx *fasthttp.RequestCtx) bool

	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Route is an endpoint served by another package. Its handler does its own
// method checks; the server applies the bearer token first unless Open.
type Route struct {
	Prefix  string // "/probe", "/api/v1/alerts" (matches the path and anything below it)
	Open    bool   // no bearer token needed (like /healthz)
	Handler fasthttp.RequestHandler
}

// Server is the API server. Its handlers read the table, the history
// source and the stats source; they never write to any of them.
type Server struct {
	cfg   Config
	token [32]byte // sha256 of the token; compared in constant time
	auth  bool
	// hasToken: a bearer token is configured (auth may be set by
	// Authorize alone).
	hasToken bool
	table    *state.Table
	history  HistorySource
	stats    StatsSource
	started  time.Time
	srv      *fasthttp.Server

	rate rateSampler

	labelsMu sync.Mutex                // serializes rebuilds of labels
	labels   atomic.Pointer[labelMemo] // per-host Prometheus label strings for one view
}

// New returns a server for table. history and stats may be nil: history
// endpoints then answer 503 and the engine counters read zero.
func New(cfg Config, table *state.Table, history HistorySource, stats StatsSource) (*Server, error) {
	if table == nil {
		return nil, errors.New("api: nil table")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tok := cfg.Token
	if tok == "" && cfg.TokenFile != "" {
		var err error
		if tok, err = keyfile.Text(cfg.TokenFile); err != nil {
			return nil, fmt.Errorf("api: token file: %w", err)
		}
	}
	if cfg.Pprof {
		cfg.Routes = append(slices.Clip(cfg.Routes), Route{Prefix: "/debug/pprof/", Handler: pprofhandler.PprofHandler})
	}
	s := &Server{cfg: cfg, table: table, history: history, stats: stats, started: cfg.Now()}
	if tok != "" {
		s.auth = true
		s.token = sha256.Sum256([]byte(tok))
	}
	s.hasToken = tok != ""
	if cfg.Authorize != nil {
		s.auth = true
	}
	s.srv = &fasthttp.Server{
		Handler:              s.Handler,
		Name:                 "hb-probe",
		ReadTimeout:          10 * time.Second,
		WriteTimeout:         60 * time.Second, // /metrics for 100k hosts is tens of MB
		IdleTimeout:          60 * time.Second,
		MaxRequestBodySize:   4 << 10, // every endpoint is GET
		NoDefaultContentType: true,
	}
	return s, nil
}

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.cfg.Addr }

// Serve listens on the configured address and serves until ctx ends, then
// shuts down gracefully (in-flight requests get 5 seconds).
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends; it closes ln.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	tick := time.NewTicker(rateInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-tick.C:
			s.rate.sample(s.cfg.Now(), s.engine().Sent)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.srv.ShutdownWithContext(sctx); err != nil {
				return err
			}
			return <-errc
		}
	}
}

func (s *Server) engine() EngineStats {
	if s.stats == nil {
		return EngineStats{}
	}
	return s.stats()
}

// authorized checks the bearer token in constant time. Hashing both sides
// first keeps the comparison constant-time in the token's length too.
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	if s.hasToken && s.bearerOK(ctx) {
		return true
	}
	return s.cfg.Authorize != nil && s.cfg.Authorize(ctx)
}

// bearerOK checks the configured bearer token.
func (s *Server) bearerOK(ctx *fasthttp.RequestCtx) bool {
	h := ctx.Request.Header.Peek("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(string(h[:len(prefix)]), prefix) {
		return false
	}
	got := sha256.Sum256(h[len(prefix):])
	return subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
}

// Handler is the fasthttp handler: routing, method and auth checks.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if r := s.extraRoute(path); r != nil {
		if s.auth && !r.Open && !s.authorized(ctx) {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="hb-probe"`)
			WriteError(ctx, fasthttp.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		r.Handler(ctx)
		return
	}
	route, name, ok := match(path)
	if raw := ctx.URI().PathOriginal(); strings.HasPrefix(path, "/api/v1/hosts/") && len(raw) > 0 {
		// A host name is one path segment, percent-encoded when it holds
		// '/', '%', '?' or spaces: take it from the path as sent, which
		// fasthttp has decoded in Path.
		route, name, ok = match(string(raw))
		if ok && name != "" {
			name, ok = unescape(name)
		}
	}
	if !ok {
		WriteError(ctx, fasthttp.StatusNotFound, "no such endpoint: "+path)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		MethodNotAllowed(ctx, "GET, HEAD")
		return
	}
	if s.auth && route != routeHealthz && !(route == routeMetrics && s.cfg.OpenMetrics) && !s.authorized(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="hb-probe"`)
		WriteError(ctx, fasthttp.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	switch route {
	case routeHealthz:
		s.healthz(ctx)
	case routeState:
		s.fleetState(ctx)
	case routeStatus:
		s.fleetStatus(ctx)
	case routeMetrics:
		s.metrics(ctx)
	case routeHosts:
		s.hosts(ctx)
	case routeSummary:
		s.summary(ctx)
	case routeProblems:
		s.problems(ctx)
	case routeChecks:
		s.checks(ctx)
	case routeHost, routeHostState, routeHostStatus, routeHostHistory:
		v := s.table.View()
		h := v.Lookup(name)
		if h == nil {
			WriteError(ctx, fasthttp.StatusNotFound, "unknown host: "+name)
			return
		}
		switch route {
		case routeHost:
			s.host(ctx, h)
		case routeHostState:
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString(h.Status().State.String() + "\n")
		case routeHostStatus:
			s.hostStatus(ctx, h)
		case routeHostHistory:
			s.hostHistory(ctx, h)
		}
	}
}

// extraRoute returns the configured Route with the longest prefix matching
// path at a segment boundary, or nil.
func (s *Server) extraRoute(path string) *Route {
	var best *Route
	for i := range s.cfg.Routes {
		r := &s.cfg.Routes[i]
		if !strings.HasPrefix(path, r.Prefix) {
			continue
		}
		if len(path) > len(r.Prefix) && !strings.HasSuffix(r.Prefix, "/") && path[len(r.Prefix)] != '/' && path[len(r.Prefix)] != '?' {
			continue
		}
		if best == nil || len(r.Prefix) > len(best.Prefix) {
			best = r
		}
	}
	return best
}

type route uint8

const (
	routeNone route = iota
	routeHealthz
	routeState
	routeStatus
	routeMetrics
	routeHosts
	routeSummary
	routeProblems
	routeChecks
	routeHost
	routeHostState
	routeHostStatus
	routeHostHistory
)

// match maps a (decoded) path to a route and, for per-host routes, a host
// name; Handler then takes the name from the raw path (hostSegment), so
// that a name holding an encoded '/' is one segment.

// unescape percent-decodes a host name segment.
func unescape(seg string) (string, bool) {
	name, err := url.PathUnescape(seg)
	return name, err == nil && name != ""
}
func match(p string) (route, string, bool) {
	switch p {
	case "/healthz":
		return routeHealthz, "", true
	case "/state":
		return routeState, "", true
	case "/status", "/":
		return routeStatus, "", true
	case "/metrics":
		return routeMetrics, "", true
	case "/api/v1/hosts", "/api/v1/hosts/":
		return routeHosts, "", true
	case "/api/v1/summary":
		return routeSummary, "", true
	case "/api/v1/problems":
		return routeProblems, "", true
	case "/api/v1/checks", "/api/v1/checks/":
		return routeChecks, "", true
	}
	rest, ok := strings.CutPrefix(p, "/api/v1/hosts/")
	if !ok || rest == "" {
		return routeNone, "", false
	}
	name, sub, _ := strings.Cut(rest, "/")
	if name == "" {
		return routeNone, "", false
	}
	switch sub {
	case "":
		return routeHost, name, true
	case "state":
		return routeHostState, name, true
	case "status":
		return routeHostStatus, name, true
	case "history":
		return routeHostHistory, name, true
	}
	return routeNone, "", false
}

// rateInterval is how often Serve samples the engine's sent counter for
// the probe rate in /api/v1/summary.
const rateInterval = 5 * time.Second

// rateSampler turns the sent counter into a rate between two samples.
type rateSampler struct {
	mu       sync.Mutex // guards the fields below
	lastAt   time.Time
	lastSent uint64
	perSec   float64
}

func (r *rateSampler) sample(now time.Time, sent uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastAt.IsZero() {
		if dt := now.Sub(r.lastAt).Seconds(); dt > 0 && sent >= r.lastSent {
			r.perSec = float64(sent-r.lastSent) / dt
		}
	}
	r.lastAt, r.lastSent = now, sent
}

func (r *rateSampler) get() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perSec
}
