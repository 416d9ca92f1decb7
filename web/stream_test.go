// SPDX-License-Identifier: MIT

package web

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/state"
)

// serve runs s behind a real API server on loopback.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	srv, err := api.New(api.Config{Routes: s.Routes(), Authorize: s.Authorize()}, s.opts.Table, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeListener(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// sse is one stream connection.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, url string, hdr map[string]string) *sse {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/ui/api/stream", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next reads the next event (skipping comments and retry): its id, type
// and data.
func (c *sse) next(t *testing.T) (id, typ, data string) {
	t.Helper()
	deadline := time.AfterFunc(10*time.Second, func() { c.resp.Body.Close() })
	defer deadline.Stop()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream read: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if data != "" || typ != "" {
				if typ == "" {
					typ = "message"
				}
				return
			}
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func TestStreamResume(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	s := testServer(t, clk)
	s.now = time.Now // the stream's timers are real
	url := serve(t, s)
	rootTok := map[string]string{"Authorization": "Bearer root-token"}
	at := time.Now()

	c := openStream(t, url, rootTok)
	s.hub.Add("a", "icmp", state.Down, state.Up, state.Down, at)
	id1, typ, data := c.next(t)
	if typ != "message" || !strings.Contains(data, `"host":"a"`) || !strings.Contains(data, `"host_state":"down"`) || !strings.HasPrefix(id1, s.epoch+".") {
		t.Fatalf("first event: %s %s %s", id1, typ, data)
	}
	c.resp.Body.Close()

	// Missed while away: b down then up. The resumed stream sends them,
	// coalesced to b's newest state, with the host's first old state.
	s.hub.Add("b", "icmp", state.Down, state.Up, state.Down, at)
	s.hub.Add("b", "icmp", state.Up, state.Down, state.Up, at)
	c = openStream(t, url, map[string]string{"Authorization": "Bearer root-token", "Last-Event-ID": id1})
	id2, _, data := c.next(t)
	if strings.Count(data, `"host":"b"`) != 1 || strings.Contains(data, `"host":"a"`) || !strings.Contains(data, `"host_old":"up","host_state":"up"`) {
		t.Fatalf("resumed batch %s: %s", id2, data)
	}
	if id2 != s.epoch+".3" {
		t.Fatalf("resumed id %s", id2)
	}

	// An id from another run of the daemon: reset.
	c = openStream(t, url, map[string]string{"Authorization": "Bearer root-token", "Last-Event-ID": "0123.2"})
	if _, typ, _ := c.next(t); typ != "reset" {
		t.Fatalf("foreign epoch: %s, want reset", typ)
	}
	// An id the ring has moved past: reset.
	for i := 0; i < ringSize; i++ {
		s.hub.Add("a", "icmp", state.Up, state.Down, state.Up, at)
	}
	c = openStream(t, url, map[string]string{"Authorization": "Bearer root-token", "Last-Event-ID": id2})
	if _, typ, _ := c.next(t); typ != "reset" {
		t.Fatalf("id past the ring: %s, want reset", typ)
	}

	// olga sees a's changes, not b's (otto's).
	cookie, _ := loginCookie(t, s, "olga", "olga-password")
	c = openStream(t, url, map[string]string{"Cookie": cookieName + "=" + cookie})
	s.hub.Add("b", "icmp", state.Down, state.Up, state.Down, at)
	s.hub.Add("a", "icmp", state.Down, state.Up, state.Down, at)
	_, _, data = c.next(t)
	if strings.Contains(data, `"host":"b"`) || !strings.Contains(data, `"host":"a"`) {
		t.Fatalf("olga's stream: %s", data)
	}
	// Without credentials: 401.
	resp, err := http.Get(url + "/ui/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("anonymous stream: %d", resp.StatusCode)
	}
}

// TestAPIAuthorize: with users, /api/v1 needs the bearer token or an
// admin's credentials even without a token file.
func TestAPIAuthorize(t *testing.T) {
	s := testServer(t, &fakeClock{t: time.Now()})
	s.now = time.Now
	url := serve(t, s)
	get := func(hdr map[string]string) int {
		req, _ := http.NewRequest("GET", url+"/api/v1/hosts", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if c := get(nil); c != 401 {
		t.Errorf("anonymous /api/v1/hosts: %d", c)
	}
	if c := get(map[string]string{"Authorization": "Bearer root-token"}); c != 200 {
		t.Errorf("admin token: %d", c)
	}
	cookie, _ := loginCookie(t, s, "olga", "olga-password")
	if c := get(map[string]string{"Cookie": cookieName + "=" + cookie}); c != 401 {
		t.Errorf("olga's session: %d", c)
	}
	if c, _ := http.Get(url + "/healthz"); c.StatusCode != 200 {
		t.Errorf("/healthz: %d", c.StatusCode)
	}
}
