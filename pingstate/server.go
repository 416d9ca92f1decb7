// SPDX-License-Identifier: MIT

package pingstate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/checks"
	"github.com/hbmon/hb/state"
)

// Handler serves pingstate's endpoints for t.
func Handler(t *Tracker, now func() time.Time) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed)
			return
		}
		switch string(ctx.Path()) {
		case "/", "/status":
			b, err := json.Marshal(t.Status(now()))
			if err != nil {
				ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(append(b, '\n'))
		case "/state":
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString(t.State().String() + "\n")
		case "/healthz":
			st := t.State()
			code := fasthttp.StatusOK
			if st != state.Up {
				code = fasthttp.StatusServiceUnavailable
			}
			ctx.SetStatusCode(code)
			ctx.SetContentType("application/json")
			ctx.SetBodyString(fmt.Sprintf(`{"ok":%t,"state":%q}`+"\n", st == state.Up, st.String()))
		default:
			ctx.Error("not found\n", fasthttp.StatusNotFound)
		}
	}
}

// Run watches the target of o and serves the API on ln (nil: listen on
// --api-host:--api-port) until ctx ends. Transitions are logged.
func Run(ctx context.Context, o Options, ln net.Listener, log *slog.Logger) error {
	probe, err := o.Probe()
	if err != nil {
		return err
	}
	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(o.APIHost, strconv.Itoa(o.APIPort)))
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
	}
	t := NewTracker(o.Describe(), time.Now())
	srv := &fasthttp.Server{
		Handler: Handler(t, time.Now), Name: "hb-probe pingstate",
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		MaxRequestBodySize: 1 << 10, Concurrency: 256, NoDefaultContentType: true,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("pingstate", "probe", o.Describe(), "interval", o.Interval, "timeout", o.Timeout, "api", "http://"+ln.Addr().String())

	prober := checks.NewProber(checks.ProberConfig{})
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		res := prober.Run(ctx, probe)
		if ctx.Err() != nil {
			break
		}
		if old, cur := t.Observe(res); old != cur {
			d := res.Detail
			if res.Outcome.Failed() {
				d = res.Problem
			}
			log.Info("state change", "from", old.String(), "to", cur.String(), "detail", d)
		}
		select {
		case <-ctx.Done():
		case err := <-errc:
			return fmt.Errorf("api: %w", err)
		case <-tick.C:
			continue
		}
		break
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.ShutdownWithContext(sctx)
}
