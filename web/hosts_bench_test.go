// SPDX-License-Identifier: MIT

package web

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// BenchmarkHostsEndpoint: /ui/api/hosts over a 100k-host table, as an
// admin and as a user who owns half the hosts (the role check per host):
//
//	go test ./web -run '^$' -bench HostsEndpoint -benchmem
func BenchmarkHostsEndpoint(b *testing.B) {
	const n = 100_000
	specs := make([]state.HostSpec, n)
	for i := range specs {
		owner := "otto"
		if i%2 == 1 {
			owner = "olga"
		}
		specs[i] = state.HostSpec{Name: fmt.Sprintf("h%06d", i), Labels: state.Labels{{Key: "owner", Value: owner}, {Key: "site", Value: fmt.Sprintf("dc%d", i%3)}},
			Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}}
	}
	tbl, err := state.New(specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < n; i++ {
		o := obs.Observation{At: now, Outcome: obs.OK, RTT: time.Millisecond}
		if i%50 == 7 {
			o = obs.Observation{At: now, Outcome: obs.Timeout}
		}
		tbl.Apply(i, o)
	}
	s, err := New(Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:1", Table: tbl, Log: slog.New(slog.DiscardHandler),
		Users: []config.User{{Name: "olga"}, {Name: "root", Admin: true, Tokens: []string{TokenHash("t")}}}})
	if err != nil {
		b.Fatal(err)
	}
	olga := Principal{Name: "olga"}
	admin := Principal{Name: "root", Admin: true}
	for _, c := range []struct {
		name string
		p    Principal
		uri  string
	}{
		{"admin-all", admin, "/ui/api/hosts"},
		{"admin-problems-first", admin, "/ui/api/hosts?sort=state"},
		{"admin-filtered", admin, "/ui/api/hosts?state=down&label=site%3Ddc1&q=h0"},
		{"owner-all", olga, "/ui/api/hosts"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				ctx := reqCtx("GET", c.uri)
				s.apiHosts(ctx, c.p)
				if ctx.Response.StatusCode() != 200 {
					b.Fatal(ctx.Response.StatusCode())
				}
			}
		})
	}
}
