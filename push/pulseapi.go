// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/bucket"
)

// parseNextIn reads a "next in" value: a number of seconds (JSON number
// or string) or a Go duration ("90s", "5m").
func parseNextIn(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		d = time.Duration(x * float64(time.Second))
	case string:
		if x == "" {
			return 0, nil
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			d = time.Duration(f * float64(time.Second))
		} else if d, err = time.ParseDuration(x); err != nil {
			return 0, fmt.Errorf("want seconds or a duration like \"5m\", got %q", x)
		}
	default:
		return 0, fmt.Errorf("want seconds or a duration, got %v", v)
	}
	if d < 0 || d > 366*24*time.Hour {
		return 0, fmt.Errorf("out of range: %v", d)
	}
	return d, nil
}

// pulseBody is the native API's optional JSON body (query arguments of
// the same names work too).
type pulseBody struct {
	NextIn   any    `json:"next_in"`
	Schedule string `json:"schedule"`
	Grace    any    `json:"grace"`
}

// Routes returns the native pulse API on the main API listener:
//
//	POST   /api/v1/pulse/NAME            pulse (next_in, schedule, grace)
//	POST   /api/v1/pulse/NAME/start      a run started
//	POST   /api/v1/pulse/NAME/fail       a run failed
//	POST   /api/v1/pulse/NAME/CODE       a run ended with exit code CODE
//	DELETE /api/v1/pulse/NAME            cancel until the next pulse
//	GET    /api/v1/pulse/[NAME]          list, or one
//
// An unknown NAME is created when pulse_auto_create is set, else 404.
func (p *Pulses) Routes() []api.Route {
	return []api.Route{{Prefix: "/api/v1/pulse", Handler: p.native}}
}

func (p *Pulses) native(ctx *fasthttp.RequestCtx) {
	rest := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/v1/pulse"), "/")
	name, sub, _ := strings.Cut(rest, "/")
	if ctx.IsGet() {
		list := p.List()
		if name == "" {
			api.WriteJSON(ctx, 200, list)
			return
		}
		for _, i := range list {
			if i.Name == name {
				api.WriteJSON(ctx, 200, i)
				return
			}
		}
		api.WriteError(ctx, 404, "no such pulse")
		return
	}
	if name == "" {
		api.WriteError(ctx, 404, "want /api/v1/pulse/NAME")
		return
	}
	r := PulseRequest{Name: name, Signal: SignalOK, Create: p.cfg.Push.PulseAutoCreate}
	switch {
	case ctx.IsDelete() && sub == "":
		r.Signal, r.Create = SignalCancel, false
	case ctx.IsPost():
		switch sub {
		case "":
		case "start":
			r.Signal = SignalStart
		case "fail":
			r.Signal = SignalFail
		default:
			code, err := strconv.Atoi(sub)
			if err != nil || code < 0 || code > 255 {
				api.WriteError(ctx, 404, "want …/start, …/fail or …/EXIT_CODE (0-255)")
				return
			}
			if code != 0 {
				r.Signal, r.ExitCode = SignalFail, code
			}
		}
		var b pulseBody
		if body := ctx.PostBody(); len(body) > 0 && strings.HasPrefix(string(ctx.Request.Header.ContentType()), "application/json") {
			if err := json.Unmarshal(body, &b); err != nil {
				api.WriteError(ctx, 400, "body: "+err.Error())
				return
			}
		}
		a := ctx.QueryArgs()
		if v := a.Peek("next_in"); len(v) > 0 {
			b.NextIn = string(v)
		}
		if v := a.Peek("schedule"); len(v) > 0 {
			b.Schedule = string(v)
		}
		if v := a.Peek("grace"); len(v) > 0 {
			b.Grace = string(v)
		}
		var err error
		if r.NextIn, err = parseNextIn(b.NextIn); err != nil {
			api.WriteError(ctx, 400, "next_in: "+err.Error())
			return
		}
		if r.Grace, err = parseNextIn(b.Grace); err != nil {
			api.WriteError(ctx, 400, "grace: "+err.Error())
			return
		}
		r.Schedule = b.Schedule
	default:
		api.WriteError(ctx, 405, "method not allowed")
		return
	}
	if err := p.Pulse(ctx, r); err != nil {
		pulseError(ctx, err)
		return
	}
	api.WriteJSON(ctx, 200, map[string]string{"status": "ok", "pulse": name})
}

func pulseError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, ErrNoPulse):
		api.WriteError(ctx, 404, err.Error())
	case errors.Is(err, ErrTooMany):
		api.WriteError(ctx, 429, err.Error())
	default:
		api.WriteError(ctx, 400, err.Error())
	}
}

// Watchtower serves the watchtower-compatible API on its own listener
// (watchtower_listen), because GET / is pingstate's on the main one.
// Every request must carry the "password" header when a password is
// configured; requests are rate limited (100/s, burst 200) and bodies
// capped at 64 KiB.
type Watchtower struct {
	p      *Pulses
	events *EventLog
	pass   [32]byte
	auth   bool
	rate   *bucket.Bucket
	srv    *fasthttp.Server
}

// NewWatchtower returns the watchtower API over p and events; password ""
// means no password.
func NewWatchtower(p *Pulses, events *EventLog, password string) *Watchtower {
	w := &Watchtower{p: p, events: events, rate: bucket.New(100, 200)}
	if password != "" {
		w.pass, w.auth = sha256.Sum256([]byte(password)), true
	}
	w.srv = &fasthttp.Server{Handler: w.Handle, Name: "hb", MaxRequestBodySize: 64 << 10,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	return w
}

// Serve serves on ln until ctx ends.
func (w *Watchtower) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		w.srv.Shutdown()
	}()
	err := w.srv.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type wtPulse struct {
	Service     string `json:"service"`
	AlertType   string `json:"alertType"`
	AlertTarget string `json:"alertTarget"`
	NextIn      any    `json:"nextIn"`
}

type wtEvent struct {
	Service string `json:"service"`
	Level   string `json:"level"`
	Message string `json:"message"`
	Time    string `json:"time,omitempty"`
}

// Handle is the watchtower API's handler.
func (w *Watchtower) Handle(ctx *fasthttp.RequestCtx) {
	if !w.rate.Allow(time.Now()) {
		api.WriteError(ctx, 429, "rate limited")
		return
	}
	if w.auth {
		got := sha256.Sum256(ctx.Request.Header.Peek("password"))
		if subtle.ConstantTimeCompare(got[:], w.pass[:]) != 1 {
			api.WriteError(ctx, 401, "wrong or missing password header")
			return
		}
	}
	path := string(ctx.Path())
	switch {
	case path == "/" && ctx.IsGet():
		api.WriteJSON(ctx, 200, w.p.List())
	case path == "/" && ctx.IsPost():
		var b wtPulse
		if err := json.Unmarshal(ctx.PostBody(), &b); err != nil || b.Service == "" {
			api.WriteError(ctx, 400, `want {"service","alertType","alertTarget","nextIn"}`)
			return
		}
		d, err := parseNextIn(b.NextIn)
		if err != nil {
			api.WriteError(ctx, 400, "nextIn: "+err.Error())
			return
		}
		if err := w.p.Pulse(ctx, PulseRequest{Name: b.Service, Signal: SignalOK, NextIn: d, Create: true,
			AlertType: b.AlertType, AlertTarget: b.AlertTarget}); err != nil {
			pulseError(ctx, err)
			return
		}
		api.WriteJSON(ctx, 200, map[string]string{"status": "ok"})
	case path == "/" && ctx.IsDelete():
		var b wtPulse
		if err := json.Unmarshal(ctx.PostBody(), &b); err != nil || b.Service == "" {
			api.WriteError(ctx, 400, `want {"service"}`)
			return
		}
		if err := w.p.Pulse(ctx, PulseRequest{Name: b.Service, Signal: SignalCancel}); err != nil {
			pulseError(ctx, err)
			return
		}
		api.WriteJSON(ctx, 200, map[string]string{"status": "cancelled"})
	case path == "/add-event" && ctx.IsPost():
		var b wtEvent
		if err := json.Unmarshal(ctx.PostBody(), &b); err != nil || b.Service == "" || b.Message == "" {
			api.WriteError(ctx, 400, `want {"service","level","message"}`)
			return
		}
		lvl, ok := event.ParseLevel(strings.ToLower(b.Level))
		if b.Level == "" {
			lvl, ok = event.LevelInfo, true
		}
		if !ok || !validHostName(b.Service) || len(b.Message) > 4096 {
			api.WriteError(ctx, 400, "level: debug, info, warning, error or critical; service: a name; message: at most 4096 bytes")
			return
		}
		if w.events == nil {
			api.WriteError(ctx, 503, "no event log")
			return
		}
		now := w.p.now().UTC()
		ev := Event{At: now, Host: b.Service, Check: "pulse", Source: b.Service, Level: lvl.String(), Type: "message", Message: b.Message}
		if err := w.events.Write(ctx, []Event{ev}); err != nil {
			api.WriteError(ctx, 500, "event log: write failed")
			return
		}
		w.p.Message(b.Service, lvl, b.Message, true)
		api.WriteJSON(ctx, 200, map[string]string{"status": "ok"})
	case path == "/list-events" && ctx.IsGet():
		if w.events == nil {
			api.WriteError(ctx, 503, "no event log")
			return
		}
		f, err := filterFromArgs(ctx.QueryArgs(), "service")
		if err != nil {
			api.WriteError(ctx, 400, err.Error())
			return
		}
		evs, err := w.events.Query(ctx, f)
		if err != nil {
			api.WriteError(ctx, 500, "event log: query failed")
			return
		}
		out := make([]wtEvent, len(evs))
		for i, e := range evs {
			out[i] = wtEvent{Service: e.Source, Level: e.Level, Message: e.Message, Time: e.At.Format(time.RFC3339Nano)}
		}
		api.WriteJSON(ctx, 200, out)
	default:
		api.WriteError(ctx, 404, "not found")
	}
}
