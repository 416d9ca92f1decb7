// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
)

// TestAlertsWiring: the daemon with a plugged source, alert rules and a
// webhook channel (no privileges): a parent and its child time out, the
// webhook gets one message naming the parent and the child it holds; a
// reload keeps the alert without a new message; the state is in the
// database the store uses.
func TestAlertsWiring(t *testing.T) {
	var mu sync.Mutex
	var msgs []notify.Message
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	}))
	defer hook.Close()
	take := func() []notify.Message {
		mu.Lock()
		defer mu.Unlock()
		m := msgs
		msgs = nil
		return m
	}

	dir := t.TempDir()
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("198.18.0.1 name=gw\n198.18.0.2 name=c1 parent=gw\n198.18.0.3 name=solo\n"), 0o644)
	cfg := config.DefaultProbe()
	cfg.Targets, cfg.API.Listen, cfg.Store.DB = targets, "off", filepath.Join(dir, "hb.db")
	cfg.FSM.FailuresToDown = 1
	cfg.Alerts.GroupWait = 0
	cfg.Alerts.DefaultChannels = []string{"hook"}
	cfg.Alerts.Channels = []config.AlertChannel{{Name: "hook", URL: hook.URL}}
	cfg.Alerts.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	src := newTestSource(obs.KindICMP)
	reload := make(chan struct{})
	m, err := New(context.Background(), cfg, "", Options{Sources: []obs.Source{src}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Reload: reload})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-src.ready

	for i, h := range []string{"gw", "c1", "solo"} {
		if !src.emit(h, "icmp", ok(i)) {
			t.Fatalf("no check for %s", h)
		}
	}
	src.emit("c1", "icmp", timeout(5))
	src.emit("gw", "icmp", timeout(5))
	var got []notify.Message
	waitFor(t, "the webhook", func() bool { got = append(got, take()...); return len(got) > 0 })
	time.Sleep(1500 * time.Millisecond)
	got = append(got, take()...)
	if len(got) != 1 || len(got[0].Alerts) != 1 || got[0].Alerts[0].Host != "gw" || got[0].Alerts[0].Held != 1 {
		t.Fatalf("messages %+v", got)
	}
	as := m.alerts.eng.List(alertFilterAll())
	if len(as) != 2 {
		t.Fatalf("alerts %+v", as)
	}
	reload <- struct{}{}
	time.Sleep(2500 * time.Millisecond)
	if m := take(); len(m) != 0 {
		t.Fatalf("messages after the reload: %+v", m)
	}
	if as := m.alerts.eng.List(alertFilterAll()); len(as) != 2 {
		t.Fatalf("alerts after the reload %+v", as)
	}
	var n int
	if err := m.alerts.db.Conn.QueryRow(`SELECT count(*) FROM alert_state`).Scan(&n); err != nil || n != 2 {
		t.Errorf("alert_state rows %d, %v", n, err)
	}
	// Written through the store's writer: the alerts' own connection
	// cannot write.
	if !m.alerts.db.Shared || m.alerts.db.W != m.store.st {
		t.Errorf("alerts write on their own (shared %v)", m.alerts.db.Shared)
	}
	if _, err := m.alerts.db.Conn.Exec(`DELETE FROM alert_state`); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("a write on the alerts' connection: %v, want a read-only error", err)
	}
	// The child first: were the parent up first, the child's held alert
	// would be released (and sent as firing) until its own result came.
	src.emit("c1", "icmp", ok(9))
	waitFor(t, "the child's alert resolved", func() bool {
		for _, a := range m.alerts.eng.List(alertFilterAll()) {
			if a.Host == "c1" && a.Level != alert.OK {
				return false
			}
		}
		return true
	})
	src.emit("gw", "icmp", ok(9))
	waitFor(t, "the recovery", func() bool { got = take(); return len(got) > 0 })
	if got[0].Counts.Resolved != 1 || !strings.Contains(got[0].Text, "RESOLVED") {
		t.Errorf("recovery %+v", got)
	}
}

func alertFilterAll() alert.Filter { return alert.Filter{} }
