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

// Routes are the alert endpoints (docs/alerts.md, "API"), served on the
// API listener behind its bearer token:
//
//	GET  /api/v1/alerts[?host=&check=&level=&acked=&match=&all=1]
//	GET  /api/v1/alerts/summary
//	POST /api/v1/alerts/{id}/ack           {"by": "...", "comment": "..."}
//	GET  /api/v1/silences[?all=1]          POST /api/v1/silences (JSON Silence)
//	GET  /api/v1/silences/{id}             DELETE /api/v1/silences/{id}
//	GET  /api/v1/notifications[?state=pending|sent|failed&limit=N]
//	GET  /api/0/alerts, GET /api/0/alert_summary, POST /api/0/alerts/acknowledge (hbd)
func (e *Engine) Routes(outbox Lister) []api.Route {
	return []api.Route{
		{Prefix: "/api/v1/alerts", Handler: e.handleAlerts},
		{Prefix: "/api/v1/silences", Handler: e.handleSilences},
		{Prefix: "/api/v1/notifications", Handler: func(ctx *fasthttp.RequestCtx) { handleNotifications(ctx, outbox) }},
		{Prefix: "/api/0/alerts", Handler: e.handleHbdAlerts},
		{Prefix: "/api/0/alert_summary", Handler: e.handleHbdSummary},
	}
}

// now is the API's clock.
var now = time.Now

func (e *Engine) handleAlerts(ctx *fasthttp.RequestCtx) {
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
		api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"alerts": e.List(f)})
	case rest == "summary":
		if !ctx.IsGet() && !ctx.IsHead() {
			api.MethodNotAllowed(ctx, "GET, HEAD")
			return
		}
		api.WriteJSON(ctx, fasthttp.StatusOK, e.Summary())
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
		if body.By == "" {
			body.By = "api"
		}
		a, err := e.Ack(id, clip(body.By, 100), clip(body.Comment, 1000), now())
		if errors.Is(err, ErrNotFound) {
			api.WriteError(ctx, fasthttp.StatusNotFound, "no alert with id "+strconv.FormatUint(id, 10))
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
	if q.Has("acked") {
		b := q.GetBool("acked")
		f.Acked = &b
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

func (e *Engine) handleSilences(ctx *fasthttp.RequestCtx) {
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/v1/silences"), "/")
	t := now()
	if rest == "" {
		switch {
		case ctx.IsGet() || ctx.IsHead():
			api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"silences": e.Silences(t, ctx.QueryArgs().GetBool("all"))})
		case ctx.IsPost():
			var in silenceJSON
			if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
				api.WriteError(ctx, fasthttp.StatusBadRequest, "body: "+err.Error())
				return
			}
			s := Silence{Matchers: in.Matchers, Author: clip(in.Author, 100), Comment: clip(in.Comment, 1000), StartsAt: in.StartsAt, EndsAt: in.EndsAt, Schedule: in.Schedule}
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
			if err != nil {
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
	switch {
	case ctx.IsGet() || ctx.IsHead():
		for _, s := range e.Silences(t, true) {
			if s.ID == id {
				api.WriteJSON(ctx, fasthttp.StatusOK, s)
				return
			}
		}
		api.WriteError(ctx, fasthttp.StatusNotFound, "no silence with id "+rest)
	case ctx.IsDelete():
		if err := e.DeleteSilence(id); errors.Is(err, ErrNotFound) {
			api.WriteError(ctx, fasthttp.StatusNotFound, "no silence with id "+rest)
		} else if err != nil {
			api.WriteError(ctx, fasthttp.StatusInternalServerError, err.Error())
		} else {
			api.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"deleted": id})
		}
	default:
		api.MethodNotAllowed(ctx, "GET, HEAD, DELETE")
	}
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
	AckedBy      string  `json:"acknowledged_by,omitempty"`
}

func (e *Engine) handleHbdAlerts(ctx *fasthttp.RequestCtx) {
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/0/alerts"), "/")
	if rest == "acknowledge" {
		e.hbdAck(ctx)
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
	out := []hbdAlert{}
	for _, a := range e.List(f) {
		out = append(out, hbdAlert{ID: a.ID, Host: a.Host, Check: a.CheckName, Metric: firstNonEmpty(a.Metric, a.Rule), Severity: strings.ToLower(a.Level.String()),
			Value: a.Value, Threshold: a.Threshold, Message: a.Text, Since: float64(a.StartsAt.UnixNano()) / 1e9, Acknowledged: a.Acked, AckedBy: a.AckedBy})
	}
	api.WriteJSON(ctx, fasthttp.StatusOK, out)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *Engine) handleHbdSummary(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		api.MethodNotAllowed(ctx, "GET, HEAD")
		return
	}
	s := e.Summary()
	api.WriteJSON(ctx, fasthttp.StatusOK, map[string]int{"critical": s.Critical, "warning": s.Warning, "unknown": s.Unknown,
		"acknowledged": s.Acknowledged, "total": s.Total})
}

// hbdAck: POST /api/0/alerts/acknowledge with JSON {"id": N} or
// {"ids": [...]} or {"hostname": H, "check": C} (form fields work too),
// plus optional "user" and "comment".
func (e *Engine) hbdAck(ctx *fasthttp.RequestCtx) {
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
	if in.User == "" {
		in.User = "api"
	}
	in.User, in.Comment = clip(in.User, 100), clip(in.Comment, 1000)
	if in.ID != 0 {
		in.IDs = append(in.IDs, in.ID)
	}
	n := 0
	t := now()
	switch {
	case len(in.IDs) > 0:
		for _, id := range in.IDs {
			if _, err := e.Ack(id, in.User, in.Comment, t); err == nil {
				n++
			}
		}
	case in.Host != "":
		n = e.AckWhere(in.Host, in.Check, in.User, in.Comment, t)
	default:
		api.WriteError(ctx, fasthttp.StatusBadRequest, "give id, ids or hostname")
		return
	}
	api.WriteJSON(ctx, fasthttp.StatusOK, map[string]int{"acknowledged": n})
}

// WriteTo writes the engine's Prometheus series (api.Config.Collectors).
func (e *Engine) WriteTo(w io.Writer) (int64, error) {
	s := e.Summary()
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
	gauge("hb_alerts_flapping", "Alerts flagged as flapping.", s.Flapping)
	counter("hb_alert_events_total", "Events the alert engine handled.", st.events)
	counter("hb_alert_evaluations_total", "Rule evaluations.", st.evaluations)
	counter("hb_alert_messages_total", "Notification messages queued (one per channel and group).", st.messages)
	counter("hb_alert_messages_dropped_total", "Messages dropped for want of an outbox.", st.dropped)
	n, err := w.Write([]byte(b.String()))
	return int64(n), err
}
