// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
)

// TestHistoryThroughAPI: a real store behind the API. The host's history
// sums its checks and lists the host's state changes; ?check= gives one
// check's rows and the check's own state changes.
func TestHistoryThroughAPI(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "hb.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	a := netip.MustParseAddr("198.18.0.1")
	res := func(check string, kind obs.Kind, at time.Time, rtt time.Duration) {
		st.Record(event.Event{Type: event.Result, At: at, Host: "web1", Check: check, Kind: kind,
			Obs: &obs.Observation{Outcome: obs.OK, RTT: rtt}})
	}
	res("icmp", obs.KindICMP, base.Add(time.Second), time.Millisecond)
	res("icmp", obs.KindICMP, base.Add(11*time.Second), 3*time.Millisecond)
	res("tcp:22", obs.KindTCP, base.Add(2*time.Second), 10*time.Millisecond)
	// tcp:22 goes down; the host becomes degraded.
	st.Record(event.Event{Type: event.StateChange, At: base.Add(30 * time.Second), Host: "web1", Check: "tcp:22", Kind: obs.KindTCP,
		Old: state.Up, New: state.Down, HostOld: state.Up, HostNew: state.Degraded})
	// icmp flaps without changing the host.
	st.Record(event.Event{Type: event.StateChange, At: base.Add(40 * time.Second), Host: "web1", Check: "icmp", Kind: obs.KindICMP,
		Old: state.Up, New: state.Up, HostOld: state.Degraded, HostNew: state.Degraded})
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	tab, err := state.New([]state.HostSpec{{Name: "web1", Addr: a, Checks: []obs.CheckSpec{
		{Name: "icmp", Kind: obs.KindICMP, Addr: a, Target: a.String()},
		{Name: "tcp:22", Kind: obs.KindTCP, Addr: a, Target: "tcp://198.18.0.1:22"},
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{}, tab, historySource{st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln) }()
	defer func() { cancel(); <-done }()
	cli := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	get := func(path string, v any) int {
		t.Helper()
		code, body, err := cli.Get(nil, "http://hb"+path)
		if err != nil {
			t.Fatal(err)
		}
		if v != nil && code == 200 {
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, body)
			}
		}
		return code
	}
	type hist struct {
		Check   string            `json:"check"`
		Rollups []api.Rollup      `json:"rollups"`
		Changes []api.StateChange `json:"state_changes"`
	}
	var h hist
	if code := get("/api/v1/hosts/web1/history", &h); code != 200 || len(h.Rollups) != 1 || h.Rollups[0].Probes != 3 ||
		*h.Rollups[0].RTTMinSec != 0.001 || *h.Rollups[0].RTTMaxSec != 0.01 || len(h.Changes) != 1 || h.Changes[0].To != "degraded" {
		t.Fatalf("host history: %d %+v", code, h)
	}
	h = hist{}
	if code := get("/api/v1/hosts/web1/history?check=icmp", &h); code != 200 || h.Check != "icmp" || len(h.Rollups) != 1 ||
		h.Rollups[0].Probes != 2 || *h.Rollups[0].RTTAvgSec != 0.002 || len(h.Changes) != 1 || h.Changes[0].To != "up" {
		t.Fatalf("icmp history: %d %+v", code, h)
	}
	h = hist{}
	if code := get("/api/v1/hosts/web1/history?check=tcp:22", &h); code != 200 || len(h.Rollups) != 1 || h.Rollups[0].Probes != 1 ||
		len(h.Changes) != 1 || h.Changes[0].From != "up" || h.Changes[0].To != "down" {
		t.Fatalf("tcp:22 history: %d %+v", code, h)
	}
	if code := get("/api/v1/hosts/web1/history?check=http", nil); code != 404 {
		t.Fatalf("unknown check: %d, want 404", code)
	}
}
