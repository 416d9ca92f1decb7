// SPDX-License-Identifier: MIT

package alert

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

// sink collects queued messages (the outbox's place).
type sink struct {
	mu   sync.Mutex
	msgs []notify.Queued
}

func (s *sink) EnqueueAll(q []notify.Queued) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, q...)
	return nil
}

func (s *sink) take() []notify.Queued {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs
	s.msgs = nil
	return m
}

// fixture is an engine with a fake clock, hosts with labels, and two
// channels: "ops" (every level) and "pager" (critical only).
type fixture struct {
	t     *testing.T
	e     *Engine
	out   *sink
	now   time.Time
	hosts map[string]state.Labels
}

func newFixture(t *testing.T, mod func(*config.Alerts), dbPath string) *fixture {
	t.Helper()
	var db *notify.DB
	if dbPath != "" {
		var err error
		if db, err = notify.OpenDB(dbPath); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
	}
	return newFixtureDB(t, mod, db)
}

// newFixtureDB is newFixture with the engine's database (nil: none).
func newFixtureDB(t *testing.T, mod func(*config.Alerts), db *notify.DB) *fixture {
	t.Helper()
	cfg := config.DefaultAlerts()
	cfg.GroupWait = config.Duration(2 * time.Second)
	cfg.Channels = []config.AlertChannel{{Name: "ops", URL: "http://127.0.0.1:1/"}, {Name: "pager", URL: "http://127.0.0.1:1/", MinLevel: "critical"}}
	cfg.DefaultChannels = []string{"ops", "pager"}
	cfg.Rules = []config.AlertRule{
		{Name: "host_down", Kind: "icmp", State: "down", Severity: "critical"},
		{Name: "agent_missing", State: "missing", Severity: "critical"},
		{Metric: "cpu_busy_ratio", Op: ">", Warning: f(0.7), Critical: f(0.9), Hysteresis: 0.1},
	}
	if mod != nil {
		mod(&cfg)
	}
	fx := &fixture{t: t, out: &sink{}, now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), hosts: map[string]state.Labels{}}
	chans := map[string]*notify.Spec{}
	for _, c := range cfg.Channels {
		ml := c.MinLevel
		if ml == "" {
			ml = "warning"
		}
		chans[c.Name] = &notify.Spec{Name: c.Name, MinLevel: ml}
	}
	o := Options{Config: cfg, Channels: chans, Out: fx.out, Hosts: func(h string) (HostInfo, bool) {
		l, ok := fx.hosts[h]
		return HostInfo{Labels: l}, ok
	}}
	if db != nil {
		o.DB = db
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	fx.e = e
	return fx
}

func (fx *fixture) host(name string, labels ...string) {
	m := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	fx.hosts[name] = state.LabelsFromMap(m)
	if fx.hosts[name] == nil {
		fx.hosts[name] = state.Labels{}
	}
}

// check reports a check's state (a StateChange when it changed, plus the
// Result), the host's derived state following the reachability checks.
func (fx *fixture) check(host, check string, kind obs.Kind, st state.State) {
	o := &obs.Observation{At: fx.now, Outcome: obs.OK, RTT: time.Millisecond}
	if st == state.Down {
		o.Outcome = obs.Timeout
	}
	hs := st
	if !reachability(kind) {
		hs = state.Unknown
	}
	fx.e.Handle(&event.Event{Type: event.StateChange, At: fx.now, Host: host, Check: check, Kind: kind, New: st, HostNew: hs, Obs: o, Snap: &state.Snapshot{State: st}})
}

func (fx *fixture) cpu(host string, ratio float64) {
	h := &wire.Health{CPUBusy: uint16(ratio * 1000), CollectedAt: fx.now.UnixNano(), MemTotal: 100, MemAvailable: 50}
	fx.e.Handle(&event.Event{Type: event.Result, At: fx.now, Host: host, Check: "icmp", Kind: obs.KindICMP,
		Obs: &obs.Observation{At: fx.now, Outcome: obs.OK, RTT: time.Millisecond, Health: *h, HasHealth: true}, Snap: &state.Snapshot{State: state.Up}})
}

// advance moves the clock and ticks every second.
func (fx *fixture) advance(d time.Duration) {
	end := fx.now.Add(d)
	for fx.now.Before(end) {
		fx.now = fx.now.Add(time.Second)
		fx.e.Tick(fx.now)
	}
}

// sent returns channel -> texts of the messages queued since the last call.
func (fx *fixture) sent() map[string][]string {
	out := map[string][]string{}
	for _, q := range fx.out.take() {
		out[q.Channel] = append(out[q.Channel], q.Msg.Text)
	}
	return out
}

func (fx *fixture) expect(what string, want map[string]int, contains string) map[string][]string {
	fx.t.Helper()
	got := fx.sent()
	for ch, n := range want {
		if len(got[ch]) != n {
			fx.t.Errorf("%s: channel %s got %d messages, want %d: %q", what, ch, len(got[ch]), n, got)
		}
		for _, txt := range got[ch] {
			if contains != "" && !strings.Contains(txt, contains) {
				fx.t.Errorf("%s: %s message %q lacks %q", what, ch, txt, contains)
			}
		}
	}
	for ch := range got {
		if _, ok := want[ch]; !ok {
			fx.t.Errorf("%s: unexpected messages on %s: %q", what, ch, got[ch])
		}
	}
	return got
}

// TestLifecycle: OK->WARNING notifies; WARNING->CRITICAL notifies;
// CRITICAL->WARNING (de-escalation) says nothing; recovery goes only to
// the channels that got the alert; re-notify every interval until acked.
func TestLifecycle(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("web1")
	fx.cpu("web1", 0.5)
	fx.advance(5 * time.Second)
	fx.expect("quiet", map[string]int{}, "")

	fx.cpu("web1", 0.8)
	fx.advance(time.Second)
	fx.expect("within group_wait", map[string]int{}, "")
	fx.advance(2 * time.Second)
	fx.expect("warning", map[string]int{"ops": 1}, "WARNING") // pager is critical-only

	fx.cpu("web1", 0.95)
	fx.advance(3 * time.Second)
	fx.expect("critical", map[string]int{"ops": 1, "pager": 1}, "CRITICAL")

	fx.cpu("web1", 0.85) // inside the hysteresis band: still critical
	fx.cpu("web1", 0.75) // de-escalation to warning
	fx.advance(3 * time.Second)
	fx.expect("de-escalation", map[string]int{}, "")
	if l := fx.e.List(Filter{Host: "web1"}); len(l) != 1 || l[0].Level != Warning {
		t.Fatalf("alerts %+v", l)
	}

	// Re-notify at the interval (default 1h) while firing.
	fx.advance(time.Hour)
	fx.expect("renotify", map[string]int{"ops": 1}, "WARNING")
	id := fx.e.List(Filter{Host: "web1"})[0].ID
	if _, err := fx.e.Ack(id, "alice", "on it", fx.now); err != nil {
		t.Fatal(err)
	}
	fx.advance(2 * time.Hour)
	fx.expect("acked", map[string]int{}, "")

	fx.cpu("web1", 0.1)
	fx.advance(3 * time.Second)
	fx.expect("recovery to both channels that got it", map[string]int{"ops": 1, "pager": 1}, "RESOLVED")
	if l := fx.e.List(Filter{Host: "web1"}); len(l) != 0 {
		t.Errorf("recovered alert still listed: %+v", l)
	}
}

// TestRecoveryOnlyToNotifiedChannels: a warning that never reached pager
// recovers on ops only.
func TestRecoveryOnlyToNotifiedChannels(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("web1")
	fx.cpu("web1", 0.8)
	fx.advance(3 * time.Second)
	fx.expect("warning", map[string]int{"ops": 1}, "")
	fx.cpu("web1", 0.2)
	fx.advance(3 * time.Second)
	fx.expect("recovery", map[string]int{"ops": 1}, "RESOLVED")
}

// TestParentHoldsChildren: the parent and its children go down together;
// one message names the parent and the number of children it hides;
// children stay held (and listed as such), and recover quietly.
func TestParentHoldsChildren(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("gw")
	for i := range 5 {
		fx.host(fmt.Sprintf("c%d", i), "parent=gw")
	}
	for i := range 5 {
		fx.check(fmt.Sprintf("c%d", i), "icmp", obs.KindICMP, state.Down)
	}
	fx.check("gw", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	got := fx.expect("parent down", map[string]int{"ops": 1, "pager": 1}, "gw")
	if !strings.Contains(got["ops"][0], "5 children held behind it") {
		t.Errorf("message %q does not count the children", got["ops"][0])
	}
	held := 0
	for _, a := range fx.e.List(Filter{}) {
		if a.Held == "unreachable behind gw" {
			held++
		}
	}
	if held != 5 {
		t.Errorf("%d children held, want 5", held)
	}
	// Parent back, children still down: now they are news.
	fx.check("gw", "icmp", obs.KindICMP, state.Up)
	fx.advance(3 * time.Second)
	got = fx.expect("parent up", map[string]int{"ops": 1, "pager": 1}, "")
	if !strings.Contains(got["ops"][0], "5 firing") || !strings.Contains(got["ops"][0], "1 resolved") {
		t.Errorf("after the parent recovered: %q", got["ops"][0])
	}
}

// TestHeartbeatVersusPing: a missing heartbeat on a host that answers
// pings is "agent down on a reachable host"; when the host is down too,
// only the host alert goes out.
func TestHeartbeatVersusPing(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("db1")
	fx.check("db1", "icmp", obs.KindICMP, state.Up)
	fx.check("db1", "heartbeat", obs.KindHeartbeat, state.Down)
	fx.advance(3 * time.Second)
	fx.expect("agent down", map[string]int{"ops": 1, "pager": 1}, "agent down on a reachable host")
	fx.check("db1", "heartbeat", obs.KindHeartbeat, state.Up)
	fx.advance(3 * time.Second)
	fx.sent()

	fx.check("db1", "heartbeat", obs.KindHeartbeat, state.Down)
	fx.check("db1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	got := fx.expect("host down", map[string]int{"ops": 1, "pager": 1}, "icmp is down")
	if strings.Contains(got["ops"][0], "heartbeat") {
		t.Errorf("heartbeat alert sent although the host is down: %q", got["ops"][0])
	}
}

// TestGrouping: a mass outage becomes one message per channel with counts
// and the first names.
func TestGrouping(t *testing.T) {
	fx := newFixture(t, nil, "")
	const n = 4096
	for i := range n {
		h := fmt.Sprintf("h%04d", i)
		fx.host(h)
		fx.check(h, "icmp", obs.KindICMP, state.Down)
	}
	fx.advance(3 * time.Second)
	msgs := fx.out.take()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want one per channel", len(msgs))
	}
	m := msgs[0].Msg
	if m.Counts.Firing != n || m.Counts.Critical != n || len(m.Alerts) != n {
		t.Errorf("counts %+v, %d items", m.Counts, len(m.Alerts))
	}
	if !strings.Contains(m.Title, "4096 firing") || !strings.Contains(m.Title, "h0000, h0001") || !strings.Contains(m.Title, "and 4086 more") {
		t.Errorf("title %q", m.Title)
	}
}

// TestSilenceAndMaintenance: a silence mutes (the alert is still
// recorded); expiry lets it through; a maintenance window does the same
// on its schedule.
func TestSilenceAndMaintenance(t *testing.T) {
	fx := newFixture(t, func(c *config.Alerts) {
		c.Maintenance = []config.AlertMaintenance{{Name: "backups", Match: "role=backup", Schedule: "0 10 * * *", Duration: config.Duration(30 * time.Minute)}}
	}, "")
	fx.host("web1")
	fx.host("bk1", "role=backup")
	if _, err := fx.e.AddSilence(Silence{Matchers: "host=web1", Author: "alice", Comment: "reboot", EndsAt: fx.now.Add(10 * time.Minute)}, fx.now); err != nil {
		t.Fatal(err)
	}
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.check("bk1", "icmp", obs.KindICMP, state.Down) // 10:00: inside the window
	fx.advance(3 * time.Second)
	fx.expect("muted", map[string]int{}, "")
	s := fx.e.Summary()
	if s.Critical != 2 || s.Muted != 2 {
		t.Errorf("summary %+v", s)
	}
	fx.advance(10 * time.Minute)
	fx.expect("silence expired", map[string]int{"ops": 1, "pager": 1}, "web1")
	fx.advance(20 * time.Minute)
	fx.expect("window over", map[string]int{"ops": 1, "pager": 1}, "bk1")
	if _, err := fx.e.AddSilence(Silence{Matchers: ""}, fx.now); err == nil {
		t.Error("a silence without matchers was accepted")
	}
}

// TestFlapping: more than flap_changes changes in the window give one
// "flapping" message, then quiet; holding still ends it.
func TestFlapping(t *testing.T) {
	fx := newFixture(t, func(c *config.Alerts) { c.FlapChanges = 4; c.GroupWait = 0 }, "")
	fx.host("w")
	var texts []string
	for i := range 10 {
		st := state.Down
		if i%2 == 1 {
			st = state.Up
		}
		fx.check("w", "icmp", obs.KindICMP, st)
		fx.advance(time.Second)
		texts = append(texts, fx.sent()["ops"]...)
	}
	// Changes 1-4 notify (firing, resolved, firing, resolved); the 5th
	// flags flapping once; changes 6-10 are quiet.
	if len(texts) != 5 || !strings.Contains(texts[4], "FLAPPING") || !strings.Contains(texts[4], "is flapping") {
		t.Fatalf("messages while flapping: %q", texts)
	}
	a := fx.e.List(Filter{All: true})
	if len(a) != 1 || !a[0].Flapping {
		t.Fatalf("not flapping: %+v", a)
	}
	// Quiet for a window: flapping ends and the current state (up) is said.
	fx.advance(11 * time.Minute)
	fx.expect("after flapping", map[string]int{"ops": 1, "pager": 1}, "RESOLVED")
	if a := fx.e.List(Filter{All: true}); len(a) == 1 && a[0].Flapping {
		t.Error("still flapping after a quiet window")
	}
}

// TestRoutingUsers: owner, managers and monitors labels route to the
// users' channels; label routes add more; default_owner covers the rest.
func TestRoutingUsers(t *testing.T) {
	fx := newFixture(t, func(c *config.Alerts) {
		c.Channels = append(c.Channels, config.AlertChannel{Name: "alice-mail", URL: "smtp://x"}, config.AlertChannel{Name: "bob-sms", URL: "http://x"}, config.AlertChannel{Name: "dba", URL: "http://x"})
		c.Routes = []config.AlertRoute{{Match: "role=db", Channels: []string{"dba"}}}
		c.DefaultOwner = "bob"
	}, "")
	fx.e.users = map[string][]string{"alice": {"alice-mail"}, "bob": {"bob-sms"}}
	fx.host("db1", "owner=alice", "managers=bob", "role=db")
	fx.host("x1")
	fx.check("db1", "icmp", obs.KindICMP, state.Down)
	fx.check("x1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	got := fx.sent()
	if len(got["alice-mail"]) != 1 || len(got["bob-sms"]) != 1 || len(got["dba"]) != 1 || len(got["ops"]) != 0 {
		t.Errorf("routing %q", got)
	}
	if !strings.Contains(got["bob-sms"][0], "db1") || !strings.Contains(got["bob-sms"][0], "x1") {
		t.Errorf("bob (manager of db1, default owner of x1) got %q", got["bob-sms"])
	}
}

// TestPersistence: alert state survives a restart: a firing alert is not
// notified again, its recovery still goes to the channels that got it,
// and silences come back. In both modes: the engine's own writer, and
// the history store's writer (the daemon's).
func TestPersistence(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hb.db")
			d := openDB(t, path, mode)
			fx := newFixtureDB(t, nil, d.db)
			fx.host("web1")
			fx.host("web2")
			fx.check("web1", "icmp", obs.KindICMP, state.Down)
			if _, err := fx.e.AddSilence(Silence{Matchers: "host=web2", EndsAt: fx.now.Add(time.Hour)}, fx.now); err != nil {
				t.Fatal(err)
			}
			fx.advance(3 * time.Second)
			fx.expect("down", map[string]int{"ops": 1, "pager": 1}, "")
			id := fx.e.List(Filter{})[0].ID
			if _, err := fx.e.Ack(id, "bob", "", fx.now); err != nil {
				t.Fatal(err)
			}
			fx.e.Tick(fx.now)
			d.close() // the store commits what was queued

			fx2 := newFixtureDB(t, nil, openDB(t, path, mode).db)
			fx2.hosts, fx2.now = fx.hosts, fx.now
			l := fx2.e.List(Filter{})
			if len(l) != 1 || l[0].ID != id || l[0].Level != Critical || !l[0].Acked || len(l[0].Channels) != 2 {
				t.Fatalf("restored %+v", l)
			}
			if s := fx2.e.Silences(fx2.now, false); len(s) != 1 || s[0].Matchers != "host=web2" {
				t.Errorf("silences %+v", s)
			}
			fx2.check("web1", "icmp", obs.KindICMP, state.Down)
			fx2.advance(2 * time.Hour)
			fx2.expect("still down after restart", map[string]int{}, "")
			fx2.check("web1", "icmp", obs.KindICMP, state.Up)
			fx2.advance(3 * time.Second)
			fx2.expect("recovery after restart", map[string]int{"ops": 1, "pager": 1}, "RESOLVED")
		})
	}
}

// TestReloadKeepsState: a reload with changed thresholds keeps the alert;
// removing its rule closes it.
func TestReloadKeepsState(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("web1")
	fx.cpu("web1", 0.95)
	fx.advance(3 * time.Second)
	fx.sent()
	cfg := fx.e.cfg
	cfg.Rules = append([]config.AlertRule(nil), cfg.Rules...)
	cfg.Rules[2].Critical = f(0.96)
	if err := fx.e.Reload(cfg, nil, fx.e.chans); err != nil {
		t.Fatal(err)
	}
	fx.advance(2 * time.Hour)
	if l := fx.e.List(Filter{}); len(l) != 1 || l[0].Level != Critical {
		t.Fatalf("after reload %+v", l)
	}
	fx.sent()
	cfg.Rules = cfg.Rules[:2]
	if err := fx.e.Reload(cfg, nil, fx.e.chans); err != nil {
		t.Fatal(err)
	}
	fx.advance(3 * time.Second)
	fx.expect("rule removed", map[string]int{"ops": 1, "pager": 1}, "RESOLVED")
	bad := cfg
	bad.Rules = []config.AlertRule{{Metric: "x", Op: "~"}}
	if err := fx.e.Reload(bad, nil, fx.e.chans); err == nil {
		t.Error("bad reload accepted")
	}
}

// TestUnannouncedSurvivesRestart: an alert that changed level but was not
// yet flushed when the daemon stopped is announced after the restart (both
// modes).
func TestUnannouncedSurvivesRestart(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hb.db")
			d := openDB(t, path, mode)
			fx := newFixtureDB(t, nil, d.db)
			fx.host("web1")
			fx.check("web1", "icmp", obs.KindICMP, state.Down)
			fx.e.Tick(fx.now) // saved, but within group_wait: nothing sent
			fx.expect("before the flush", map[string]int{}, "")
			d.close()

			fx2 := newFixtureDB(t, nil, openDB(t, path, mode).db)
			fx2.hosts, fx2.now = fx.hosts, fx.now
			fx2.advance(3 * time.Second)
			fx2.expect("after the restart", map[string]int{"ops": 1, "pager": 1}, "web1 icmp is down")
		})
	}
}

// TestPushedMetrics: generic matching on heartbeat metric names, nagios
// exit codes, the derived certificate expiry, {check_name} in the text.
func TestPushedMetrics(t *testing.T) {
	fx := newFixture(t, func(c *config.Alerts) {
		c.Rules = []config.AlertRule{
			{Metric: "used_ratio", Op: ">", Critical: f(0.9), Display: "{host} {check_name} at {value}"},
			{Metric: "status", Op: "nagios", Kind: "heartbeat", Display: "{host} {check_name}: exit {value}"},
			{Metric: FieldCertExpiresIn, Op: "<", Warning: f(14 * 86400)},
		}
	}, "")
	fx.host("db1")
	fx.e.Handle(&event.Event{Type: event.Result, At: fx.now, Host: "db1", Check: "heartbeat", Kind: obs.KindHeartbeat,
		Obs: &obs.Observation{At: fx.now, Outcome: obs.OK, Metrics: []obs.Metric{
			{Name: "disk_srv_data_used_ratio", Value: 0.95}, {Name: "disk_home_used_ratio", Value: 0.5},
			{Name: "nagios_check_mysql_status", Value: 2}, {Name: "nagios_check_ntp_status", Value: 0},
		}}, Snap: &state.Snapshot{State: state.Up}})
	fx.e.Handle(&event.Event{Type: event.Result, At: fx.now, Host: "db1", Check: "https", Kind: obs.KindHTTP,
		Obs: &obs.Observation{At: fx.now, Outcome: obs.OK, Metrics: []obs.Metric{
			{Name: FieldCertExpiry, Value: float64(fx.now.Add(3 * 24 * time.Hour).Unix())},
		}}, Snap: &state.Snapshot{State: state.Up}})
	fx.advance(3 * time.Second)
	got := fx.sent()["ops"]
	if len(got) != 1 {
		t.Fatalf("messages %q", got)
	}
	for _, want := range []string{"db1 disk_srv_data at 0.95", "db1 nagios_check_mysql: exit 2", "3 firing"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("message lacks %q:\n%s", want, got[0])
		}
	}
	l := fx.e.List(Filter{Host: "db1"})
	if len(l) != 3 {
		t.Fatalf("alerts %+v", l)
	}
	for _, a := range l {
		if a.Metric == FieldCertExpiresIn && (a.Level != Warning || a.Value != 3*86400) {
			t.Errorf("cert alert %+v", a)
		}
	}
}

// tableFixture is a fixture whose hosts live in a real state table, as in
// the daemon: HostInfo.Host is set, so the engine reads host and check
// states from the table and keeps none of its own.
func tableFixture(t *testing.T, hosts []state.HostSpec) (*fixture, *state.Table) {
	t.Helper()
	fx := newFixture(t, nil, "")
	tab, err := state.New(hosts, &state.Config{FailuresToDown: 1})
	if err != nil {
		t.Fatal(err)
	}
	fx.e.hosts = func(name string) (HostInfo, bool) {
		h := tab.View().Lookup(name)
		if h == nil {
			return HostInfo{}, false
		}
		return HostInfo{Labels: h.Spec().Labels, Parent: h.Spec().Parent, Host: h}, true
	}
	return fx, tab
}

// applyCheck applies one result to the table's check and hands the engine
// the events the daemon's writer would publish for it.
func applyCheck(t *testing.T, fx *fixture, tab *state.Table, host, check string, up bool) {
	t.Helper()
	c := tab.View().LookupCheck(host, check)
	o := obs.Observation{At: fx.now, Outcome: obs.OK, RTT: time.Millisecond}
	if !up {
		o.Outcome = obs.Timeout
	}
	ch, err := tab.Apply(c.ID, o)
	if err != nil {
		t.Fatal(err)
	}
	snap := c.Snapshot()
	ev := event.Event{Type: event.Result, At: fx.now, Host: host, Check: check, Kind: c.Spec().Kind, Obs: &o, Snap: &snap,
		HostNew: ch.HostNew}
	fx.e.Handle(&ev)
	if ch.Changed {
		ev.Type, ev.Old, ev.New, ev.HostOld = event.StateChange, ch.Old, ch.New, ch.HostOld
		fx.e.Handle(&ev)
	}
}

// TestStatesFromTable: with the daemon's table behind HostInfo.Host, a
// parent that is down holds its children's alerts, a missing heartbeat
// on a host that answers pings is "agent down on a reachable host", and
// the engine caches no per-check or per-host state.
func TestStatesFromTable(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	icmp := func(addr string) obs.CheckSpec {
		return obs.CheckSpec{Name: "icmp", Kind: obs.KindICMP, Addr: a(addr), Target: addr}
	}
	hosts := []state.HostSpec{{Name: "gw", Addr: a("198.18.0.1"), Checks: []obs.CheckSpec{icmp("198.18.0.1")}},
		{Name: "db1", Addr: a("198.18.0.9"), Checks: []obs.CheckSpec{icmp("198.18.0.9"), {Name: "heartbeat", Kind: obs.KindHeartbeat, Target: "heartbeat://db1"}}}}
	for i := range 3 {
		ip := fmt.Sprintf("198.18.0.%d", 2+i)
		hosts = append(hosts, state.HostSpec{Name: fmt.Sprintf("c%d", i), Addr: a(ip), Parent: "gw", Checks: []obs.CheckSpec{icmp(ip)}})
	}
	fx, tab := tableFixture(t, hosts)
	for i := range 3 {
		applyCheck(t, fx, tab, fmt.Sprintf("c%d", i), "icmp", false)
	}
	applyCheck(t, fx, tab, "gw", "icmp", false)
	fx.advance(3 * time.Second)
	got := fx.expect("parent down", map[string]int{"ops": 1, "pager": 1}, "gw")
	if !strings.Contains(got["ops"][0], "3 children held behind it") {
		t.Errorf("message %q does not count the children", got["ops"][0])
	}

	applyCheck(t, fx, tab, "db1", "icmp", true)
	applyCheck(t, fx, tab, "db1", "heartbeat", false)
	fx.advance(3 * time.Second)
	fx.expect("agent down", map[string]int{"ops": 1, "pager": 1}, "agent down on a reachable host")

	if len(fx.e.checks) != 0 || len(fx.e.hostSt) != 0 {
		t.Errorf("engine cached %d hosts' checks and %d host states beside the table", len(fx.e.checks), len(fx.e.hostSt))
	}
}
