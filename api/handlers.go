// SPDX-License-Identifier: MIT

package api

import (
	"context"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// bufPool holds response buffers; encoding into a pooled buffer and
// copying once into the response keeps the JSON paths to a few
// allocations per request.
var bufPool bytebufferpool.Pool

// WriteJSON answers status with v as JSON (HTML characters unescaped,
// one trailing newline); an encoding failure answers 500 instead. Every
// package serving api.Routes writes its JSON through it.
func WriteJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	buf := bufPool.Get()
	defer bufPool.Put(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		WriteError(ctx, fasthttp.StatusInternalServerError, "encoding: "+err.Error())
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(buf.B)
}

type errorJSON struct {
	Error string `json:"error"`
}

// WriteError answers status with {"error": msg}.
func WriteError(ctx *fasthttp.RequestCtx, status int, msg string) {
	b, _ := json.Marshal(errorJSON{msg})
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// MethodNotAllowed answers 405 with an Allow header naming the methods
// the endpoint takes ("GET, HEAD").
func MethodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set("Allow", allow)
	WriteError(ctx, fasthttp.StatusMethodNotAllowed, "method "+string(ctx.Method())+" not allowed")
}

// seconds converts d to float seconds for JSON (base units).
func seconds(d time.Duration) float64 { return d.Seconds() }

// ts formats a snapshot instant, nil for "never".
func ts(t state.UnixNano) *time.Time {
	if t.IsZero() {
		return nil
	}
	tt := t.Time()
	return &tt
}

func fptr(f float64) *float64 { return &f }

// ---- /healthz

type healthzJSON struct {
	OK      bool    `json:"ok"`
	Uptime  float64 `json:"uptime_seconds"`
	Mode    string  `json:"mode"`
	Hosts   int     `json:"hosts"`
	Version string  `json:"version,omitempty"`
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	e := s.engine()
	mode := e.Mode
	if mode == "" {
		mode = "unknown"
	}
	WriteJSON(ctx, fasthttp.StatusOK, healthzJSON{
		OK:      true,
		Uptime:  s.cfg.Now().Sub(s.started).Seconds(),
		Mode:    mode,
		Hosts:   s.table.View().Len(),
		Version: s.cfg.Version,
	})
}

// ---- /state: {"name": "up", ...} in table order, written directly.

func (s *Server) fleetState(ctx *fasthttp.RequestCtx) {
	v := s.table.View()
	buf := bufPool.Get()
	defer bufPool.Put(buf)
	b := append(buf.B[:0], '{')
	for i, h := range v.Hosts() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, h.Spec().Name)
		b = append(b, ':', '"')
		b = append(b, h.Status().State.String()...)
		b = append(b, '"')
	}
	b = append(b, '}', '\n')
	buf.B = b
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// appendJSONString appends s as a JSON string. Plain ASCII takes the fast
// path; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ---- pingstate /status shape

type pingRecentJSON struct {
	TS     float64 `json:"ts"`
	Event  string  `json:"event"` // "ok" or "fail"
	Detail *string `json:"detail"`
}

type pingStatusJSON struct {
	State         string           `json:"state"`
	LastEvent     *string          `json:"last_event"`
	LastDetail    *string          `json:"last_detail"`
	LastLatencyMS *float64         `json:"last_latency_ms"`
	UptimeInState float64          `json:"uptime_in_state_s"`
	LastCheckTS   *float64         `json:"last_check_ts"`
	LastCheckAge  *float64         `json:"last_check_age_s"`
	Transitions   uint32           `json:"transitions"`
	Recent        []pingRecentJSON `json:"recent,omitempty"`
	Probe         string           `json:"probe"`
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// resultDetail words a result for pingstate's detail fields; ICMP errors
// in obs.ICMPText's words, as in problems and the CLI. v6: the check's
// address is IPv6 (the ICMPv6 numbering).
func resultDetail(r state.Result, v6 bool) string {
	switch r.Outcome {
	case state.OK:
		return "reply, rtt " + r.RTT().String() + " (" + r.Method.String() + ")"
	case state.Timeout:
		return "timeout"
	}
	if r.ICMPType != 0 || r.ICMPCode != 0 {
		return obs.ICMPText(v6, r.ICMPType, r.ICMPCode)
	}
	return "error"
}

// addrText is a's text, "" for a host without an address (push only).
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// probeText is pingstate's "probe" field: the host's first check's kind
// and what it probes ("icmp 198.18.0.1", "heartbeat backup-job").
func probeText(h *state.Host) string {
	c := h.Check(0)
	switch {
	case c == nil:
		return "none"
	case c.Spec().Addr.IsValid():
		return c.Spec().Kind.String() + " " + c.Spec().Addr.String()
	}
	return c.Spec().Kind.String() + " " + c.Spec().Host
}

func pingStatus(h *state.Host, snap *state.Snapshot, now time.Time, recent bool) pingStatusJSON {
	p := pingStatusJSON{
		State:         snap.State.String(),
		UptimeInState: round1(snap.InStateFor(now).Seconds()),
		Transitions:   snap.Transitions,
		Probe:         probeText(h),
	}
	v6 := h.Spec().Addr.Is6() && !h.Spec().Addr.Is4In6()
	if snap.Checked() {
		last := snap.Last()
		ev := "ok"
		if last.Outcome.Failed() {
			ev = "fail"
		}
		p.LastEvent = &ev
		d := resultDetail(last, v6)
		if last.Outcome.Failed() && snap.ProblemAt == last.At {
			d = snap.Problem
		}
		p.LastDetail = &d
		if !last.Outcome.Failed() {
			p.LastLatencyMS = fptr(float64(last.RTTNanos) / 1e6)
		}
		p.LastCheckTS = fptr(float64(last.At) / 1e9)
		p.LastCheckAge = fptr(round1(now.Sub(last.At.Time()).Seconds()))
	}
	if recent {
		var arr [state.Window]state.Result
		rs := snap.Recent(arr[:0])
		p.Recent = make([]pingRecentJSON, len(rs))
		for i, r := range rs {
			ev := "ok"
			if r.Outcome.Failed() {
				ev = "fail"
			}
			d := resultDetail(r, v6)
			p.Recent[i] = pingRecentJSON{TS: float64(r.At) / 1e9, Event: ev, Detail: &d}
		}
	}
	return p
}

// fleetStatus writes {"name": status, ...}; without the recent rings,
// which at 20 entries per host would dwarf everything else.
func (s *Server) fleetStatus(ctx *fasthttp.RequestCtx) {
	v := s.table.View()
	now := s.cfg.Now()
	buf := bufPool.Get()
	defer bufPool.Put(buf)
	b := append(buf.B[:0], '{')
	for i, h := range v.Hosts() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, h.Spec().Name)
		b = append(b, ':')
		snap := h.Snapshot()
		js, err := json.Marshal(pingStatus(h, &snap, now, false))
		if err != nil {
			WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
			return
		}
		b = append(b, js...)
	}
	b = append(b, '}', '\n')
	buf.B = b
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func (s *Server) hostStatus(ctx *fasthttp.RequestCtx, h *state.Host) {
	snap := h.Snapshot()
	WriteJSON(ctx, fasthttp.StatusOK, pingStatus(h, &snap, s.cfg.Now(), true))
}

// ---- hosts

type rttJSON struct {
	Last     *float64 `json:"last_seconds"`
	Min      *float64 `json:"min_seconds"`
	Avg      *float64 `json:"avg_seconds"`
	Max      *float64 `json:"max_seconds"`
	StdDev   *float64 `json:"stddev_seconds"`
	Smoothed *float64 `json:"smoothed_seconds"`
	Samples  uint8    `json:"samples"`
}

type resultJSON struct {
	At       time.Time `json:"at"`
	Outcome  string    `json:"outcome"`
	RTT      *float64  `json:"rtt_seconds"`
	Method   string    `json:"method,omitempty"`
	ICMPType *uint8    `json:"icmp_type,omitempty"`
	ICMPCode *uint8    `json:"icmp_code,omitempty"`
}

type hostJSON struct {
	Name        string            `json:"name"`
	Addr        string            `json:"addr"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Since       *time.Time        `json:"since"`
	InState     float64           `json:"in_state_seconds"`
	Transitions uint32            `json:"transitions"`
	LastCheck   *time.Time        `json:"last_check"`
	LastOutcome *string           `json:"last_outcome"`
	LastOK      *time.Time        `json:"last_ok"`
	RTT         rttJSON           `json:"rtt"`
	Loss        float64           `json:"loss_ratio"`
	Window      uint8             `json:"window_results"`
	Probes      uint64            `json:"probes_total"`
	Failures    uint64            `json:"failures_total"`
	Problem     *string           `json:"problem"`
	ProblemAt   *time.Time        `json:"problem_at"`
	Health      *obs.Health       `json:"health"` // the one health object (obs.Health)
	HBM2        *obs.HBM2         `json:"hbm2,omitempty"`
	Recent      []resultJSON      `json:"recent,omitempty"`
	// Detail view only: the host's parent and its checks.
	Parent string      `json:"parent,omitempty"`
	Checks []checkJSON `json:"checks,omitempty"`
}

func hostView(h *state.Host, snap *state.Snapshot, now time.Time, detail bool) hostJSON {
	st := snap.Stats()
	j := hostJSON{
		Name:        h.Spec().Name,
		Addr:        addrText(h.Spec().Addr),
		Labels:      h.Spec().Labels.Map(),
		State:       snap.State.String(),
		Since:       ts(snap.Since),
		InState:     snap.InStateFor(now).Seconds(),
		Transitions: snap.Transitions,
		LastCheck:   ts(snap.Last().At),
		LastOK:      ts(snap.LastOKAt),
		Loss:        st.Loss,
		Window:      st.Results,
		Probes:      snap.Probes,
		Failures:    snap.Failures,
		ProblemAt:   ts(snap.ProblemAt),
	}
	if snap.Checked() {
		o := snap.Last().Outcome.String()
		j.LastOutcome = &o
	}
	if snap.Problem != "" {
		p := snap.Problem
		j.Problem = &p
	}
	j.RTT.Samples = st.Samples
	if st.Samples > 0 {
		j.RTT.Min, j.RTT.Avg = fptr(seconds(st.Min)), fptr(seconds(st.Avg))
		j.RTT.Max, j.RTT.StdDev = fptr(seconds(st.Max)), fptr(seconds(st.StdDev))
	}
	if !snap.LastOKAt.IsZero() {
		j.RTT.Smoothed = fptr(seconds(snap.EWMA))
		if !snap.Last().Outcome.Failed() {
			j.RTT.Last = fptr(seconds(snap.Last().RTT()))
		}
	}
	if snap.HasHealth() {
		j.Health = obs.HealthOf(&snap.Health, snap.HealthAt.Time(), now)
	}
	if m := snap.HBM2; m != nil {
		j.HBM2 = obs.HBM2Of(m, snap.HBM2At.Time(), now)
	}
	if detail {
		var arr [state.Window]state.Result
		rs := snap.Recent(arr[:0])
		j.Recent = make([]resultJSON, len(rs))
		for i, r := range rs {
			rj := resultJSON{At: r.At.Time(), Outcome: r.Outcome.String()}
			if !r.Outcome.Failed() {
				rj.RTT = fptr(seconds(r.RTT()))
				rj.Method = r.Method.String()
			} else if r.Outcome == state.Error && (r.ICMPType != 0 || r.ICMPCode != 0) {
				t, c := r.ICMPType, r.ICMPCode
				rj.ICMPType, rj.ICMPCode = &t, &c
			}
			j.Recent[i] = rj
		}
	}
	return j
}

func (s *Server) host(ctx *fasthttp.RequestCtx, h *state.Host) {
	now := s.cfg.Now()
	snap := h.Snapshot()
	j := hostView(h, &snap, now, true)
	j.Parent, j.Checks = h.Spec().Parent, hostChecks(h, now)
	WriteJSON(ctx, fasthttp.StatusOK, j)
}

type hostsJSON struct {
	Total  int        `json:"total"` // hosts matching the filters
	Offset int        `json:"offset"`
	Limit  int        `json:"limit"`
	Hosts  []hostJSON `json:"hosts"`
}

// Paging limits for /api/v1/hosts and /api/v1/problems.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

type labelFilter struct {
	key, value string
	any        bool // key only: the label must exist
}

func (s *Server) hosts(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	var states [state.NumStates]bool
	stateFilter := false
	for _, raw := range args.PeekMulti("state") {
		for _, name := range strings.Split(string(raw), ",") {
			st, ok := state.ParseState(name)
			if !ok {
				WriteError(ctx, fasthttp.StatusBadRequest, "bad state "+strconv.Quote(name)+": want unknown, up, degraded or down")
				return
			}
			states[st], stateFilter = true, true
		}
	}
	labels, ok := labelFilters(ctx)
	if !ok {
		return
	}
	limit, offset, ok := paging(ctx)
	if !ok {
		return
	}
	v := s.table.View()
	now := s.cfg.Now()
	out := hostsJSON{Offset: offset, Limit: limit, Hosts: []hostJSON{}}
	for _, h := range v.Hosts() {
		snap := h.Snapshot()
		if stateFilter && !states[snap.State] {
			continue
		}
		if !labelsMatch(h.Spec().Labels, labels) {
			continue
		}
		if out.Total >= offset && len(out.Hosts) < limit {
			out.Hosts = append(out.Hosts, hostView(h, &snap, now, false))
		}
		out.Total++
	}
	WriteJSON(ctx, fasthttp.StatusOK, out)
}

// labelFilters reads the label filters (key:value, or key for "has the
// label"); on a bad one it writes the 400 itself.
func labelFilters(ctx *fasthttp.RequestCtx) ([]labelFilter, bool) {
	var labels []labelFilter
	for _, raw := range ctx.QueryArgs().PeekMulti("label") {
		k, v, found := strings.Cut(string(raw), ":")
		if k == "" {
			WriteError(ctx, fasthttp.StatusBadRequest, "bad label filter "+strconv.Quote(string(raw))+": want key:value or key")
			return nil, false
		}
		labels = append(labels, labelFilter{key: k, value: v, any: !found})
	}
	return labels, true
}

func labelsMatch(ls state.Labels, fs []labelFilter) bool {
	for _, f := range fs {
		v, ok := ls.Get(f.key)
		if !ok || (!f.any && v != f.value) {
			return false
		}
	}
	return true
}

// paging reads limit and offset; on a bad value it writes the 400 itself.
func paging(ctx *fasthttp.RequestCtx) (limit, offset int, ok bool) {
	limit, ok = intArg(ctx, "limit", DefaultLimit, 1, MaxLimit)
	if !ok {
		return
	}
	offset, ok = intArg(ctx, "offset", 0, 0, math.MaxInt32)
	return
}

func intArg(ctx *fasthttp.RequestCtx, name string, def, lo, hi int) (int, bool) {
	raw := ctx.QueryArgs().Peek(name)
	if raw == nil {
		return def, true
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < lo || n > hi {
		WriteError(ctx, fasthttp.StatusBadRequest, "bad "+name+" "+strconv.Quote(string(raw))+": want an integer in "+strconv.Itoa(lo)+".."+strconv.Itoa(hi))
		return 0, false
	}
	return n, true
}

// timeRange reads from and to (RFC 3339); default the last hour up to now.
func (s *Server) timeRange(ctx *fasthttp.RequestCtx) (from, to time.Time, ok bool) {
	to = s.cfg.Now().UTC()
	args := ctx.QueryArgs()
	if raw := args.Peek("to"); raw != nil {
		t, err := time.Parse(time.RFC3339Nano, string(raw))
		if err != nil {
			WriteError(ctx, fasthttp.StatusBadRequest, "bad to: want RFC 3339, e.g. 2026-01-02T15:04:05Z")
			return
		}
		to = t.UTC()
	}
	from = to.Add(-time.Hour)
	if raw := args.Peek("from"); raw != nil {
		t, err := time.Parse(time.RFC3339Nano, string(raw))
		if err != nil {
			WriteError(ctx, fasthttp.StatusBadRequest, "bad from: want RFC 3339, e.g. 2026-01-02T15:04:05Z")
			return
		}
		from = t.UTC()
	}
	if !from.Before(to) {
		WriteError(ctx, fasthttp.StatusBadRequest, "from must be before to")
		return
	}
	return from, to, true
}

// requestTimeout bounds a history query.
const requestTimeout = 10 * time.Second

type historyJSON struct {
	Host  string    `json:"host"`
	Check string    `json:"check,omitempty"` // ?check=NAME: that check's history only
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	History
}

func (s *Server) hostHistory(ctx *fasthttp.RequestCtx, h *state.Host) {
	from, to, ok := s.timeRange(ctx)
	if !ok {
		return
	}
	if s.history == nil {
		WriteError(ctx, fasthttp.StatusServiceUnavailable, "history store not configured")
		return
	}
	check := string(ctx.QueryArgs().Peek("check"))
	var ch CheckHistorySource
	if check != "" {
		if h.CheckNamed(check) == nil {
			WriteError(ctx, fasthttp.StatusNotFound, "unknown check: "+h.Spec().Name+"/"+check)
			return
		}
		var ok bool
		if ch, ok = s.history.(CheckHistorySource); !ok {
			WriteError(ctx, fasthttp.StatusNotImplemented, "this history store keeps no per-check history")
			return
		}
	}
	c, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var hist History
	var err error
	if ch != nil {
		hist, err = ch.CheckHistory(c, h.Spec().Name, check, from, to)
	} else {
		hist, err = s.history.History(c, h.Spec().Name, from, to)
	}
	if err != nil {
		WriteError(ctx, fasthttp.StatusInternalServerError, "history: "+err.Error())
		return
	}
	if hist.Rollups == nil {
		hist.Rollups = []Rollup{}
	}
	if hist.Changes == nil {
		hist.Changes = []StateChange{}
	}
	WriteJSON(ctx, fasthttp.StatusOK, historyJSON{Host: h.Spec().Name, Check: check, From: from, To: to, History: hist})
}

type currentProblemJSON struct {
	Host    string     `json:"host"`
	State   string     `json:"state"`
	Since   *time.Time `json:"since"`
	Problem string     `json:"problem"`
	At      *time.Time `json:"at"`
}

type problemsJSON struct {
	From    time.Time            `json:"from"`
	To      time.Time            `json:"to"`
	Current []currentProblemJSON `json:"current"` // hosts degraded or down now
	Stored  []Problem            `json:"stored"`  // from the history store, newest first
	Note    string               `json:"note,omitempty"`
}

func (s *Server) problems(ctx *fasthttp.RequestCtx) {
	from, to, ok := s.timeRange(ctx)
	if !ok {
		return
	}
	limit, ok := intArg(ctx, "limit", DefaultLimit, 1, MaxLimit)
	if !ok {
		return
	}
	out := problemsJSON{From: from, To: to, Current: []currentProblemJSON{}, Stored: []Problem{}}
	for _, h := range s.table.View().Hosts() {
		if len(out.Current) >= limit {
			break
		}
		snap := h.Snapshot()
		if snap.State != state.Degraded && snap.State != state.Down {
			continue
		}
		out.Current = append(out.Current, currentProblemJSON{
			Host: h.Spec().Name, State: snap.State.String(), Since: ts(snap.Since),
			Problem: snap.Problem, At: ts(snap.ProblemAt),
		})
	}
	if s.history == nil {
		out.Note = "history store not configured"
	} else {
		c, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		ps, err := s.history.Problems(c, from, to, limit)
		if err != nil {
			WriteError(ctx, fasthttp.StatusInternalServerError, "problems: "+err.Error())
			return
		}
		if ps != nil {
			out.Stored = ps
		}
	}
	WriteJSON(ctx, fasthttp.StatusOK, out)
}

type summaryJSON struct {
	Hosts      int            `json:"hosts"`
	States     map[string]int `json:"states"`
	Generation uint64         `json:"generation"`
	Mode       string         `json:"mode"`
	Uptime     float64        `json:"uptime_seconds"`
	Probes     probesJSON     `json:"probes"`
}

type probesJSON struct {
	PerSecond  float64 `json:"per_second"` // over the last sampling interval (5 s)
	Sent       uint64  `json:"sent_total"`
	Received   uint64  `json:"received_total"`
	Timeouts   uint64  `json:"timeouts_total"`
	ICMPErrors uint64  `json:"icmp_errors_total"`
}

func (s *Server) summary(ctx *fasthttp.RequestCtx) {
	v := s.table.View()
	var counts [state.NumStates]int
	for _, h := range v.Hosts() {
		counts[h.Status().State]++
	}
	e := s.engine()
	out := summaryJSON{
		Hosts:      v.Len(),
		States:     make(map[string]int, state.NumStates),
		Generation: v.Gen,
		Mode:       e.Mode,
		Uptime:     s.cfg.Now().Sub(s.started).Seconds(),
		Probes: probesJSON{
			PerSecond: s.rate.get(), Sent: e.Sent, Received: e.Received,
			Timeouts: e.Timeouts, ICMPErrors: e.ICMPErrors,
		},
	}
	for i, n := range counts {
		out.States[state.State(i).String()] = n
	}
	WriteJSON(ctx, fasthttp.StatusOK, out)
}
