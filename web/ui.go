// SPDX-License-Identifier: MIT

package web

import (
	"bufio"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

//go:embed static
var staticFS embed.FS

// static is the embedded files under static/.
var static, _ = fs.Sub(staticFS, "static")

// serveUI is /ui and everything below it.
func (s *Server) serveUI(ctx *fasthttp.RequestCtx) {
	p := string(ctx.Path())
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("X-Frame-Options", "DENY")
	ctx.Response.Header.Set("Referrer-Policy", "same-origin")
	switch {
	case strings.HasPrefix(p, "/ui/static/"):
		s.serveStatic(ctx, strings.TrimPrefix(p, "/ui/static/"))
		return
	case strings.HasPrefix(p, "/ui/api/"):
		s.serveAPI(ctx, strings.TrimPrefix(p, "/ui/api/"))
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		writeErr(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	// Pages: the one application; unauthenticated visitors go to the
	// login page first.
	if p != "/ui/login" {
		if _, _, ok := s.principal(ctx); !ok {
			ctx.Redirect("/ui/login?next="+urlQueryEscape(string(ctx.RequestURI())), fasthttp.StatusSeeOther)
			return
		}
	}
	b, err := fs.ReadFile(static, "index.html")
	if err != nil {
		writeErr(ctx, fasthttp.StatusInternalServerError, "dashboard not built in")
		return
	}
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	ctx.SetBody(b)
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)>>4, 16)+strconv.FormatInt(int64(c)&15, 16)))
		}
	}
	return b.String()
}

func (s *Server) serveStatic(ctx *fasthttp.RequestCtx, name string) {
	name = path.Clean(name)
	b, err := fs.ReadFile(static, name)
	if err != nil || name == "." || strings.HasPrefix(name, "..") {
		writeErr(ctx, fasthttp.StatusNotFound, "no such file")
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	ctx.SetContentType(ct)
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(b)
}

// serveAPI is the dashboard's JSON under /ui/api/.
func (s *Server) serveAPI(ctx *fasthttp.RequestCtx, ep string) {
	switch ep {
	case "login":
		s.apiLogin(ctx)
		return
	}
	p, sess, ok := s.principal(ctx)
	if !ok {
		writeErr(ctx, fasthttp.StatusUnauthorized, "log in first")
		return
	}
	if !s.csrfOK(ctx, p, sess) {
		writeErr(ctx, fasthttp.StatusForbidden, "missing or wrong CSRF token")
		return
	}
	get := ctx.IsGet() || ctx.IsHead()
	switch {
	case ep == "logout" && ctx.IsPost():
		if s.logout(ctx) {
			writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"ok": true})
		}
	case ep == "me" && get:
		me := map[string]any{"user": p.Name, "admin": p.Admin, "open": p.Open, "tls": s.tls.Load()}
		if sess != nil {
			me["csrf"], me["expires"] = sess.CSRF, sess.Expires
		}
		writeJSON(ctx, fasthttp.StatusOK, me)
	case ep == "hosts" && get:
		s.apiHosts(ctx, p)
	case ep == "host" && get:
		s.apiHost(ctx, p)
	case ep == "history" && get:
		s.apiHistory(ctx, p)
	case ep == "stream" && get:
		s.apiStream(ctx, p)
	case ep == "alerts" && get:
		s.apiAlerts(ctx, p)
	case strings.HasPrefix(ep, "alerts/") && strings.HasSuffix(ep, "/ack") && ctx.IsPost():
		s.apiAck(ctx, p, strings.TrimSuffix(strings.TrimPrefix(ep, "alerts/"), "/ack"))
	case ep == "silences" && get:
		s.apiSilences(ctx, p)
	case ep == "silences" && ctx.IsPost():
		s.apiSilence(ctx, p)
	case strings.HasPrefix(ep, "silences/") && (ctx.IsDelete() || string(ctx.Method()) == fasthttp.MethodPatch):
		s.apiSilenceChange(ctx, p, strings.TrimPrefix(ep, "silences/"))
	case ep == "events" && get:
		s.apiEvents(ctx, p)
	case ep == "settings" && get:
		if !p.Admin {
			writeErr(ctx, fasthttp.StatusForbidden, "settings are for admins")
			return
		}
		if s.opts.Settings == nil {
			writeErr(ctx, fasthttp.StatusNotFound, "no settings")
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, s.opts.Settings())
	default:
		writeErr(ctx, fasthttp.StatusNotFound, "no such endpoint or method")
	}
}

func (s *Server) apiLogin(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		writeErr(ctx, fasthttp.StatusMethodNotAllowed, "POST")
		return
	}
	if !s.csrfOK(ctx, Principal{}, nil) {
		writeErr(ctx, fasthttp.StatusForbidden, "login must be a same-origin JSON request")
		return
	}
	var in struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, "body: want {\"user\":..., \"password\":...}")
		return
	}
	if s.Open() {
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"user": "", "open": true})
		return
	}
	sess, ok, msg := s.login(ctx, in.User, in.Password)
	if !ok {
		writeErr(ctx, loginRefusal(msg), msg)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"user": sess.User, "csrf": sess.CSRF, "expires": sess.Expires})
}

// hostRow is one line of the overview table.
type hostRow struct {
	Name    string   `json:"name"`
	Addr    string   `json:"addr,omitempty"`
	State   string   `json:"state"`
	Since   int64    `json:"since,omitempty"` // unix ms
	RTT     *float64 `json:"rtt_ms,omitempty"`
	Loss    float64  `json:"loss"`
	Last    int64    `json:"last,omitempty"` // unix ms of the newest result
	Problem string   `json:"problem,omitempty"`
	Kinds   []string `json:"kinds"`
	Checks  int      `json:"checks"`
}

func msOf(t state.UnixNano) int64 { return int64(t) / 1e6 }

func rowOf(h *state.Host) hostRow {
	snap := h.Snapshot()
	r := hostRow{Name: h.Spec().Name, State: snap.State.String(), Since: msOf(snap.Since), Loss: snap.Stats().Loss,
		Last: msOf(snap.Last().At), Problem: snap.Problem, Checks: h.NumChecks()}
	if h.Spec().Addr.IsValid() {
		r.Addr = h.Spec().Addr.String()
	}
	if snap.Stats().Samples > 0 {
		v := float64(snap.Stats().Avg.Microseconds()) / 1000
		r.RTT = &v
	}
	var seen [obs.NumKinds]bool
	for i := 0; i < h.NumChecks(); i++ {
		k := h.Check(i).Spec().Kind
		if int(k) < obs.NumKinds && !seen[k] {
			seen[k] = true
			r.Kinds = append(r.Kinds, k.String())
		}
	}
	return r
}

// hostFilter is the overview's server-side filter.
type hostFilter struct {
	state  int // -1 any
	kind   obs.Kind
	labelK string
	labelV string
	q      string
}

func filterOf(a *fasthttp.Args) (hostFilter, error) {
	f := hostFilter{state: -1}
	if v := string(a.Peek("state")); v != "" {
		st, ok := state.ParseState(v)
		if !ok {
			return f, errors.New("state: want unknown, up, degraded or down")
		}
		f.state = int(st)
	}
	if v := string(a.Peek("kind")); v != "" {
		k, ok := obs.ParseKind(v)
		if !ok {
			return f, errors.New("kind: unknown check kind")
		}
		f.kind = k
	}
	if v := string(a.Peek("label")); v != "" {
		f.labelK, f.labelV, _ = strings.Cut(v, "=")
	}
	f.q = strings.ToLower(string(a.Peek("q")))
	return f, nil
}

func (f *hostFilter) match(h *state.Host, st state.State) bool {
	if f.state >= 0 && int(st) != f.state {
		return false
	}
	if f.kind != obs.KindInvalid {
		found := false
		for i := 0; i < h.NumChecks() && !found; i++ {
			found = h.Check(i).Spec().Kind == f.kind
		}
		if !found {
			return false
		}
	}
	if f.labelK != "" {
		v, ok := h.Spec().Labels.Get(f.labelK)
		if !ok || (f.labelV != "" && v != f.labelV) {
			return false
		}
	}
	if f.q != "" && !containsFold(h.Spec().Name, f.q) {
		return false
	}
	return true
}

// containsFold reports whether s contains the lower-case sub, ASCII case
// folded, without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// apiHosts is the overview: counts by state of the hosts p may see, and
// one page of those matching the filter. One pass over the table, no
// copies of hosts that are not on the page.
func (s *Server) apiHosts(ctx *fasthttp.RequestCtx, p Principal) {
	a := ctx.QueryArgs()
	f, err := filterOf(a)
	if err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	offset, _ := a.GetUint("offset")
	limit, err := a.GetUint("limit")
	if err != nil || limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	offset = max(offset, 0)
	problemsFirst := string(a.Peek("sort")) == "state"
	seq := s.hub.Seq()
	v := s.opts.Table.View()
	hosts := v.Hosts()
	// One pass reads every host's state once (each read is a cache miss on
	// its snapshot: the cost at 100k hosts) and counts; the page then
	// comes from that array. sts[i] is 0xff for a host p may not see.
	stp := stateBufs.Get().(*[]uint8)
	defer stateBufs.Put(stp)
	sts := (*stp)[:0]
	var counts [state.NumStates]int
	visible, matched := 0, 0
	for _, h := range hosts {
		if !p.Admin && !s.role(p, h).Can(ActView) {
			sts = append(sts, 0xff)
			continue
		}
		st := h.Status().State
		sts = append(sts, uint8(st))
		visible++
		counts[st]++
	}
	*stp = sts
	rows := make([]hostRow, 0, limit)
	// sort=state: down, degraded, unknown, up; one pass per rank keeps it
	// O(n) without sorting 100k hosts.
	ranks := []int{-1}
	if problemsFirst {
		ranks = []int{int(state.Down), int(state.Degraded), int(state.Unknown), int(state.Up)}
	}
	for _, rank := range ranks {
		for i, h := range hosts {
			st := sts[i]
			if st == 0xff || (rank >= 0 && int(st) != rank) {
				continue
			}
			if !f.match(h, state.State(st)) {
				continue
			}
			if matched >= offset && len(rows) < limit {
				rows = append(rows, rowOf(h))
			}
			matched++
		}
	}
	out := map[string]any{"seq": s.epoch + "." + strconv.FormatUint(seq, 10), "total": visible, "matched": matched,
		"offset": offset, "limit": limit, "hosts": rows,
		"counts": map[string]int{"unknown": counts[state.Unknown], "up": counts[state.Up], "degraded": counts[state.Degraded], "down": counts[state.Down]}}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

// stateBufs are the overview's per-request state arrays.
var stateBufs = sync.Pool{New: func() any { b := make([]uint8, 0, 1024); return &b }}

// visibleHost returns the host named by ?name= when p may see it, else
// writes 404 (not 403: an invisible host does not exist for p).
func (s *Server) visibleHost(ctx *fasthttp.RequestCtx, p Principal) (*state.Host, Role) {
	name := string(ctx.QueryArgs().Peek("name"))
	h := s.opts.Table.View().Lookup(name)
	if h == nil {
		writeErr(ctx, fasthttp.StatusNotFound, "unknown host: "+clip(name, 200))
		return nil, RoleNone
	}
	r := s.role(p, h)
	if !r.Can(ActView) {
		writeErr(ctx, fasthttp.StatusNotFound, "unknown host: "+clip(name, 200))
		return nil, RoleNone
	}
	return h, r
}

func (s *Server) apiHost(ctx *fasthttp.RequestCtx, p Principal) {
	h, r := s.visibleHost(ctx, p)
	if h == nil {
		return
	}
	out := map[string]any{"host": api.HostDetail(h, s.now()), "role": r.String(),
		"can_ack": r.Can(ActAck), "seq": s.epoch + "." + strconv.FormatUint(s.hub.Seq(), 10)}
	if s.opts.Alerts != nil {
		as := s.opts.Alerts.List(alert.Filter{Host: h.Spec().Name, All: true, Now: s.now()})
		v := s.opts.Table.View()
		for i := range as {
			s.silenceShown(p, v, &as[i])
		}
		out["alerts"] = as
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

// ranges are the history ranges the host page offers.
var ranges = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

func (s *Server) apiHistory(ctx *fasthttp.RequestCtx, p Principal) {
	h, _ := s.visibleHost(ctx, p)
	if h == nil {
		return
	}
	if s.opts.History == nil {
		writeErr(ctx, fasthttp.StatusServiceUnavailable, "no history store")
		return
	}
	d, ok := ranges[string(ctx.QueryArgs().Peek("range"))]
	if !ok {
		d = time.Hour
	}
	to := s.now()
	from := to.Add(-d)
	var hist api.History
	var err error
	if c := string(ctx.QueryArgs().Peek("check")); c != "" {
		ch, ok := s.opts.History.(api.CheckHistorySource)
		if !ok || h.CheckNamed(c) == nil {
			writeErr(ctx, fasthttp.StatusNotFound, "no history for that check")
			return
		}
		hist, err = ch.CheckHistory(ctx, h.Spec().Name, c, from, to)
	} else {
		hist, err = s.opts.History.History(ctx, h.Spec().Name, from, to)
	}
	if err != nil {
		s.log.Error("dashboard: history", "host", h.Spec().Name, "err", err)
		writeErr(ctx, fasthttp.StatusInternalServerError, "history query failed")
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"from": from, "to": to, "history": hist})
}

// apiAlerts lists the alerts of the hosts p may see.
func (s *Server) apiAlerts(ctx *fasthttp.RequestCtx, p Principal) {
	if s.opts.Alerts == nil {
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"alerts": []any{}, "available": false})
		return
	}
	a := ctx.QueryArgs()
	f := alert.Filter{Host: string(a.Peek("host")), All: a.GetBool("all"), Level: strings.ToUpper(string(a.Peek("level"))), Now: s.now()}
	if a.Has("acked") {
		b := a.GetBool("acked")
		f.Acked = &b
	}
	if a.Has("silenced") {
		b := a.GetBool("silenced")
		f.Silenced = &b
	}
	limit, err := a.GetUint("limit")
	if err != nil || limit <= 0 || limit > 5000 {
		limit = 500
	}
	v := s.opts.Table.View()
	out := []map[string]any{}
	total, silenced := 0, 0
	for _, al := range s.opts.Alerts.List(f) {
		r := s.roleOnName(p, v, al.Host)
		if !r.Can(ActView) {
			continue
		}
		if al.Silenced != nil {
			silenced++
		}
		if total++; len(out) < limit {
			s.silenceShown(p, v, &al)
			out = append(out, map[string]any{"alert": al, "can_ack": r.Can(ActAck)})
		}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"alerts": out, "total": total, "silenced": silenced, "available": true})
}

// silenceShown trims what al says of the silence covering it to what p
// may see: a silence p does not see in the silences list (not pinned to
// a host of theirs, or a configured window, for a non-admin) shows its
// id, name and end only.
func (s *Server) silenceShown(p Principal, v *state.View, al *alert.Alert) {
	sl := al.Silenced
	if sl == nil || p.Admin {
		return
	}
	if view, _ := s.silenceRole(p, v, &alert.Silence{Matchers: sl.Matchers}); sl.ID == 0 || !view {
		al.Silenced = sl.Redacted()
	}
}

func (s *Server) apiAck(ctx *fasthttp.RequestCtx, p Principal, idStr string) {
	if s.opts.Alerts == nil {
		writeErr(ctx, fasthttp.StatusNotFound, "no alerting")
		return
	}
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, "bad alert id")
		return
	}
	var host string
	for _, al := range s.opts.Alerts.List(alert.Filter{All: true}) {
		if al.ID == id {
			host = al.Host
		}
	}
	r := s.roleOnName(p, s.opts.Table.View(), host)
	if host == "" || !r.Can(ActView) {
		writeErr(ctx, fasthttp.StatusNotFound, "no alert with that id")
		return
	}
	if !r.Can(ActAck) {
		writeErr(ctx, fasthttp.StatusForbidden, "your role on "+clip(host, 200)+" ("+r.String()+") does not allow acknowledging its alerts")
		return
	}
	var in struct {
		Comment string `json:"comment"`
	}
	_ = json.Unmarshal(ctx.PostBody(), &in)
	al, err := s.opts.Alerts.Ack(id, by(p), clip(in.Comment, 1000), s.now())
	if errors.Is(err, alert.ErrNotFound) { // resolved and gone since the lookup above
		writeErr(ctx, fasthttp.StatusNotFound, "no alert with that id")
		return
	} else if err != nil { // not saved (the engine writes it again with its next save)
		s.log.Error("alert acknowledgement not saved", "id", id, "host", host, "by", by(p), "err", err)
		writeErr(ctx, fasthttp.StatusInternalServerError, "the acknowledgement was not saved: "+err.Error())
		return
	}
	s.log.Info("alert acknowledged", "id", id, "host", host, "by", by(p))
	writeJSON(ctx, fasthttp.StatusOK, al)
}

func by(p Principal) string {
	if p.Name == "" {
		return "dashboard"
	}
	return p.Name
}

// silenceRow is a silence on the dashboard: can_change says whether the
// user may lift or extend it.
type silenceRow struct {
	alert.Silence
	CanChange bool `json:"can_change"`
}

// silenceRole is p's role on the host silence si is pinned to
// (host="NAME"), and whether p may see it at all: admins see and change
// every silence, other users those pinned to a host of theirs.
func (s *Server) silenceRole(p Principal, v *state.View, si *alert.Silence) (view, change bool) {
	if p.Admin {
		return true, true
	}
	h := alert.SilenceHost(si.Matchers)
	if h == "" {
		return false, false
	}
	r := s.roleOnName(p, v, h)
	return r.Can(ActView), r.Can(ActSilence)
}

func (s *Server) apiSilences(ctx *fasthttp.RequestCtx, p Principal) {
	out := []silenceRow{}
	if s.opts.Alerts == nil {
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"silences": out})
		return
	}
	v := s.opts.Table.View()
	for _, si := range s.opts.Alerts.Silences(s.now(), false) {
		if view, change := s.silenceRole(p, v, &si); view {
			out = append(out, silenceRow{Silence: si, CanChange: change})
		}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"silences": out})
}

// apiSilenceChange: DELETE silences/{id} lifts a silence, PATCH
// silences/{id} changes its end or comment (alert.ParseSilenceUpdate), for
// users who may silence its host.
func (s *Server) apiSilenceChange(ctx *fasthttp.RequestCtx, p Principal, idStr string) {
	if s.opts.Alerts == nil {
		writeErr(ctx, fasthttp.StatusNotFound, "no alerting")
		return
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, "bad silence id")
		return
	}
	now := s.now()
	var cur *alert.Silence
	for _, si := range s.opts.Alerts.Silences(now, true) {
		if si.ID == id {
			cur = &si
		}
	}
	view, change := false, false
	if cur != nil {
		view, change = s.silenceRole(p, s.opts.Table.View(), cur)
	}
	if !view {
		writeErr(ctx, fasthttp.StatusNotFound, "no silence with that id")
		return
	}
	if !change {
		writeErr(ctx, fasthttp.StatusForbidden, "your role on "+clip(alert.SilenceHost(cur.Matchers), 200)+" does not allow changing its silences")
		return
	}
	if ctx.IsDelete() {
		if err := s.opts.Alerts.DeleteSilence(id); errors.Is(err, alert.ErrNotFound) {
			writeErr(ctx, fasthttp.StatusNotFound, "no silence with that id")
		} else if err != nil {
			s.log.Error("dashboard: lifting a silence", "id", id, "err", err)
			writeErr(ctx, fasthttp.StatusInternalServerError, "lifting the silence failed")
		} else {
			s.log.Info("silence lifted", "id", id, "matchers", cur.Matchers, "by", by(p))
			writeJSON(ctx, fasthttp.StatusOK, map[string]any{"deleted": id})
		}
		return
	}
	u, err := alert.ParseSilenceUpdate(ctx.PostBody(), cur, now)
	if err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	u.By = by(p)
	si, err := s.opts.Alerts.UpdateSilence(id, u, now)
	switch {
	case errors.Is(err, alert.ErrNotFound):
		writeErr(ctx, fasthttp.StatusNotFound, "no silence with that id")
	case errors.Is(err, alert.ErrSave):
		s.log.Error("dashboard: changing a silence", "id", id, "err", err)
		writeErr(ctx, fasthttp.StatusInternalServerError, "changing the silence failed")
	case err != nil:
		writeErr(ctx, fasthttp.StatusBadRequest, err.Error())
	default:
		s.log.Info("silence changed", "id", id, "matchers", si.Matchers, "ends", si.EndsAt, "by", by(p))
		writeJSON(ctx, fasthttp.StatusOK, silenceRow{Silence: si, CanChange: true})
	}
}

// apiSilence silences one host (and check) for a duration.
func (s *Server) apiSilence(ctx *fasthttp.RequestCtx, p Principal) {
	if s.opts.Alerts == nil {
		writeErr(ctx, fasthttp.StatusNotFound, "no alerting")
		return
	}
	var in struct {
		Host     string `json:"host"`
		Check    string `json:"check"`
		Duration string `json:"duration"`
		Comment  string `json:"comment"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, "body: "+err.Error())
		return
	}
	r := s.roleOnName(p, s.opts.Table.View(), in.Host)
	if !r.Can(ActView) {
		writeErr(ctx, fasthttp.StatusNotFound, "unknown host: "+clip(in.Host, 200))
		return
	}
	if !r.Can(ActSilence) {
		writeErr(ctx, fasthttp.StatusForbidden, "your role on "+clip(in.Host, 200)+" ("+r.String()+") does not allow silencing it")
		return
	}
	d, err := time.ParseDuration(in.Duration)
	if err != nil || d <= 0 || d > 90*24*time.Hour {
		writeErr(ctx, fasthttp.StatusBadRequest, "duration: want a Go duration up to 2160h, e.g. 2h")
		return
	}
	// "host=~..." would be a regex: a name starting with "~" cannot be
	// silenced here either.
	if strings.ContainsAny(in.Host+in.Check, `,="\`) || strings.HasPrefix(in.Host, "~") || strings.HasPrefix(in.Check, "~") {
		writeErr(ctx, fasthttp.StatusBadRequest, "host and check names with , = \" or \\, or starting with ~, cannot be silenced here")
		return
	}
	m := "host=" + in.Host
	if in.Check != "" {
		m += ",check=" + in.Check
	}
	now := s.now()
	si, err := s.opts.Alerts.AddSilence(alert.Silence{Matchers: m, Author: by(p), Comment: clip(in.Comment, 1000), StartsAt: now, EndsAt: now.Add(d)}, now)
	if errors.Is(err, alert.ErrSave) {
		s.log.Error("dashboard: silence not saved", "host", in.Host, "by", by(p), "err", err)
		writeErr(ctx, fasthttp.StatusInternalServerError, "the silence was not saved: "+err.Error())
		return
	} else if err != nil {
		writeErr(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, si)
}

// apiEvents lists events of the hosts p may see (admins: all, hb's own
// messages included).
func (s *Server) apiEvents(ctx *fasthttp.RequestCtx, p Principal) {
	if s.opts.Events == nil {
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"events": []any{}, "available": false})
		return
	}
	a := ctx.QueryArgs()
	f := event.LogFilter{Source: string(a.Peek("source")), Contains: string(a.Peek("message"))}
	if lv := string(a.Peek("level")); lv != "" {
		l, ok := event.ParseLevel(lv)
		if !ok {
			writeErr(ctx, fasthttp.StatusBadRequest, "level: want debug, info, warning, error or critical")
			return
		}
		f.MinLevel = l
	}
	f.Limit, _ = a.GetUint("limit")
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	if v, err := a.GetUint("before"); err == nil && v > 0 {
		f.Before = int64(v)
	}
	evs, err := s.opts.Events.Query(ctx, f)
	if err != nil {
		writeErr(ctx, fasthttp.StatusInternalServerError, "event query failed")
		return
	}
	v := s.opts.Table.View()
	out := make([]event.LogEntry, 0, len(evs))
	for _, e := range evs {
		if p.Admin || (e.Host != "" && s.roleOnName(p, v, e.Host).Can(ActView)) {
			out = append(out, e)
		}
	}
	var next *int64
	if len(evs) == f.Limit && len(evs) > 0 {
		n := evs[len(evs)-1].ID
		next = &n
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"events": out, "next": next, "available": true})
}

// apiStream is the live stream (Server-Sent Events): the state changes of
// the hosts p may see, batched four times a second, each batch with the
// newest state per check only. Ids are EPOCH.SEQ; a client that sends
// Last-Event-ID resumes after it, or gets a "reset" event (reload) when
// the daemon restarted or the ring moved past it.
func (s *Server) apiStream(ctx *fasthttp.RequestCtx, p Principal) {
	last := string(ctx.Request.Header.Peek("Last-Event-ID"))
	if last == "" {
		last = string(ctx.QueryArgs().Peek("since"))
	}
	var seq uint64
	reset := false
	if last != "" {
		ep, n, _ := strings.Cut(last, ".")
		v, err := strconv.ParseUint(n, 10, 64)
		if ep != s.epoch || err != nil {
			reset = true
		}
		seq = v
	} else {
		seq = s.hub.Seq()
	}
	if reset {
		seq = s.hub.Seq()
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	defaultOwner := s.users.Load().defaultOwner
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		s.hub.clients.Add(1)
		defer s.hub.clients.Add(-1)
		cw := &countWriter{w: w}
		cw.printf("retry: 1000\n\n")
		if reset {
			cw.printf("id: %s.%d\nevent: reset\ndata: {}\n\n", s.epoch, seq)
		}
		if cw.flush() != nil {
			return
		}
		// fasthttp's write timeout ends a stream after a minute; end it
		// cleanly before that, and the browser resumes from its last id.
		end := time.NewTimer(50 * time.Second)
		defer end.Stop()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		ping := time.NewTicker(15 * time.Second)
		defer ping.Stop()
		var buf []Change
		latest := map[string]int{}
		for {
			select {
			case <-s.hub.done:
				return
			case <-end.C:
				return
			case <-ping.C:
				cw.printf(": ping\n\n")
				if cw.flush() != nil {
					return
				}
				continue
			case <-tick.C:
			}
			var gone bool
			var newest uint64
			buf, newest, gone = s.hub.since(seq, buf[:0])
			if gone {
				seq = newest
				cw.printf("id: %s.%d\nevent: reset\ndata: {}\n\n", s.epoch, seq)
				if cw.flush() != nil {
					return
				}
				continue
			}
			if newest == seq {
				continue
			}
			seq = newest
			// Newest state per check; only hosts p may see.
			clear(latest)
			out := buf[:0]
			v := s.opts.Table.View()
			for _, c := range buf {
				if !p.Admin {
					h := v.Lookup(c.Host)
					if h == nil || !RoleOn(p, h.Spec().Labels, defaultOwner).Can(ActView) {
						continue
					}
				}
				k := c.Host + "\x00" + c.Check
				if i, ok := latest[k]; ok {
					c.HostOld = out[i].HostOld // the batch's first old state
					out[i] = c
					continue
				}
				latest[k] = len(out)
				out = append(out, c)
			}
			b, _ := json.Marshal(out)
			cw.printf("id: %s.%d\ndata: %s\n\n", s.epoch, seq, b)
			if cw.flush() != nil {
				return
			}
			s.hub.sent.Add(uint64(cw.n))
			cw.n = 0
		}
	})
}

// countWriter counts what a stream writes.
type countWriter struct {
	w   *bufio.Writer
	n   int
	err error
}

func (c *countWriter) printf(format string, a ...any) {
	if c.err != nil {
		return
	}
	var n int
	n, c.err = fmt.Fprintf(c.w, format, a...)
	c.n += n
}

func (c *countWriter) flush() error {
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
