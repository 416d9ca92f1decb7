// SPDX-License-Identifier: MIT

package alert

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// listed is the alert of host in List at the fixture's time.
func (fx *fixture) listed(host string) Alert {
	fx.t.Helper()
	for _, a := range fx.e.List(Filter{Host: host, Now: fx.now}) {
		return a
	}
	fx.t.Fatalf("no alert for %s", host)
	return Alert{}
}

// silencedHosts is host -> the id of the silence List says covers its
// alert (0: a configured window), for the alerts that are covered.
func (fx *fixture) silencedHosts() map[string]int64 {
	out := map[string]int64{}
	for _, a := range fx.e.List(Filter{Now: fx.now}) {
		if a.Silenced != nil {
			out[a.Host] = a.Silenced.ID
		}
	}
	return out
}

func sameIDs(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCovering: an alert says which active silence or maintenance window
// covers it now — id, end, author, comment — through Covering and List
// (the one matcher the engine mutes with: what it names in Muted is what
// List shows); a silence pinned to a parent covers the parent only (its
// children are held behind it, and a parent= matcher covers them); the
// longest-lasting of two covering silences is shown; expiry and lifting
// end it; a recurring window shows the end of its current window.
func TestCovering(t *testing.T) {
	fx := newFixture(t, func(c *config.Alerts) {
		c.Maintenance = []config.AlertMaintenance{{Name: "backups", Match: "role=backup", Schedule: "0 10 * * *",
			Duration: config.Duration(30 * time.Minute), Comment: "nightly dump"}}
	}, "")
	fx.host("gw")
	fx.host("c1", "parent=gw")
	fx.host("c2", "parent=gw")
	fx.host("web1", "role=web")
	fx.host("web2", "role=web")
	fx.host("bk1", "role=backup")
	t0 := fx.now
	for _, h := range []string{"gw", "c1", "c2", "web1"} {
		fx.check(h, "icmp", obs.KindICMP, state.Down)
	}
	fx.advance(3 * time.Second)
	fx.sent()
	if got := fx.silencedHosts(); len(got) != 0 {
		t.Fatalf("no silence yet, covered: %v", got)
	}

	// A silence of web1, made after its alert went out (the gap this
	// closes: nothing marked it until a notification was held back).
	s1, err := fx.e.AddSilence(Silence{Matchers: "host=web1", Author: "alice", Comment: "kernel update", EndsAt: t0.Add(30 * time.Minute)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	a := fx.listed("web1")
	want := Silenced{ID: s1.ID, Until: t0.Add(30 * time.Minute), By: "alice", Comment: "kernel update", Matchers: "host=web1"}
	if a.Silenced == nil || *a.Silenced != want {
		t.Fatalf("web1 listed with silenced %+v, want %+v", a.Silenced, want)
	}
	if c := fx.e.Covering(&a, fx.now); c == nil || *c != want {
		t.Fatalf("Covering(web1) = %+v, want %+v", c, want)
	}
	if a.Muted != "" {
		t.Errorf("web1 muted %q: its notification went out before the silence", a.Muted)
	}
	if c := fx.e.Covering(&Alert{Host: "web2", Check: "icmp", Kind: obs.KindICMP, Rule: "host_down"}, fx.now); c != nil {
		t.Errorf("web2 covered by %+v", c)
	}
	// The same silence, covering web2 when it fires: what the engine
	// names in Muted is what List shows.
	s2, err := fx.e.AddSilence(Silence{Matchers: "host=web2", Author: "bob", EndsAt: t0.Add(time.Hour)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	fx.check("web2", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	fx.expect("web2 silenced", map[string]int{}, "")
	if a := fx.listed("web2"); a.Silenced == nil || a.Muted != a.Silenced.Name() || a.Muted != "silence 2" {
		t.Errorf("web2: muted %q, silenced %+v", a.Muted, a.Silenced)
	}

	// A second, longer silence of web1's check: the longer one is shown.
	s3, err := fx.e.AddSilence(Silence{Matchers: "host=web1,check=icmp", Author: "carol", Comment: "longer", EndsAt: t0.Add(90 * time.Minute)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	if a := fx.listed("web1"); a.Silenced == nil || a.Silenced.ID != s3.ID || !a.Silenced.Until.Equal(t0.Add(90*time.Minute)) {
		t.Errorf("web1 with two silences: %+v, want silence %d until +90m", a.Silenced, s3.ID)
	}

	// The parent: host=gw covers gw only; its children are held, not
	// silenced; parent=gw covers the children.
	sgw, err := fx.e.AddSilence(Silence{Matchers: "host=gw", Author: "dave", EndsAt: t0.Add(time.Hour)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	got := fx.silencedHosts()
	if w := map[string]int64{"web1": s3.ID, "web2": s2.ID, "gw": sgw.ID}; !sameIDs(got, w) {
		t.Errorf("covered %v, want %v", got, w)
	}
	if a := fx.listed("c1"); a.Held != "unreachable behind gw" || a.Silenced != nil {
		t.Errorf("c1 behind a silenced, down parent: held %q silenced %+v", a.Held, a.Silenced)
	}
	skids, err := fx.e.AddSilence(Silence{Matchers: "parent=gw", Author: "dave", Comment: "rack move", EndsAt: t0.Add(45 * time.Minute)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	got = fx.silencedHosts()
	if w := map[string]int64{"web1": s3.ID, "web2": s2.ID, "gw": sgw.ID, "c1": skids.ID, "c2": skids.ID}; !sameIDs(got, w) {
		t.Errorf("with parent=gw: covered %v, want %v", got, w)
	}

	// Filters and counts.
	yes, no := true, false
	if n := len(fx.e.List(Filter{Silenced: &yes, Now: fx.now})); n != 5 {
		t.Errorf("silenced=true lists %d, want 5", n)
	}
	if l := fx.e.List(Filter{Silenced: &no, Now: fx.now}); len(l) != 0 {
		t.Errorf("silenced=false lists %+v", l)
	}
	if s := fx.e.SummaryAt(fx.now); s.Silenced != 5 || s.Critical != 5 || s.Total != 5 {
		t.Errorf("summary %+v, want 5 critical, 5 silenced (counted in the levels too)", s)
	}
	var table bytes.Buffer
	FormatTable(&table, fx.e.List(Filter{Host: "c1", Now: fx.now}), fx.now)
	if !strings.Contains(table.String(), "silenced until 10:45 (silence 5 by dave: rack move)") {
		t.Errorf("table:\n%s", table.String())
	}

	// Lifting the children's silence: they are held again, not silenced.
	if err := fx.e.DeleteSilence(skids.ID); err != nil {
		t.Fatal(err)
	}
	if a := fx.listed("c2"); a.Silenced != nil {
		t.Errorf("c2 after the lift: %+v", a.Silenced)
	}

	// Expiry: at +30m web1's first silence is over (the longer one still
	// covers); at +90m nothing covers web1, the ones ending at +1h are
	// over too.
	fx.advance(30*time.Minute - 6*time.Second)
	if a := fx.listed("web1"); a.Silenced == nil || a.Silenced.ID != s3.ID {
		t.Errorf("web1 at +30m: %+v", a.Silenced)
	}
	fx.advance(time.Hour)
	if got := fx.silencedHosts(); len(got) != 0 {
		t.Errorf("at +90m, covered: %v", got)
	}

	// A configured window (10:00–10:30 daily) and a recurring API
	// silence (11:30 daily for an hour, no end): each shows the end of
	// its current window.
	fx.now = time.Date(2026, 12, 3, 10, 5, 0, 0, time.UTC)
	fx.check("bk1", "icmp", obs.KindICMP, state.Down)
	c := fx.e.Covering(&Alert{Host: "bk1", Check: "icmp", Kind: obs.KindICMP, Rule: "host_down"}, fx.now)
	if w := (Silenced{Maintenance: "backups", Until: time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC), Comment: "nightly dump", Matchers: "role=backup", Recurring: true}); c == nil || *c != w {
		t.Errorf("bk1 in its window: %+v, want %+v", c, w)
	} else if c.Name() != "maintenance backups" {
		t.Errorf("name %q", c.Name())
	}
	sw, err := fx.e.AddSilence(Silence{Matchers: "role=web", Author: "ops", Schedule: "30 11 * * *", Duration: time.Hour}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	web := &Alert{Host: "web1", Check: "icmp", Kind: obs.KindICMP, Rule: "host_down"}
	if c := fx.e.Covering(web, fx.now); c != nil {
		t.Errorf("web1 outside the weekly window: %+v", c)
	}
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if c := fx.e.Covering(web, at); c == nil || c.ID != sw.ID || !c.Recurring || !c.Until.Equal(time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC)) {
		t.Errorf("web1 in the window: %+v", c)
	}
}

// TestMutedFollowsCover: when the silence that muted an alert ends and
// another still covers it, Muted names the other (not the ended one), and
// nothing is sent; when none covers it, it is sent.
func TestMutedFollowsCover(t *testing.T) {
	fx := newFixture(t, nil, "")
	fx.host("web1")
	s1, err := fx.e.AddSilence(Silence{Matchers: "host=web1", Author: "a", EndsAt: fx.now.Add(10 * time.Minute)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	fx.check("web1", "icmp", obs.KindICMP, state.Down)
	fx.advance(3 * time.Second)
	fx.expect("muted", map[string]int{}, "")
	if a := fx.listed("web1"); a.Muted != "silence 1" || a.Silenced == nil || a.Silenced.ID != s1.ID {
		t.Fatalf("muted %q silenced %+v", a.Muted, a.Silenced)
	}
	s2, err := fx.e.AddSilence(Silence{Matchers: "check=icmp", Author: "b", EndsAt: fx.now.Add(20 * time.Minute)}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.e.DeleteSilence(s1.ID); err != nil {
		t.Fatal(err)
	}
	fx.advance(2 * time.Second)
	fx.expect("still silenced by the other", map[string]int{}, "")
	if a := fx.listed("web1"); a.Muted != "silence 2" || a.Silenced == nil || a.Silenced.ID != s2.ID {
		t.Errorf("after lifting the first: muted %q silenced %+v", a.Muted, a.Silenced)
	}
	fx.advance(20 * time.Minute)
	fx.expect("both over", map[string]int{"ops": 1, "pager": 1}, "web1")
	if a := fx.listed("web1"); a.Muted != "" || a.Silenced != nil {
		t.Errorf("after both: muted %q silenced %+v", a.Muted, a.Silenced)
	}
}
