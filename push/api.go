// SPDX-License-Identifier: MIT

package push

import (
	"encoding/json"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// heartbeatJSON is one host of GET /api/v1/heartbeats.
type heartbeatJSON struct {
	Host     string             `json:"host"`
	State    string             `json:"state,omitempty"`  // the heartbeat check's state
	Checks   map[string]string  `json:"checks,omitempty"` // every check of the host: name -> state
	LastSeen *time.Time         `json:"last_seen"`
	Overdue  bool               `json:"overdue"`
	Addr     string             `json:"addr,omitempty"` // last source address
	Interval float64            `json:"interval_seconds"`
	Grace    float64            `json:"grace_seconds"`
	Detail   string             `json:"detail,omitempty"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Auto     bool               `json:"registered"` // registered at run time
}

// Routes returns the receiver's API endpoint: GET /api/v1/heartbeats
// (every heartbeat host: last heartbeat, source address, metrics, and
// the states of the host's checks when table is given) and
// /api/v1/heartbeats/NAME for one host.
func (r *Receiver) Routes(table *state.Table) []api.Route {
	return []api.Route{{Prefix: "/api/v1/heartbeats", Handler: func(ctx *fasthttp.RequestCtx) {
		if !ctx.IsGet() && !ctx.IsHead() {
			api.MethodNotAllowed(ctx, "GET, HEAD")
			return
		}
		name := strings.Trim(strings.TrimPrefix(string(ctx.Path()), "/api/v1/heartbeats"), "/")
		list := r.heartbeats(table, name)
		ctx.SetContentType("application/json")
		if name != "" {
			if len(list) == 0 {
				api.WriteError(ctx, fasthttp.StatusNotFound, "no such heartbeat host")
				return
			}
			json.NewEncoder(ctx).Encode(list[0])
			return
		}
		json.NewEncoder(ctx).Encode(list)
	}}}
}

func (r *Receiver) heartbeats(table *state.Table, only string) []heartbeatJSON {
	now := r.now()
	var out []heartbeatJSON
	r.mu.Lock()
	for k, h := range r.hosts {
		if k != h.name || only != "" && only != h.name {
			continue
		}
		j := heartbeatJSON{Host: h.name, Interval: h.interval.Seconds(), Grace: h.grace.Seconds(), Auto: h.auto,
			Overdue: !now.Before(h.lastSeen.Add(h.interval + h.grace)), Detail: h.lastDetail}
		if h.heard {
			t := h.lastSeen.UTC()
			j.LastSeen = &t
		}
		if h.addr != (netip.Addr{}) {
			j.Addr = h.addr.String()
		}
		if len(h.metrics) > 0 {
			j.Metrics = make(map[string]float64, len(h.metrics))
			for _, m := range h.metrics {
				j.Metrics[m.Name] = m.Value
			}
		}
		out = append(out, j)
	}
	r.mu.Unlock()
	if table != nil {
		v := table.View()
		for i := range out {
			hs := v.Lookup(out[i].Host)
			if hs == nil {
				continue
			}
			out[i].Checks = map[string]string{}
			for c := range hs.NumChecks() {
				ch := hs.Check(c)
				out[i].Checks[ch.Spec().Name] = ch.State().String()
				if ch.Spec().Kind == obs.KindHeartbeat {
					out[i].State = ch.State().String()
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}
