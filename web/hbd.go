// SPDX-License-Identifier: MIT

package web

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/state"
)

// The hbd-compatible endpoints under /api/0/ (hbd's shapes: "hostname",
// plugin lists, messages). Each authenticates like the dashboard (session
// cookie with its CSRF token, a user's API token, the API token) and shows
// a user the hosts they have a role on. /api/0/alerts and
// /api/0/alert_summary are the alert engine's (alert/api.go).

// hbdAuthed authenticates an /api/0/ request, answering 401 or 403 itself.
func (s *Server) hbdAuthed(ctx *fasthttp.RequestCtx) (Principal, bool) {
	p, sess, ok := s.principal(ctx)
	if !ok {
		writeErr(ctx, fasthttp.StatusUnauthorized, "authentication required")
		return p, false
	}
	if !s.csrfOK(ctx, p, sess) {
		writeErr(ctx, fasthttp.StatusForbidden, "missing or wrong CSRF token")
		return p, false
	}
	return p, true
}

// hbdHost is a host in /api/0/hosts. Every field is always present, with
// a stable JSON type (docs/hbd.md; web/hbd_shape_test.go checks them).
type hbdHost struct {
	Hostname string            `json:"hostname"`
	Address  string            `json:"address"` // "" for a host without one (push-only)
	Status   string            `json:"status"`  // up, degraded, down, unknown
	LastSeen *time.Time        `json:"last_seen"`
	Since    *time.Time        `json:"since"`
	RTTMs    *float64          `json:"rtt_ms"`
	Loss     float64           `json:"loss"`
	Owner    string            `json:"owner"` // "" when neither a label nor default_owner names one
	Labels   map[string]string `json:"labels"`
	Plugins  []string          `json:"plugins"`
}

func tptr(t state.UnixNano) *time.Time {
	if t == 0 {
		return nil
	}
	v := t.Time()
	return &v
}

func (s *Server) hbdHostOf(h *state.Host) hbdHost {
	snap := h.Snapshot()
	j := hbdHost{Hostname: h.Spec().Name, Status: snap.State.String(), LastSeen: tptr(snap.LastOKAt), Since: tptr(snap.Since),
		Loss: snap.Stats().Loss, Labels: h.Spec().Labels.Map(), Plugins: []string{}}
	if h.Spec().Addr.IsValid() {
		j.Address = h.Spec().Addr.String()
	}
	if snap.Stats().Samples > 0 {
		v := float64(snap.Stats().Avg.Microseconds()) / 1000
		j.RTTMs = &v
	}
	if o, ok := h.Spec().Labels.Get(LabelOwner); ok {
		j.Owner = o
	} else {
		j.Owner = s.users.Load().defaultOwner
	}
	for i := 0; i < h.NumChecks(); i++ {
		j.Plugins = append(j.Plugins, h.Check(i).Spec().Name)
	}
	return j
}

// hbdHosts: GET /api/0/hosts (the visible hosts; ?status= and ?since=,
// in that state since then, filter),
// GET /api/0/hosts/{host} and GET /api/0/hosts/{host}/plugins.
func (s *Server) hbdHosts(ctx *fasthttp.RequestCtx) {
	p, ok := s.hbdAuthed(ctx)
	if !ok {
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		writeErr(ctx, fasthttp.StatusMethodNotAllowed, "GET")
		return
	}
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/0/hosts"), "/")
	v := s.opts.Table.View()
	if rest == "" {
		want := string(ctx.QueryArgs().Peek("status"))
		since, ok := api.SinceArg(ctx)
		if !ok {
			return
		}
		out := []hbdHost{}
		for _, h := range v.Hosts() {
			if !s.role(p, h).Can(ActView) {
				continue
			}
			if want != "" && h.Status().State.String() != want {
				continue
			}
			if !since.IsZero() && h.Snapshot().Since.Time().Before(since) {
				continue
			}
			out = append(out, s.hbdHostOf(h))
			if len(out) >= 100000 {
				break
			}
		}
		writeJSON(ctx, fasthttp.StatusOK, out)
		return
	}
	name, sub, _ := strings.Cut(rest, "/")
	h := v.Lookup(name)
	if h == nil || !s.role(p, h).Can(ActView) {
		writeErr(ctx, fasthttp.StatusNotFound, "unknown host: "+clip(name, 200))
		return
	}
	switch sub {
	case "":
		writeJSON(ctx, fasthttp.StatusOK, s.hbdHostOf(h))
	case "plugins":
		type plugin struct {
			Name     string     `json:"name"`
			Kind     string     `json:"kind"`
			Target   string     `json:"target"`
			Status   string     `json:"status"`
			Since    *time.Time `json:"since"`
			LastSeen *time.Time `json:"last_seen"`
			Problem  string     `json:"problem"`
			Interval float64    `json:"interval_seconds"`
		}
		out := []plugin{}
		for i := 0; i < h.NumChecks(); i++ {
			c := h.Check(i)
			sn := c.Snapshot()
			out = append(out, plugin{Name: c.Spec().Name, Kind: c.Spec().Kind.String(), Target: c.Spec().Target, Status: sn.State.String(),
				Since: tptr(sn.Since), LastSeen: tptr(sn.LastOKAt), Problem: sn.Problem, Interval: c.Spec().Interval.Seconds()})
		}
		writeJSON(ctx, fasthttp.StatusOK, out)
	default:
		writeErr(ctx, fasthttp.StatusNotFound, "no such endpoint")
	}
}

// hbdMessages: GET /api/0/messages[?hostname=&level=&limit=&since=] from
// the event log, newest first.
func (s *Server) hbdMessages(ctx *fasthttp.RequestCtx) {
	p, ok := s.hbdAuthed(ctx)
	if !ok {
		return
	}
	since, ok := api.SinceArg(ctx)
	if !ok {
		return
	}
	if s.opts.Events == nil {
		writeJSON(ctx, fasthttp.StatusOK, []any{})
		return
	}
	a := ctx.QueryArgs()
	f := event.LogFilter{Source: string(a.Peek("hostname"))}
	if !since.IsZero() {
		f.From = since.Add(-time.Nanosecond) // From is exclusive; since includes
	}
	if lv, ok := event.ParseLevel(string(a.Peek("level"))); ok {
		f.MinLevel = lv
	}
	f.Limit, _ = a.GetUint("limit")
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	evs, err := s.opts.Events.Query(ctx, f)
	if err != nil {
		writeErr(ctx, fasthttp.StatusInternalServerError, "event query failed")
		return
	}
	type msg struct {
		ID       int64     `json:"id"`
		Hostname string    `json:"hostname"`
		Source   string    `json:"source"`
		Level    string    `json:"level"`
		Message  string    `json:"message"`
		Time     time.Time `json:"timestamp"`
	}
	v := s.opts.Table.View()
	out := []msg{}
	for _, e := range evs {
		if p.Admin || (e.Host != "" && s.roleOnName(p, v, e.Host).Can(ActView)) {
			out = append(out, msg{ID: e.ID, Hostname: e.Host, Source: e.Source, Level: e.Level, Message: e.Message, Time: e.At})
		}
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

// hbdAuth: POST /api/0/auth/login {"username","password"} (JSON) starts a
// session (cookie; the CSRF token in the answer); POST /api/0/auth/logout.
func (s *Server) hbdAuth(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		writeErr(ctx, fasthttp.StatusMethodNotAllowed, "POST")
		return
	}
	switch strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/0/auth"), "/") {
	case "login":
		if !s.csrfOK(ctx, Principal{}, nil) {
			writeErr(ctx, fasthttp.StatusForbidden, "login must be a same-origin JSON request")
			return
		}
		var in struct {
			Username string `json:"username"`
			User     string `json:"user"`
			Password string `json:"password"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
			writeErr(ctx, fasthttp.StatusBadRequest, "body: want {\"username\":..., \"password\":...}")
			return
		}
		if in.Username == "" {
			in.Username = in.User
		}
		sess, ok, msg := s.login(ctx, in.Username, in.Password)
		if !ok {
			writeErr(ctx, loginRefusal(msg), msg)
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"username": sess.User, "csrf_token": sess.CSRF, "expires": sess.Expires})
	case "logout":
		p, sess, ok := s.principal(ctx)
		if ok && !s.csrfOK(ctx, p, sess) {
			writeErr(ctx, fasthttp.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		if s.logout(ctx) {
			writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"ok": true})
		}
	default:
		writeErr(ctx, fasthttp.StatusNotFound, "no such endpoint")
	}
}

// hbdMe: GET /api/0/users/me.
func (s *Server) hbdMe(ctx *fasthttp.RequestCtx) {
	p, ok := s.hbdAuthed(ctx)
	if !ok {
		return
	}
	role := "user"
	if p.Admin {
		role = "admin"
	}
	u := s.users.Load().byName[p.Name]
	out := map[string]any{"username": p.Name, "role": role, "open": p.Open, "channels": []string{}}
	if u != nil && u.Channels != nil {
		out["channels"] = u.Channels
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}
