// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
)

// BenchmarkProberHTTP is one HTTP check against an in-process loopback
// server: a fresh connection, request, status and body check. The CPU
// figure includes the server's side of each request.
func BenchmarkProberHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer srv.Close()
	pr, err := ParseProbe(obs.CheckSpec{Kind: obs.KindHTTP, Target: srv.URL + "/", Params: map[string]string{"check": "body_contains:OK"}}, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	p := NewProber(ProberConfig{})
	b.ReportAllocs()
	for b.Loop() {
		if o := p.Run(context.Background(), pr); o.Outcome != obs.OK {
			b.Fatal(o.Problem)
		}
	}
}

// BenchmarkProberTCP is one TCP connect check.
func BenchmarkProberTCP(b *testing.B) {
	ap := bannerServer(b, "")
	pr, err := ParseProbe(obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://" + hostPort(ap)}, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	p := NewProber(ProberConfig{})
	b.ReportAllocs()
	for b.Loop() {
		if o := p.Run(context.Background(), pr); o.Outcome != obs.OK {
			b.Fatal(o.Problem)
		}
	}
}
