// SPDX-License-Identifier: MIT

package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// checkJSON is one check: its identity, state machine, window statistics
// and (in a host's detail) its recent results. Health stays host-level.
type checkJSON struct {
	Host        string       `json:"host"`
	Name        string       `json:"name"`
	Kind        string       `json:"kind"`
	Target      string       `json:"target"`
	Addr        *string      `json:"addr"` // nil for push kinds
	State       string       `json:"state"`
	Since       *time.Time   `json:"since"`
	InState     float64      `json:"in_state_seconds"`
	Transitions uint32       `json:"transitions"`
	LastCheck   *time.Time   `json:"last_check"`
	LastOutcome *string      `json:"last_outcome"`
	LastOK      *time.Time   `json:"last_ok"`
	RTT         rttJSON      `json:"rtt"`
	Loss        float64      `json:"loss_ratio"`
	Window      uint8        `json:"window_results"`
	Probes      uint64       `json:"probes_total"`
	Failures    uint64       `json:"failures_total"`
	Problem     *string      `json:"problem"`
	ProblemAt   *time.Time   `json:"problem_at"`
	Recent      []resultJSON `json:"recent,omitempty"`
}

func checkView(c *state.Check, now time.Time, detail bool) checkJSON {
	snap := c.Snapshot()
	h := hostView(c.Host(), &snap, now, detail)
	j := checkJSON{
		Host: c.Spec().Host, Name: c.Spec().Name, Kind: c.Spec().Kind.String(), Target: c.Spec().Target,
		State: h.State, Since: h.Since, InState: h.InState, Transitions: h.Transitions,
		LastCheck: h.LastCheck, LastOutcome: h.LastOutcome, LastOK: h.LastOK, RTT: h.RTT, Loss: h.Loss,
		Window: h.Window, Probes: h.Probes, Failures: h.Failures, Problem: h.Problem, ProblemAt: h.ProblemAt,
		Recent: h.Recent,
	}
	if c.Spec().Addr.IsValid() {
		a := c.Spec().Addr.String()
		j.Addr = &a
	}
	return j
}

// hostChecks is the checks of h for its detail view.
func hostChecks(h *state.Host, now time.Time) []checkJSON {
	out := make([]checkJSON, h.NumChecks())
	for i := range out {
		out[i] = checkView(h.Check(i), now, true)
	}
	return out
}

type checksJSON struct {
	Total  int         `json:"total"` // checks matching the filters
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Checks []checkJSON `json:"checks"`
}

// checks serves /api/v1/checks: every check, filtered by kind, state
// (the check's), label (the host's) and host, paged like /api/v1/hosts.
// Filters of one name may repeat or hold a comma list (any of them);
// filters of different names all apply.
func (s *Server) checks(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	var kinds [obs.NumKinds]bool
	kindFilter := false
	for _, raw := range args.PeekMulti("kind") {
		for _, name := range strings.Split(string(raw), ",") {
			k, ok := obs.ParseKind(name)
			if !ok {
				WriteError(ctx, fasthttp.StatusBadRequest, "bad kind "+strconv.Quote(name)+": want icmp, udp, tcp, http, heartbeat or pulse")
				return
			}
			kinds[k], kindFilter = true, true
		}
	}
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
	hosts := map[string]bool{}
	for _, raw := range args.PeekMulti("host") {
		for _, name := range strings.Split(string(raw), ",") {
			hosts[name] = true
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
	out := checksJSON{Offset: offset, Limit: limit, Checks: []checkJSON{}}
	for _, c := range v.Checks() {
		if kindFilter && !kinds[c.Spec().Kind] {
			continue
		}
		if len(hosts) > 0 && !hosts[c.Spec().Host] {
			continue
		}
		if stateFilter && !states[c.State()] {
			continue
		}
		if !labelsMatch(c.Host().Spec().Labels, labels) {
			continue
		}
		if out.Total >= offset && len(out.Checks) < limit {
			out.Checks = append(out.Checks, checkView(c, now, false))
		}
		out.Total++
	}
	WriteJSON(ctx, fasthttp.StatusOK, out)
}
