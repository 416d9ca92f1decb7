// SPDX-License-Identifier: MIT

package web

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// goneAlerts is the engine listing one alert more than it holds: an alert
// resolved and dropped between the dashboard's lookup and its
// acknowledgement (a race no real sequence hits reliably), so that the
// engine's own not-found answer is exercised.
type goneAlerts struct {
	*alert.Engine
	gone alert.Alert
}

func (g goneAlerts) List(f alert.Filter) []alert.Alert { return append(g.Engine.List(f), g.gone) }

// TestAckStatus: the dashboard's acknowledgement answers 404 only for an
// alert that is not there, and 500 when the engine could not save it (a
// real SQLite database refusing the write, by a trigger), 200 once the
// save works again — with the acknowledgement in the database.
func TestAckStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	db, err := notify.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := config.DefaultAlerts()
	cfg.Rules = []config.AlertRule{{Name: "host_down", Kind: "icmp", State: "down"}}
	owner := state.Labels{{Key: "owner", Value: "olga"}}
	eng, err := alert.New(alert.Options{Config: cfg, DB: db, Log: slog.New(slog.DiscardHandler),
		Hosts: func(h string) (alert.HostInfo, bool) { return alert.HostInfo{Labels: owner}, h == "a" }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	eng.Handle(&event.Event{Type: event.StateChange, At: now, Host: "a", Check: "icmp", Kind: obs.KindICMP, New: state.Down, HostNew: state.Down,
		Obs: &obs.Observation{At: now, Outcome: obs.Timeout}, Snap: &state.Snapshot{State: state.Down}})
	as := eng.List(alert.Filter{})
	if len(as) != 1 {
		t.Fatalf("alerts %+v, want host a's", as)
	}
	id := as[0].ID
	gone := as[0]
	gone.ID = id + 1000

	tbl, err := state.New([]state.HostSpec{{Name: "a", Labels: owner, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:1", Table: tbl, Alerts: goneAlerts{eng, gone}, Log: slog.New(slog.DiscardHandler),
		Users: []config.User{{Name: "root", Admin: true, Tokens: []string{TokenHash("root-token")}}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := map[string]string{"Authorization": "Bearer root-token"}
	ack := func(id uint64) (int, string) {
		r := do(s, "POST", fmt.Sprintf("/ui/api/alerts/%d/ack", id), `{"comment":"on it"}`, tok)
		return r.StatusCode(), string(r.Body())
	}

	if code, body := ack(id + 5000); code != 404 {
		t.Fatalf("ack of an unknown alert: %d %s, want 404", code, body)
	}
	if code, body := ack(gone.ID); code != 404 {
		t.Fatalf("ack of an alert gone since the lookup: %d %s, want 404", code, body)
	}
	if _, err := db.Conn.Exec(`
		CREATE TRIGGER refuse_insert BEFORE INSERT ON alert_state BEGIN SELECT RAISE(ABORT, 'disk says no'); END;
		CREATE TRIGGER refuse_update BEFORE UPDATE ON alert_state BEGIN SELECT RAISE(ABORT, 'disk says no'); END;`); err != nil {
		t.Fatal(err)
	}
	if code, body := ack(id); code != 500 || !strings.Contains(body, "not saved") || !strings.Contains(body, "disk says no") {
		t.Fatalf("ack with a failing save: %d %s, want 500 naming the failure", code, body)
	}
	if _, err := db.Conn.Exec(`DROP TRIGGER refuse_insert; DROP TRIGGER refuse_update`); err != nil {
		t.Fatal(err)
	}
	if code, body := ack(id); code != 200 || !strings.Contains(body, `"acknowledged":true`) {
		t.Fatalf("ack once saving works: %d %s, want 200", code, body)
	}
	var body string
	if err := db.Conn.QueryRow(`SELECT body FROM alert_state`).Scan(&body); err != nil || !strings.Contains(body, `"acknowledged":true`) || !strings.Contains(body, `"ack_comment":"on it"`) {
		t.Fatalf("alert_state after the ack: %q (%v)", body, err)
	}
}

// TestSilenceSaveStatus: a dashboard silence the database refuses (a real
// SQLite trigger) is answered 500 naming the failure, not 400 as if the
// request were wrong, and none is kept; 200 once the save works.
func TestSilenceSaveStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	db, err := notify.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	owner := state.Labels{{Key: "owner", Value: "olga"}}
	eng, err := alert.New(alert.Options{Config: config.DefaultAlerts(), DB: db, Log: slog.New(slog.DiscardHandler),
		Hosts: func(h string) (alert.HostInfo, bool) { return alert.HostInfo{Labels: owner}, h == "a" }})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := state.New([]state.HostSpec{{Name: "a", Labels: owner, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:1", Table: tbl, Alerts: eng, Log: slog.New(slog.DiscardHandler),
		Users: []config.User{{Name: "root", Admin: true, Tokens: []string{TokenHash("root-token")}}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := map[string]string{"Authorization": "Bearer root-token"}
	silence := func() (int, string) {
		r := do(s, "POST", "/ui/api/silences", `{"host":"a","duration":"1h"}`, tok)
		return r.StatusCode(), string(r.Body())
	}
	if _, err := db.Conn.Exec(`CREATE TRIGGER refuse_silence BEFORE INSERT ON alert_silences BEGIN SELECT RAISE(ABORT, 'disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	if code, body := silence(); code != 500 || !strings.Contains(body, "disk says no") {
		t.Fatalf("silence with a failing save: %d %s, want 500 naming the failure", code, body)
	}
	if n := len(eng.Silences(time.Now(), true)); n != 0 {
		t.Fatalf("%d silences kept after the failed save", n)
	}
	if _, err := db.Conn.Exec(`DROP TRIGGER refuse_silence`); err != nil {
		t.Fatal(err)
	}
	if code, body := silence(); code != 200 || !strings.Contains(body, `"matchers":"host=a"`) {
		t.Fatalf("silence once saving works: %d %s, want 200", code, body)
	}
}

// TestSilenceHostNotRegex: the dashboard's silence form builds
// "host=NAME": a host (or check) name starting with "~" would make that a
// regex (host=~.* mutes every host), so it is refused and no silence
// reaches beyond the named host.
func TestSilenceHostNotRegex(t *testing.T) {
	eng, err := alert.New(alert.Options{Config: config.DefaultAlerts(), Log: slog.New(slog.DiscardHandler),
		Hosts: func(h string) (alert.HostInfo, bool) { return alert.HostInfo{}, h == "~.*" || h == "b" }})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := state.New([]state.HostSpec{
		{Name: "~.*", Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}},
		{Name: "b", Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: config.DefaultWeb(), Listen: "127.0.0.1:1", Table: tbl, Alerts: eng, Log: slog.New(slog.DiscardHandler),
		Users: []config.User{{Name: "root", Admin: true, Tokens: []string{TokenHash("root-token")}}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := map[string]string{"Authorization": "Bearer root-token"}
	for _, body := range []string{`{"host":"~.*","duration":"1h"}`, `{"host":"b","check":"~.*","duration":"1h"}`} {
		r := do(s, "POST", "/ui/api/silences", body, tok)
		if r.StatusCode() != 400 {
			t.Errorf("silence %s: %d %s, want 400", body, r.StatusCode(), r.Body())
		}
	}
	for _, si := range eng.Silences(time.Now(), true) {
		t.Errorf("silence %q kept (host=~.* mutes every host)", si.Matchers)
	}
}
