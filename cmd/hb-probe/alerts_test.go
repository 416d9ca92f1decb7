// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/notify"
)

// hookReceiver is the webhook receiver of the end-to-end test. Its
// listener lives in the prober namespace, where the daemon runs.
type hookReceiver struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m notify.Message
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&m); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	h.mu.Unlock()
}

func (h *hookReceiver) take() []notify.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.msgs
	h.msgs = nil
	return m
}

// TestAlertsEndToEnd runs the real hb-probe in the prober namespace of a
// simulated fleet with alert rules and a webhook channel, then cuts and
// restores routes: a host down reaches the webhook, its recovery follows;
// re-notification repeats until an ack via the API; a silence mutes; a
// parent down holds its children in one message; a /20 cut is one
// grouped message.
func TestAlertsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hb-probe binary against a namespace fleet")
	}
	fleet := testutil.NewFleet(t, testutil.FleetConfig{Local: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.0/20"), netip.MustParsePrefix("198.18.16.0/24"),
	}})
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, dir, ".")

	// Listeners in the prober namespace: the webhook receiver and the API.
	var hookLn, apiLn net.Listener
	if err := fleet.Prober.Do(func() error {
		var err error
		if hookLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		apiLn, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hook := &hookReceiver{}
	go http.Serve(hookLn, hook)
	defer hookLn.Close()
	apiAddr := apiLn.Addr().String()
	apiLn.Close() // the daemon binds it (same namespace)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := fleet.Prober.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}}
	api := func(method, path, body string, v any) int {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+apiAddr+path, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("%s %s: %v", method, path, err)
			return -1
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}

	targets := filepath.Join(dir, "targets")
	var tl strings.Builder
	tl.WriteString("198.18.16.1 name=gw\n")
	for i := 2; i <= 6; i++ {
		fmt.Fprintf(&tl, "198.18.16.%d name=child%d parent=gw\n", i, i)
	}
	tl.WriteString("198.18.16.10 name=web1\n198.18.16.11 name=web2\n198.18.0.0/20 role=mass\n")
	os.WriteFile(targets, []byte(tl.String()), 0o644)
	cfg := filepath.Join(dir, "hb-probe.toml")
	cfgText := fmt.Sprintf(`targets = %q
interval = "1s"
timeout = "500ms"
rate = 0
max_targets = 10000
[store]
db = %q
[api]
listen = %q
[fsm]
failures_to_down = 2
[alerts]
renotify_interval = "4s"
group_wait = "2s"
default_channels = ["hook"]
[[alerts.channels]]
name = "hook"
url = "http://%s/hook"
[[alerts.rules]]
name = "host_down"
kind = "icmp"
state = "down"
severity = "critical"
`, targets, filepath.Join(dir, "hb.db"), apiAddr, hookLn.Addr().String())
	os.WriteFile(cfg, []byte(cfgText), 0o644)

	var log testutil.SyncBuffer
	var cmd *exec.Cmd
	startDaemon := func() {
		cmd = exec.Command("ip", "netns", "exec", fleet.Prober.Name, bin, "--config", cfg)
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.Env = append(os.Environ(), "HB_CONFIG=")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stopDaemon := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	startDaemon()
	defer func() { stopDaemon() }()
	waitFor(t, "the probe mode", &log, func() bool { return strings.Contains(log.String(), `msg="probe mode"`) })
	if strings.Contains(log.String(), "socket=udp") {
		t.Skip("no raw or ping sockets: only UDP probes, which the fleet does not answer")
	}
	waitFor(t, "every host up", &log, func() bool {
		var st map[string]string
		if api("GET", "/state", "", &st) != 200 {
			return false
		}
		for _, s := range st {
			if s != "up" {
				return false
			}
		}
		return len(st) > 4000
	})
	time.Sleep(3 * time.Second)
	if m := hook.take(); len(m) != 0 {
		t.Fatalf("notifications while everything is up: %+v", m)
	}

	cut := func(prefix string) { fleet.Prober.MustIP(t, "route", "add", "blackhole", prefix) }
	restore := func(prefix string) { fleet.Prober.MustIP(t, "route", "del", "blackhole", prefix) }
	// waitMsgs waits until the receiver holds n messages (then a grace
	// period for any extra ones) and returns them.
	waitMsgs := func(what string, n int, within time.Duration) []notify.Message {
		t.Helper()
		var got []notify.Message
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) && len(got) < n {
			got = append(got, hook.take()...)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
		got = append(got, hook.take()...)
		if len(got) != n {
			t.Fatalf("%s: %d messages, want %d: %+v\nlog:\n%s", what, len(got), n, got, log.String())
		}
		return got
	}

	// 1. A host goes down: the webhook gets it within interval × 2 +
	// group_wait (+ slack); restoring sends the recovery.
	start := time.Now()
	cut("198.18.16.10/32")
	m := waitMsgs("web1 down", 1, 15*time.Second)
	if len(m[0].Alerts) != 1 || m[0].Alerts[0].Host != "web1" || m[0].Alerts[0].Level != "CRITICAL" || m[0].Alerts[0].Event != "firing" || m[0].Version != notify.SchemaVersion {
		t.Fatalf("web1 down: %+v", m[0])
	}
	t.Logf("route cut to webhook: %v", time.Since(start).Round(100*time.Millisecond))
	restore("198.18.16.10/32")
	m = waitMsgs("web1 recovery", 1, 10*time.Second)
	if m[0].Alerts[0].Status != "resolved" || m[0].Alerts[0].Host != "web1" {
		t.Fatalf("web1 recovery: %+v", m[0])
	}

	// 2. Re-notification every 4 s until acknowledged.
	cut("198.18.16.10/32")
	waitMsgs("web1 down again", 1, 15*time.Second)
	m = waitMsgs("re-notification", 1, 8*time.Second)
	if m[0].Alerts[0].Event != "renotify" {
		t.Fatalf("want a renotify: %+v", m[0])
	}
	var list struct {
		Alerts []struct {
			ID    uint64 `json:"id"`
			Host  string `json:"host"`
			Muted string `json:"muted"`
			Held  string `json:"held"`
		} `json:"alerts"`
	}
	api("GET", "/api/v1/alerts?host=web1", "", &list)
	if len(list.Alerts) != 1 {
		t.Fatalf("alerts for web1: %+v", list)
	}
	if code := api("POST", fmt.Sprintf("/api/v1/alerts/%d/ack", list.Alerts[0].ID), `{"by":"e2e","comment":"on it"}`, nil); code != 200 {
		t.Fatalf("ack: HTTP %d", code)
	}
	time.Sleep(9 * time.Second)
	if m := hook.take(); len(m) != 0 {
		t.Fatalf("notified after the ack: %+v", m)
	}
	restore("198.18.16.10/32")
	waitMsgs("web1 recovery after ack", 1, 10*time.Second)

	// 3. A silence mutes web2 (recorded, listed as muted, not sent).
	if code := api("POST", "/api/v1/silences", `{"matchers":"host=web2","author":"e2e","comment":"maintenance","for":"1h"}`, nil); code != 201 {
		t.Fatalf("silence: HTTP %d", code)
	}
	cut("198.18.16.11/32")
	time.Sleep(8 * time.Second)
	if m := hook.take(); len(m) != 0 {
		t.Fatalf("silenced host notified: %+v", m)
	}
	api("GET", "/api/v1/alerts?host=web2", "", &list)
	if len(list.Alerts) != 1 || !strings.HasPrefix(list.Alerts[0].Muted, "silence") {
		t.Fatalf("web2 alert: %+v", list)
	}
	restore("198.18.16.11/32")

	// 4. The parent and its five children go down: one message, naming
	// the parent and how many children it holds.
	cut("198.18.16.0/29")
	m = waitMsgs("parent down", 1, 15*time.Second)
	if len(m[0].Alerts) != 1 || m[0].Alerts[0].Host != "gw" || m[0].Alerts[0].Held != 5 || !strings.Contains(m[0].Text, "5 children held behind it") {
		t.Fatalf("parent down: %+v", m[0])
	}
	api("GET", "/api/v1/alerts?match=parent%3Dgw", "", &list)
	if len(list.Alerts) != 5 || list.Alerts[0].Held != "unreachable behind gw" {
		t.Errorf("children: %+v", list)
	}
	restore("198.18.16.0/29")
	waitMsgs("parent recovery", 1, 10*time.Second)

	// 5. A /20 cut: one grouped message with the count and first names.
	start = time.Now()
	cut("198.18.0.0/20")
	m = waitMsgs("mass outage", 1, 30*time.Second)
	t.Logf("/20 cut to grouped message: %v, title %q", time.Since(start).Round(100*time.Millisecond), m[0].Title)
	if m[0].Counts.Firing < 4000 || !strings.Contains(m[0].Title, "more") {
		t.Fatalf("mass outage message: counts %+v title %q", m[0].Counts, m[0].Title)
	}
	restore("198.18.0.0/20")
	m = waitMsgs("mass recovery", 1, 30*time.Second)
	if m[0].Counts.Resolved < 4000 {
		t.Errorf("mass recovery: %+v", m[0].Counts)
	}

	// 6. SIGHUP (renotify_interval 4s -> 1h) keeps the firing alert and
	// sends nothing; a restart restores it: no second "firing", and the
	// recovery still reaches the channel that got it.
	cut("198.18.16.10/32")
	waitMsgs("web1 down before reload", 1, 15*time.Second)
	os.WriteFile(cfg, []byte(strings.Replace(cfgText, `renotify_interval = "4s"`, `renotify_interval = "1h"`, 1)), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", &log, func() bool { return strings.Contains(log.String(), "alert rules applied") })
	time.Sleep(6 * time.Second)
	if m := hook.take(); len(m) != 0 {
		t.Fatalf("notified across the reload: %+v", m)
	}
	stopDaemon()
	startDaemon()
	waitFor(t, "the restarted API", &log, func() bool {
		var l struct{ Alerts []struct{ Host string } }
		return api("GET", "/api/v1/alerts?host=web1", "", &l) == 200 && len(l.Alerts) == 1
	})
	time.Sleep(8 * time.Second)
	if m := hook.take(); len(m) != 0 {
		t.Fatalf("notified again after the restart: %+v", m)
	}
	restore("198.18.16.10/32")
	m = waitMsgs("web1 recovery after restart", 1, 15*time.Second)
	if m[0].Alerts[0].Status != "resolved" || m[0].Alerts[0].Host != "web1" {
		t.Fatalf("recovery after restart: %+v", m[0])
	}

	// Metrics and the CLI.
	req, _ := http.NewRequest("GET", "http://"+apiAddr+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`hb_notifications_sent_total{channel="hook"}`, `hb_alerts_active{severity="critical"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
