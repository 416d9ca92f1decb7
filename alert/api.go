// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/alert/match"
	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/internal/promtext"
	"github.com/hbmon/hb/notify"
)

// Lister lists outbox entries for the API; *notify.Outbox is one.
type Lister interface {
	List(ctx context.Context, state string, limit int) ([]notify.Record, error)
}

// Caller is who makes an alert API request and what they may touch: the
// dashboard's users and roles decide (web.Server.AlertAccess; docs/web.md).
type Caller struct {
	// User is the authenticated user ("" for the API's bearer token or
	// when no users are configured). Acknowledgements and silences are
	// recorded as theirs, whatever the request body says.
	User string
	// All: every host and endpoint (an admin, the API token, no users).
	All bool
	// View and Act (when not All) say whether the caller may see a host's
	// alerts and silences, and acknowledge and silence them.
	View, Act func(host string) bool
}

func (c *Caller) canView(host string) bool { return c.All || (c.View != nil && c.View(host)) }
func (c *Caller) canAct(host string) bool  { return c.All || (c.Act != nil && c.Act(host)) }

// who is the name an acknowledgement or silence is recorded under: the
// authenticated user, else what the caller says, else "api".
func (c *Caller) who(said string) string {
	if c.User != "" {
		return c.User
	}
	if said == "" {
		return "api"
	}
	return clip(said, 100)
}

// Access authenticates an alert API request and says what the caller may
// do; ok false means it has answered the request itself (401, 403).
type Access func(ctx *fasthttp.RequestCtx) (c Caller, ok bool)

// Routes are the alert endpoints (docs/alerts.md, "API"), served on the
// API listener. With access nil they sit behind the API's bearer token
// and every caller may do everything; otherwise access authenticates each
// request (the routes are open to the API server) and non-admin users see,
// acknowledge and silence only the hosts their role allows (403 when they
// see an alert but may not act on it):
//
//	GET  /api/v1/alerts[?host=&check=&level=&acked=&silenced=&match=&all=1]
//	GET  /api/v1/alerts/summary
//	POST /api/v1/alerts/{id}/ack           {"by": "...", "comment": "..."}
//	GET  /api/v1/silences[?all=1]          POST /api/v1/silences (JSON Silence)
//	GET  /api/v1/silences/{id}             DELETE /api/v1/silences/{id}
//	PATCH /api/v1/silences/{id}            {"ends_at"|"for"|"extend", "comment", "by"}
//	GET  /api/v1/notifications[?state=pending|sent|failed&limit=N]
//	GET  /api/0/alerts[?since=], GET /api/0/alert_summary, POST /api/0/alerts/acknowledge (hbd)
func (e *Engine) Routes(outbox Lister, access Access) []api.Route {
	guard := func(h func(*fasthttp.RequestCtx, *Caller)) fasthttp.RequestHandler {
		if access == nil {
			return func(ctx *fasthttp.RequestCtx) { h(ctx, &Caller{All: true}) }
		}
		return func(ctx *fasthttp.RequestCtx) {
			c, ok := access(ctx)
			if ok {
				h(ctx, &c)
			}
		}
	}
	open := access != nil
	return []api.Route{
		{Prefix: "/api/v1/alerts", Open: open, Handler: guard(e.handleAlerts)},
		{Prefix: "/api/v1/silences", Open: open, Handler: guard(e.handleSilences)},
		{Prefix: "/api/v1/notifications", Open: open, Handler: guard(func(ctx *fasthttp.RequestCtx, c *Caller) {
			if !c.All {
				api.WriteError(ctx, fasthttp.StatusForbidden, "the notification outbox is for admins")
				return
			}
			handleNotifications(ctx, outbox)
		})},
		{Prefix: "/api/0/alerts", Open: open, Handler: guard(e.handleHbdAlerts)},
		{Prefix: "/api/0/alert_summary", Open: open, Handler: guard(e.handleHbdSummary)},
	}
}

// visible is e.List(f) without the alerts c may not see, silences judged
// at the API's clock. Of a silence covering an alert, a caller who may
// not see the silence itself (a non-admin: one not pinned to a host of
// theirs, or a configured window) learns its id, name and end only.
func (e *Engine) visible(f Filter, c *Caller) []Alert {
	if f.Now.IsZero() {
		f.Now = now()
	}
	all := e.List(f)
	if c.All {
		return all
	}
	out := all[:0]
	for _, a := range all {
		if c.canView(a.Host) {
			if s := a.Silenced; s != nil {
				if h := SilenceHost(s.Matchers); s.ID == 0 || h == "" || !c.canView(h) {
					a.Silenced = s.Redacted()
				}
			}
			out = append(out, a)
		}
	}
	return out
}

// summaryOf counts the firing alerts of as, as Summary does.
func summaryOf(as []Alert) Summary {
	var s Summary
	for i := range as {
		s.add(&as[i], as[i].Silenced != nil)
	}
	return s
}

// add counts a when it fires (silenced: an active silence or window
// covers it).
func (s *Summary) add(a *Alert, silenced bool) {
	if a.Level == OK {
		return
	}
	s.Total++
	switch a.Level {
	case Critical:
		s.Critical++
	case Warning:
		s.Warning++
	case Unknown:
		s.Unknown++
	}
	if a.Acked {
		s.Acknowledged++
	}
	if a.Held != "" {
		s.Held++
	}
	if a.Muted != "" {
		s.Muted++
	}
	if silenced {
		s.Silenced++
	}
	if a.Flapping {
		s.Flapping++
	}
}

// summary is the counts over what c may see.
func (e *Engine) summary(c *Caller) Summary {
	if c.All {
		return e.SummaryAt(now())
	}
	return summaryOf(e.visible(Filter{All: true}, c))
}

// hostOf is the host of alert id ("" when there is none).
func (e *Engine) hostOf(id uint64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.byID[id]; a != nil {
		return a.Host
	}
	return ""
}

// mayAck checks that c may acknowledge alert id, answering 404 (unknown,
// or a host c may not see) or 403 (c may see but not act) itself.
func (e *Engine) mayAck(ctx *fasthttp.RequestCtx, c *Caller, id uint64) bool {
	h := e.hostOf(id)
	if h == "" || !c.canView(h) {
		api.WriteError(ctx, fasthttp.StatusNotFound, "no alert with id "+strconv.FormatUint(id, 10))
		return false
	}
	if !c.canAct(h) {
		api.WriteError(ctx, fasthttp.StatusForbidden, "your role on "+clip(h, 200)+" does not allow acknowledging its alerts")
		return false
	}
	return true
}

// SilenceHost is the host a silence's matchers pin with host="NAME" (the
// matchers are a conjunction, so it mutes that host's alerts only), or "".
func SilenceHost(matchers string) string {
	sel, err := match.ParseSelector(matchers)
	if err != nil {
		return ""
	}
	for _, m := range sel {
		if m.Key == "host" && m.Op == match.OpEq && m.Value != "" {
			return m.Value
		}
	}
	return ""
}

// now is the API's clock.
var now = time.Now

func (e *Engine) handleAlerts(ctx *fasthttp.RequestCtx, c *Caller) {
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/v1/alerts"), "/")
	switch {
	case rest == "":
		if !ctx.IsGet() && !ctx.IsHead() {
			api.MethodNotAllowed(ctx, "GET, HEAD")
			return
		}
		f, err := filterOf(ctx.QueryArgs())
		if err != nil {
			api.WriteError(ctx, fasthttp.StatusBadRequest, err.Error())
			return
		}
		api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"alerts": e.visible(f, c)})
	case rest == "summary":
		if !ctx.IsGet() && !ctx.IsHead() {
			api.MethodNotAllowed(ctx, "GET, HEAD")
			return
		}
		api.WriteJSON(ctx, fasthttp.StatusOK, e.summary(c))
	case strings.HasSuffix(rest, "/ack"):
		if !ctx.IsPost() {
			api.MethodNotAllowed(ctx, "POST")
			return
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(rest, "/ack"), 10, 64)
		if err != nil {
			api.WriteError(ctx, fasthttp.StatusBadRequest, "bad alert id")
			return
		}
		var body struct {
			By      string `json:"by"`
			Comment string `json:"comment"`
		}
		if len(ctx.PostBody()) > 0 {
			if err := json.Unmarshal(ctx.PostBody(), &body); err != nil {
				api.WriteError(ctx, fasthttp.StatusBadRequest, "body: "+err.Error())
				return
			}
		}
		if !e.mayAck(ctx, c, id) {
			return
		}
		a, err := e.Ack(id, c.who(body.By), clip(body.Comment, 1000), now())
		if errors.Is(err, ErrNotFound) {
			api.WriteError(ctx, fasthttp.StatusNotFound, "no alert with id "+strconv.FormatUint(id, 10))
			return
		} else if err != nil {
			api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
			return
		}
		api.WriteJSON(ctx, fasthttp.StatusOK, a)
	default:
		api.WriteError(ctx, fasthttp.StatusNotFound, "no such endpoint: "+string(ctx.Path()))
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func filterOf(q *fasthttp.Args) (Filter, error) {
	f := Filter{Host: string(q.Peek("host")), Check: string(q.Peek("check")), Level: strings.ToUpper(string(q.Peek("level"))), All: q.GetBool("all")}
	if f.Level != "" {
		if _, err := ParseLevel(f.Level); err != nil {
			return f, err
		}
	}
	for _, x := range []struct {
		name string
		p    **bool
	}{{"acked", &f.Acked}, {"silenced", &f.Silenced}} {
		if q.Has(x.name) {
			b := q.GetBool(x.name)
			*x.p = &b
		}
	}
	if m := q.Peek("match"); len(m) > 0 {
		sel, err := match.ParseSelector(string(m))
		if err != nil {
			return f, err
		}
		f.Selector = sel
	}
	return f, nil
}

// silenceJSON is a Silence as the API takes it: duration as a Go duration
// string.
type silenceJSON struct {
	Matchers string    `json:"matchers"`
	Author   string    `json:"author"`
	Comment  string    `json:"comment"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	For      string    `json:"for"` // instead of ends_at: "2h"
	Schedule string    `json:"schedule"`
	Duration string    `json:"duration"`
}

// silencesFor is e.Silences without those c may not see (a non-admin
// sees the silences pinned to a host of theirs).
func (e *Engine) silencesFor(c *Caller, t time.Time, all bool) []Silence {
	ss := e.Silences(t, all)
	if c.All {
		return ss
	}
	out := ss[:0]
	for _, s := range ss {
		if h := SilenceHost(s.Matchers); h != "" && c.canView(h) {
			out = append(out, s)
		}
	}
	return out
}

func (e *Engine) handleSilences(ctx *fasthttp.RequestCtx, c *Caller) {
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/v1/silences"), "/")
	t := now()
	if rest == "" {
		switch {
		case ctx.IsGet() || ctx.IsHead():
			api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"silences": e.silencesFor(c, t, ctx.QueryArgs().GetBool("all"))})
		case ctx.IsPost():
			var in silenceJSON
			if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
				api.WriteError(ctx, fasthttp.StatusBadRequest, "body: "+err.Error())
				return
			}
			if !c.All {
				if h := SilenceHost(in.Matchers); h == "" || !c.canAct(h) {
					api.WriteError(ctx, fasthttp.StatusForbidden, `matchers: you may silence only hosts where you are owner or manager, named with host="NAME"`)
					return
				}
			}
			s := Silence{Matchers: in.Matchers, Author: c.who(in.Author), Comment: clip(in.Comment, 1000), StartsAt: in.StartsAt, EndsAt: in.EndsAt, Schedule: in.Schedule}
			if in.For != "" {
				d, err := time.ParseDuration(in.For)
				if err != nil || d <= 0 {
					api.WriteError(ctx, fasthttp.StatusBadRequest, "for: want a positive duration like 2h")
					return
				}
				start := s.StartsAt
				if start.IsZero() {
					start = t
				}
				s.EndsAt = start.Add(d)
			}
			if in.Duration != "" {
				d, err := time.ParseDuration(in.Duration)
				if err != nil {
					api.WriteError(ctx, fasthttp.StatusBadRequest, "duration: "+err.Error())
					return
				}
				s.Duration = d
			}
			out, err := e.AddSilence(s, t)
			if errors.Is(err, ErrSave) {
				api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
				return
			} else if err != nil {
				api.WriteError(ctx, fasthttp.StatusBadRequest, err.Error())
				return
			}
			api.WriteJSON(ctx, fasthttp.StatusCreated, out)
		default:
			api.MethodNotAllowed(ctx, "GET, HEAD, POST")
		}
		return
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		api.WriteError(ctx, fasthttp.StatusNotFound, "no such endpoint: "+string(ctx.Path()))
		return
	}
	var found *Silence
	for _, s := range e.silencesFor(c, t, true) {
		if s.ID == id {
			found = &s
		}
	}
	isPatch := string(ctx.Method()) == fasthttp.MethodPatch
	switch {
	case (ctx.IsGet() || ctx.IsHead() || ctx.IsDelete() || isPatch) && found == nil:
		api.WriteError(ctx, fasthttp.StatusNotFound, "no silence with id "+rest)
	case ctx.IsGet() || ctx.IsHead():
		api.WriteJSON(ctx, fasthttp.StatusOK, *found)
	case ctx.IsDelete():
		if h := SilenceHost(found.Matchers); !c.All && !c.canAct(h) {
			api.WriteError(ctx, fasthttp.StatusForbidden, "your role on "+clip(h, 200)+" does not allow removing its silences")
		} else if err := e.DeleteSilence(id); errors.Is(err, ErrNotFound) {
			api.WriteError(ctx, fasthttp.StatusNotFound, "no silence with id "+rest)
		} else if err != nil {
			api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
		} else {
			api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"deleted": id})
		}
	case isPatch:
		if h := SilenceHost(found.Matchers); !c.All && !c.canAct(h) {
			api.WriteError(ctx, fasthttp.StatusForbidden, "your role on "+clip(h, 200)+" does not allow changing its silences")
			return
		}
		u, err := ParseSilenceUpdate(ctx.PostBody(), found, t)
		if err != nil {
			api.WriteError(ctx, fasthttp.StatusBadRequest, err.Error())
			return
		}
		u.By = c.who(u.By)
		out, err := e.UpdateSilence(id, u, t)
		switch {
		case errors.Is(err, ErrNotFound):
			api.WriteError(ctx, fasthttp.StatusNotFound, "no silence with id "+rest)
		case errors.Is(err, ErrSave):
			api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
		case err != nil:
			api.WriteError(ctx, fasthttp.StatusBadRequest, err.Error())
		default:
			api.WriteJSON(ctx, fasthttp.StatusOK, out)
		}
	default:
		api.MethodNotAllowed(ctx, "GET, HEAD, PATCH, DELETE")
	}
}

// ParseSilenceUpdate reads a PATCH body for silence cur at t: a new end as "ends_at" (RFC 3339),
// "for" (a duration from now) or "extend" (a duration added to the current
// end), and/or a new "comment"; "by" names who changes it (recorded for the
// API's token; a user is recorded as themselves).
func ParseSilenceUpdate(body []byte, cur *Silence, t time.Time) (SilenceUpdate, error) {
	var in struct {
		EndsAt  *time.Time `json:"ends_at"`
		For     string     `json:"for"`
		Extend  string     `json:"extend"`
		Comment *string    `json:"comment"`
		By      string     `json:"by"`
	}
	var u SilenceUpdate
	if err := json.Unmarshal(body, &in); err != nil {
		return u, errors.New("body: " + err.Error())
	}
	n := 0
	if in.EndsAt != nil {
		n++
		u.EndsAt = in.EndsAt
	}
	for _, x := range []struct {
		name, v string
		from    time.Time
	}{{"for", in.For, t}, {"extend", in.Extend, cur.EndsAt}} {
		if x.v == "" {
			continue
		}
		n++
		d, err := time.ParseDuration(x.v)
		if err != nil || d <= 0 || d > 366*24*time.Hour {
			return u, errors.New(x.name + ": want a positive duration up to 8784h, like 2h")
		}
		if x.from.IsZero() {
			return u, errors.New(x.name + ": the silence has no end to extend (a maintenance window without ends_at)")
		}
		end := x.from.Add(d)
		u.EndsAt = &end
	}
	if n > 1 {
		return u, errors.New("give one of ends_at, for and extend")
	}
	if in.Comment != nil {
		c := clip(*in.Comment, 1000)
		u.Comment = &c
	} else if n == 0 {
		return u, errors.New(`nothing to change: give ends_at, for or extend, and/or comment`)
	}
	u.By = in.By
	return u, nil
}

func handleNotifications(ctx *fasthttp.RequestCtx, ob Lister) {
	if !ctx.IsGet() && !ctx.IsHead() {
		api.MethodNotAllowed(ctx, "GET, HEAD")
		return
	}
	if ob == nil {
		api.WriteError(ctx, fasthttp.StatusServiceUnavailable, "no outbox")
		return
	}
	st := string(ctx.QueryArgs().Peek("state"))
	switch st {
	case "", "pending", "sent", "failed":
	default:
		api.WriteError(ctx, fasthttp.StatusBadRequest, "state: want pending, sent or failed")
		return
	}
	limit := ctx.QueryArgs().GetUintOrZero("limit")
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	recs, err := ob.List(ctx, st, limit)
	if err != nil {
		api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
		return
	}
	api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"notifications": recs})
}

// hbdAlert is an alert in hbd's API shape.
type hbdAlert struct {
	ID           uint64  `json:"id"`
	Host         string  `json:"hostname"`
	Check        string  `json:"check"`
	Metric       string  `json:"metric"`
	Severity     string  `json:"severity"`
	Value        float64 `json:"value"`
	Threshold    float64 `json:"threshold"`
	Message      string  `json:"message"`
	Since        float64 `json:"since"` // unix seconds
	Acknowledged bool    `json:"acknowledged"`
	AckedBy      string  `json:"acknowledged_by"` // "" when not acknowledged
	// hb's additions: whether an active silence or maintenance window
	// covers the alert now, the silence's id (0: none, or a configured
	// window) and when it ends (Unix seconds, 0 when not silenced).
	Silenced      bool    `json:"silenced"`
	SilenceID     int64   `json:"silence_id"`
	SilencedUntil float64 `json:"silenced_until"`
}

func (e *Engine) handleHbdAlerts(ctx *fasthttp.RequestCtx, c *Caller) {
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/0/alerts"), "/")
	if rest == "acknowledge" {
		e.hbdAck(ctx, c)
		return
	}
	if rest != "" {
		api.WriteError(ctx, fasthttp.StatusNotFound, "no such endpoint: "+string(ctx.Path()))
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		api.MethodNotAllowed(ctx, "GET, HEAD")
		return
	}
	f, err := filterOf(ctx.QueryArgs())
	if err != nil {
		api.WriteError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	since, ok := api.SinceArg(ctx)
	if !ok {
		return
	}
	out := []hbdAlert{}
	for _, a := range e.visible(f, c) {
		if a.StartsAt.Before(since) {
			continue
		}
		h := hbdAlert{ID: a.ID, Host: a.Host, Check: a.CheckName, Metric: firstNonEmpty(a.Metric, a.Rule), Severity: strings.ToLower(a.Level.String()),
			Value: a.Value, Threshold: a.Threshold, Message: a.Text, Since: float64(a.StartsAt.UnixNano()) / 1e9, Acknowledged: a.Acked, AckedBy: a.AckedBy}
		if s := a.Silenced; s != nil {
			h.Silenced, h.SilenceID, h.SilencedUntil = true, s.ID, float64(s.Until.UnixNano())/1e9
		}
		out = append(out, h)
	}
	api.WriteJSON(ctx, fasthttp.StatusOK, out)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *Engine) handleHbdSummary(ctx *fasthttp.RequestCtx, c *Caller) {
	if !ctx.IsGet() && !ctx.IsHead() {
		api.MethodNotAllowed(ctx, "GET, HEAD")
		return
	}
	s := e.summary(c)
	api.WriteJSON(ctx, fasthttp.StatusOK, map[string]int{"critical": s.Critical, "warning": s.Warning, "unknown": s.Unknown,
		"acknowledged": s.Acknowledged, "total": s.Total, "silenced": s.Silenced})
}

// hbdAck: POST /api/0/alerts/acknowledge with JSON {"id": N} or
// {"ids": [...]} or {"hostname": H, "check": C} (form fields work too),
// plus optional "user" and "comment" ("user" is ignored for an
// authenticated user: the acknowledgement is theirs). A caller who may see
// but not act on one of the alerts gets 403 and nothing is acknowledged;
// alerts of hosts they may not see count as unknown ids.
func (e *Engine) hbdAck(ctx *fasthttp.RequestCtx, c *Caller) {
	if !ctx.IsPost() {
		api.MethodNotAllowed(ctx, "POST")
		return
	}
	var in struct {
		ID      uint64   `json:"id"`
		IDs     []uint64 `json:"ids"`
		Host    string   `json:"hostname"`
		Check   string   `json:"check"`
		User    string   `json:"user"`
		Comment string   `json:"comment"`
	}
	if strings.HasPrefix(string(ctx.Request.Header.ContentType()), "application/x-www-form-urlencoded") {
		a := ctx.PostArgs()
		in.ID, _ = strconv.ParseUint(string(a.Peek("id")), 10, 64)
		in.Host, in.Check, in.User, in.Comment = string(a.Peek("hostname")), string(a.Peek("check")), string(a.Peek("user")), string(a.Peek("comment"))
	} else if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
		api.WriteError(ctx, fasthttp.StatusBadRequest, "body: "+err.Error())
		return
	}
	in.User, in.Comment = c.who(in.User), clip(in.Comment, 1000)
	if in.ID != 0 {
		in.IDs = append(in.IDs, in.ID)
	}
	if len(in.IDs) > 10000 {
		api.WriteError(ctx, fasthttp.StatusBadRequest, "ids: at most 10000")
		return
	}
	n := 0
	var err error
	t := now()
	if !c.All {
		deny := ""
		if len(in.IDs) > 0 {
			for _, id := range in.IDs {
				if h := e.hostOf(id); h != "" && c.canView(h) && !c.canAct(h) {
					deny = h
				}
			}
		} else if in.Host != "" && c.canView(in.Host) && !c.canAct(in.Host) {
			deny = in.Host
		}
		if deny != "" {
			api.WriteError(ctx, fasthttp.StatusForbidden, "your role on "+clip(deny, 200)+" does not allow acknowledging its alerts")
			return
		}
	}
	switch {
	case len(in.IDs) > 0:
		ids := make([]uint64, 0, len(in.IDs))
		for _, id := range in.IDs {
			if h := e.hostOf(id); c.All || c.canView(h) {
				ids = append(ids, id)
			}
		}
		n, err = e.AckIDs(ids, in.User, in.Comment, t)
	case in.Host != "":
		if c.canAct(in.Host) {
			n, err = e.AckWhere(in.Host, in.Check, in.User, in.Comment, t)
		}
	default:
		api.WriteError(ctx, fasthttp.StatusBadRequest, "give id, ids or hostname")
		return
	}
	if err != nil {
		api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
		return
	}
	api.WriteJSON(ctx, fasthttp.StatusOK, map[string]int{"acknowledged": n})
}

// WriteTo writes the engine's Prometheus series (api.Config.Collectors).
func (e *Engine) WriteTo(w io.Writer) (int64, error) {
	s := e.SummaryAt(now())
	e.mu.Lock()
	st := e.stats
	e.mu.Unlock()
	var b strings.Builder
	promtext.Family(&b, "hb_alerts_active", "gauge", "Alerts not OK, by severity.")
	for _, x := range []struct {
		l string
		n int
	}{{"critical", s.Critical}, {"warning", s.Warning}, {"unknown", s.Unknown}} {
		b.WriteString(`hb_alerts_active{severity="` + x.l + `"} ` + strconv.Itoa(x.n) + "\n")
	}
	gauge := func(name, help string, v int) { promtext.Gauge(&b, name, help, int64(v)) }
	counter := func(name, help string, v uint64) { promtext.Counter(&b, name, help, v) }
	gauge("hb_alerts_acknowledged", "Firing alerts that were acknowledged.", s.Acknowledged)
	gauge("hb_alerts_held", "Firing alerts held by a dependency (parent down, host down).", s.Held)
	gauge("hb_alerts_muted", "Firing alerts muted by a silence or maintenance window.", s.Muted)
	gauge("hb_alerts_silenced", "Firing alerts an active silence or maintenance window covers now (counted in hb_alerts_active too).", s.Silenced)
	gauge("hb_alerts_flapping", "Alerts flagged as flapping.", s.Flapping)
	counter("hb_alert_events_total", "Events the alert engine handled.", st.events)
	counter("hb_alert_evaluations_total", "Rule evaluations.", st.evaluations)
	counter("hb_alert_messages_total", "Notification messages queued (one per channel and group).", st.messages)
	counter("hb_alert_messages_dropped_total", "Messages dropped for want of an outbox.", st.dropped)
	counter("hb_alert_enqueue_errors_total", "Notification batches the outbox failed to store (their messages are lost).", e.enqueueErrors.Load())
	counter("hb_alert_state_rows_written_total", "Alert state rows written (inserted, updated or deleted) by committed saves.", e.rowsWritten.Load())
	counter("hb_alert_save_errors_total", "Failed writes of alert state (the alerts are written again at the next save).", e.saveErrors.Load())
	n, err := w.Write([]byte(b.String()))
	return int64(n), err
}
