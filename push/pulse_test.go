// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// pulseRegistrar stands in for the core's registrar (see registrar).
type pulseRegistrar struct {
	p     *Pulses
	specs []obs.CheckSpec
}

func (g *pulseRegistrar) Register(ctx context.Context, spec obs.CheckSpec) (obs.Check, uint64, error) {
	g.specs = append(g.specs, spec)
	var cs []obs.Check
	for i, s := range g.specs {
		cs = append(cs, obs.Check{ID: i, Spec: s})
	}
	g.p.SetChecks(uint64(len(g.specs)), cs)
	return cs[len(cs)-1], uint64(len(g.specs)), nil
}

func newTestPulses(t *testing.T, auto bool) (*Pulses, *sinkRec, *clock, *pulseRegistrar) {
	c := config.DefaultPush()
	c.PulseAutoCreate = auto
	c.PulseGrace = config.Duration(30 * time.Second)
	clk := &clock{time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	reg := &pulseRegistrar{}
	p := NewPulses(PulsesConfig{Push: c, Registrar: reg, Now: clk.now})
	reg.p = p
	s := newSink()
	var sk obs.Sink = s
	p.sink.Store(&sk)
	return p, s, clk, reg
}

func TestPulseLifecycle(t *testing.T) {
	ctx := context.Background()
	p, s, clk, reg := newTestPulses(t, false)
	if err := p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalOK}); !errors.Is(err, ErrNoPulse) {
		t.Fatalf("unknown pulse without auto-create: %v", err)
	}
	// Auto-created (watchtower semantics), due within 60 s, grace 30 s.
	if err := p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalOK, NextIn: time.Minute, Create: true}); err != nil {
		t.Fatal(err)
	}
	if len(reg.specs) != 1 || reg.specs[0].Kind != obs.KindPulse || reg.specs[0].Target != "pulse://backup" {
		t.Fatalf("%+v", reg.specs)
	}
	clk.t = clk.t.Add(89 * time.Second)
	p.Overdue(clk.t)
	if o := s.all(); len(o) != 1 || o[0].o.Outcome != obs.OK {
		t.Fatalf("before deadline + grace: %+v", o)
	}
	clk.t = clk.t.Add(time.Second)
	p.Overdue(clk.t)
	if o := s.all(); len(o) != 2 || o[1].o.Outcome != obs.Timeout || !strings.Contains(o[1].o.Problem, "overdue") {
		t.Fatalf("overdue: %+v", o)
	}
	p.Overdue(clk.t.Add(time.Second))
	if len(s.all()) != 2 {
		t.Fatal("reported twice within a period")
	}
	// start ... exit code 3 = failure with the run's duration.
	p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalStart})
	clk.t = clk.t.Add(5 * time.Second)
	p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalFail, ExitCode: 3})
	o := s.all()
	if last := o[len(o)-1].o; last.Outcome != obs.Error || last.Problem != "pulse reported exit code 3" || last.Detail != "pulse after 5s" {
		t.Fatalf("fail: %+v", last)
	}
	// start ... ok: RTT is the run time.
	p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalStart})
	clk.t = clk.t.Add(2 * time.Second)
	p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalOK, NextIn: time.Minute})
	o = s.all()
	if last := o[len(o)-1].o; last.Outcome != obs.OK || last.RTT != 2*time.Second {
		t.Fatalf("ok after start: %+v", last)
	}
	// Cancel: never overdue until the next pulse.
	p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalCancel})
	n := len(s.all())
	p.Overdue(clk.t.Add(time.Hour))
	if len(s.all()) != n {
		t.Fatal("cancelled pulse reported overdue")
	}
	if l := p.List(); len(l) != 1 || l[0].Status != "cancelled" || !l[0].Created {
		t.Fatalf("list %+v", l)
	}
	// Cron schedule: next due at the next 5-minute mark.
	p.Pulse(ctx, PulseRequest{Name: "backup", Signal: SignalOK, Schedule: "*/5 * * * *"})
	if l := p.List(); l[0].Deadline == nil || l[0].Deadline.Minute()%5 != 0 || !l[0].Deadline.After(clk.t) || l[0].Deadline.Sub(clk.t) > 5*time.Minute {
		t.Fatalf("schedule deadline %v (now %v)", l[0].Deadline, clk.t)
	}
	if err := p.Pulse(ctx, PulseRequest{Name: "backup", Schedule: "61 * * * *"}); err == nil {
		t.Fatal("bad schedule accepted")
	}
	if err := p.Pulse(ctx, PulseRequest{Name: "bad name!", Create: true}); err == nil {
		t.Fatal("bad name accepted")
	}
}

func TestConfiguredPulseArmsFromInterval(t *testing.T) {
	p, s, clk, _ := newTestPulses(t, false)
	p.SetChecks(1, []obs.Check{{ID: 4, Spec: obs.CheckSpec{Host: "nightly", Name: "pulse", Kind: obs.KindPulse, Target: "pulse://nightly",
		Interval: time.Hour, Params: map[string]string{"grace": "10m"}}}})
	p.Overdue(clk.t.Add(69 * time.Minute))
	if len(s.all()) != 0 {
		t.Fatal("early")
	}
	p.Overdue(clk.t.Add(70 * time.Minute))
	if o := s.all(); len(o) != 1 || o[0].id != 4 || o[0].o.Outcome != obs.Timeout {
		t.Fatalf("%+v", o)
	}
}

// TestEventLogAndJournal runs the event log in its own file (its own
// writer) and in the history database through the store's writer
// (eventlog_shared_test.go).
func TestEventLogAndJournal(t *testing.T) {
	t.Run("own-file", func(t *testing.T) {
		testEventLog(t, func(path string, j *Journal) (*EventLog, error) { return OpenEventLog(path, time.Hour, j, nil) })
	})
	t.Run("shared-store", func(t *testing.T) {
		testEventLog(t, func(path string, j *Journal) (*EventLog, error) {
			return OpenSharedEventLog(path, openStore(t, path), time.Hour, j, nil)
		})
	})
}

func testEventLog(t *testing.T, open func(path string, j *Journal) (*EventLog, error)) {
	dir := t.TempDir()
	j, err := OpenJournal(filepath.Join(dir, "journal.jsonl"), 4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	l, err := open(filepath.Join(dir, "hb.db"), j)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bus := &event.Bus{}
	sub := bus.SubscribeBatch("events", 100, event.Message, event.StateChange)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Consume(ctx, sub); close(done) }()
	t0 := time.Now().UTC().Add(-time.Minute)
	bus.Publish(event.Event{Type: event.Message, At: t0, Host: "web1", Source: "web1", Level: event.LevelWarning, Text: "disk replaced"})
	bus.Publish(event.Event{Type: event.Message, At: t0.Add(time.Second), Host: "backup", Source: "backup", Level: event.LevelInfo, Text: "started"})
	bus.Publish(event.Event{Type: event.Message, At: t0.Add(2 * time.Second), Host: "backup", Check: loggedCheck, Source: "backup", Text: "already logged"})
	bus.Publish(event.Event{Type: event.Result, At: t0, Host: "x"})
	cancel()
	<-done
	old := Event{At: time.Now().Add(-2 * time.Hour), Host: "old", Source: "old", Level: "info", Type: "message", Message: "ancient"}
	if err := l.Write(context.Background(), []Event{old}); err != nil {
		t.Fatal(err)
	}
	all, _ := l.Query(context.Background(), EventFilter{})
	if len(all) != 3 || all[0].Message != "ancient" || all[2].Message != "disk replaced" {
		t.Fatalf("all: %+v", all)
	}
	for name, tc := range map[string]struct {
		f    EventFilter
		want []string
	}{
		"source":   {EventFilter{Source: "backup"}, []string{"started"}},
		"level":    {EventFilter{MinLevel: event.LevelWarning}, []string{"disk replaced"}},
		"contains": {EventFilter{Contains: "start"}, []string{"started"}},
		"from":     {EventFilter{From: t0}, []string{"started"}},
		"to":       {EventFilter{To: t0.Add(time.Second)}, []string{"ancient", "disk replaced"}},
		"page":     {EventFilter{Limit: 1, Before: all[0].ID}, []string{"started"}},
	} {
		got, err := l.Query(context.Background(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, e := range got {
			msgs = append(msgs, e.Message)
		}
		if strings.Join(msgs, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %v, want %v", name, msgs, tc.want)
		}
	}
	l.Trim(context.Background(), time.Now())
	if all, _ := l.Query(context.Background(), EventFilter{}); len(all) != 2 || l.Trimmed.Load() != 1 {
		t.Fatalf("after trim: %+v", all)
	}
	// The journal has the three messages as JSON lines; rotation keeps two backups.
	b, _ := os.ReadFile(filepath.Join(dir, "journal.jsonl"))
	if n := strings.Count(string(b), "\n"); n != 3 || !strings.Contains(string(b), `"message":"disk replaced"`) {
		t.Fatalf("journal:\n%s", b)
	}
	for i := range 200 {
		j.Write(Event{At: time.Now(), Level: "info", Message: strings.Repeat("x", 50) + string(rune('a'+i%26))})
	}
	for _, n := range []string{"journal.jsonl", "journal.jsonl.1", "journal.jsonl.2"} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || st.Size() > 4096 {
			t.Fatalf("%s: %v %v", n, st, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "journal.jsonl.3")); err == nil {
		t.Fatal("more backups than journal_max_backups")
	}
}
