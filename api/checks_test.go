// SPDX-License-Identifier: MIT

package api

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// checksTable replaces the harness's table with a host of three checks
// named with a '/' (served percent-encoded) and a plain icmp host.
func checksTable(t *testing.T, h *harness) {
	t.Helper()
	a := netip.MustParseAddr("198.18.0.10")
	specs := []state.HostSpec{
		{Name: "rack1/db", Addr: a, Parent: "sw1", Labels: state.LabelsFromMap(map[string]string{"role": "db"}), Checks: []obs.CheckSpec{
			{Name: "icmp", Kind: obs.KindICMP, Addr: a, Target: "198.18.0.10"},
			{Name: "tcp:5432", Kind: obs.KindTCP, Addr: a, Target: "tcp://198.18.0.10:5432"},
			{Name: "heartbeat", Kind: obs.KindHeartbeat, Target: "heartbeat://rack1/db"},
		}},
		{Name: "sw1", Addr: netip.MustParseAddr("198.18.0.1"), Checks: icmp(netip.MustParseAddr("198.18.0.1"))},
	}
	tab := h.srv.table
	if _, err := tab.Reload(specs); err != nil {
		t.Fatal(err)
	}
	v := tab.View()
	apply := func(host, check string, o state.Outcome, i int) {
		ob := state.Observation{At: now0.Add(time.Duration(i-10) * time.Second), Outcome: o}
		if o == state.OK {
			ob.RTT, ob.Method = time.Millisecond, obs.MethodUser
		}
		if _, err := tab.Apply(v.LookupCheck(host, check).ID, ob); err != nil {
			t.Fatal(err)
		}
	}
	apply("rack1/db", "icmp", state.OK, 1)
	apply("rack1/db", "tcp:5432", state.Timeout, 2)
	apply("rack1/db", "tcp:5432", state.Timeout, 3)
	apply("sw1", "icmp", state.OK, 1)
}

func TestChecksEndpoint(t *testing.T) {
	h := newHarness(t, Config{})
	checksTable(t, h)
	var all checksJSON
	h.getJSON("/api/v1/checks", &all)
	if all.Total != 4 || len(all.Checks) != 4 {
		t.Fatalf("checks: %+v", all)
	}
	c := all.Checks[1]
	if c.Host != "rack1/db" || c.Name != "tcp:5432" || c.Kind != "tcp" || c.State != "down" || c.Target != "tcp://198.18.0.10:5432" ||
		c.Addr == nil || *c.Addr != "198.18.0.10" || c.Probes != 2 || c.Problem == nil || *c.Problem != "timeout" || c.Recent != nil {
		t.Errorf("tcp check %+v", c)
	}
	if hb := all.Checks[2]; hb.Addr != nil || hb.State != "unknown" || hb.LastOutcome != nil {
		t.Errorf("heartbeat check %+v", hb)
	}
	for _, tc := range []struct {
		q    string
		want string
	}{
		{"?kind=icmp", "rack1/db:icmp sw1:icmp"},
		{"?kind=tcp,heartbeat", "rack1/db:tcp:5432 rack1/db:heartbeat"},
		{"?state=down", "rack1/db:tcp:5432"},
		{"?state=up&kind=icmp&host=sw1", "sw1:icmp"},
		{"?host=rack1/db&state=unknown", "rack1/db:heartbeat"},
		{"?label=role:db&kind=icmp", "rack1/db:icmp"},
		{"?label=role", "rack1/db:icmp rack1/db:tcp:5432 rack1/db:heartbeat"},
		{"?limit=2&offset=1", "rack1/db:tcp:5432 rack1/db:heartbeat"},
	} {
		var got checksJSON
		h.getJSON("/api/v1/checks"+tc.q, &got)
		var names []string
		for _, c := range got.Checks {
			names = append(names, c.Host+":"+c.Name)
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("%s: %v, want %s", tc.q, names, tc.want)
		}
	}
	for _, q := range []string{"?kind=ftp", "?state=sideways", "?limit=0", "?label=:x"} {
		if code, _, _ := h.do("GET", "/api/v1/checks"+q, ""); code != 400 {
			t.Errorf("%s: HTTP %d, want 400", q, code)
		}
	}
}

// TestHostWithChecks: the host-level shapes stay (derived state), the
// detail view lists the checks, and a name with '/' is served
// percent-encoded (the name=a/b bug).
func TestHostWithChecks(t *testing.T) {
	h := newHarness(t, Config{})
	checksTable(t, h)
	var st map[string]string
	h.getJSON("/state", &st)
	if st["rack1/db"] != "degraded" || st["sw1"] != "up" {
		t.Errorf("/state %v", st)
	}
	var hj hostJSON
	code, body := h.getRaw("/api/v1/hosts/rack1%2Fdb")
	if err := json.Unmarshal(body, &hj); code != 200 || err != nil {
		t.Fatalf("GET /api/v1/hosts/rack1%%2Fdb: %d %s", code, body)
	}
	if hj.Name != "rack1/db" || hj.State != "degraded" || hj.Parent != "sw1" || len(hj.Checks) != 3 ||
		hj.Checks[0].Name != "icmp" || hj.Checks[0].State != "up" || len(hj.Checks[1].Recent) != 2 || hj.Probes != 1 {
		t.Errorf("host detail %+v", hj)
	}
	code, body = h.getRaw("/api/v1/hosts/rack1%2Fdb/state")
	if code != 200 || string(body) != "degraded\n" {
		t.Errorf("state of rack1/db: %d %q", code, body)
	}
	if code, _ := h.getRaw("/api/v1/hosts/rack1/db"); code != 404 {
		t.Errorf("unencoded slash: HTTP %d, want 404", code)
	}
	// A host that only pushes has no address: "" (not "invalid IP").
	if _, err := h.srv.table.Reload([]state.HostSpec{{Name: "job", Checks: []obs.CheckSpec{{Name: "pulse", Kind: obs.KindPulse}}}}); err != nil {
		t.Fatal(err)
	}
	var job hostJSON
	h.getJSON("/api/v1/hosts/job", &job)
	var ps map[string]any
	h.getJSON("/api/v1/hosts/job/status", &ps)
	if job.Addr != "" || job.State != "unknown" || ps["probe"] != "pulse job" {
		t.Errorf("push-only host: addr %q state %q probe %v", job.Addr, job.State, ps["probe"])
	}
	code, body, _ = h.do("GET", "/metrics", "")
	if code != 200 || strings.Contains(string(body), "invalid IP") {
		t.Errorf("/metrics for a host without address: %d", code)
	}
	checksTable(t, h)
	var list hostsJSON
	h.getJSON("/api/v1/hosts", &list)
	if list.Total != 2 || list.Hosts[0].Checks != nil || list.Hosts[0].State != "degraded" {
		t.Errorf("host list %+v", list)
	}
}
