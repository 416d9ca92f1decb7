// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/store"
)

// TestEventLogKeepsUpWithStartupBurst: a daemon's first round publishes a
// state change (unknown -> up) for every check, in the writer's pieces of
// 1,024, far faster than one transaction per 256 events through the
// store's writer (one a commit, CommitInterval apart) can write them. The
// log, with the daemon's queue of 4,096, loses none of them, writes them
// all, and once it has taken them holds none of the bus's batches (every
// piece's Hold is released: the memory they point to goes back to the
// publisher's pool).
func TestEventLogKeepsUpWithStartupBurst(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	path := filepath.Join(t.TempDir(), "hb.db")
	st, err := store.Open(path, &store.Options{CommitInterval: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := OpenSharedEventLog(path, st, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bus := &event.Bus{}
	sub := bus.SubscribeBatch("events", 4096, event.Message, event.StateChange)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Consume(ctx, sub); close(done) }()
	defer func() { cancel(); <-done }()

	const piece = 1024
	at := time.Now().UTC()
	o := &obs.Observation{}
	var released atomic.Int64
	pieces := 0
	es := make([]event.Event, 0, piece)
	for i := 0; i < n; i += piece {
		es = es[:0]
		for j := i; j < min(n, i+piece); j++ {
			es = append(es, event.Event{Type: event.StateChange, At: at, Host: fmt.Sprint("h", j), Check: "icmp",
				Old: state.Unknown, New: state.Up, HostOld: state.Unknown, HostNew: state.Up, Obs: o})
		}
		h := new(event.Hold)
		h.Reset(func() { released.Add(1) })
		bus.PublishHeld(es, h)
		h.Release()
		pieces++
		time.Sleep(5 * time.Millisecond) // the writer's drains: ~200k changes a second
	}
	deadline := time.Now().Add(60 * time.Second)
	for l.Written.Load()+l.Failed.Load() < uint64(n)-sub.Dropped() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := sub.Dropped(); d != 0 {
		t.Fatalf("%d of %d state changes dropped (queue 4096); %d written", d, n, l.Written.Load())
	}
	if w, f := l.Written.Load(), l.Failed.Load(); w != uint64(n) || f != 0 {
		t.Fatalf("written %d, failed %d; want %d, 0", w, f, n)
	}
	var count int
	if err := l.db.QueryRow(`SELECT count(*) FROM push_events`).Scan(&count); err != nil || count != n {
		t.Fatalf("%d rows stored (%v), want %d", count, err, n)
	}
	got, err := l.Query(context.Background(), EventFilter{Source: "h7", Limit: 5})
	if err != nil || len(got) != 1 || got[0].Message != "h7 icmp: unknown -> up" || got[0].Type != "state_change" ||
		got[0].Level != "info" || got[0].Source != "hb" || !got[0].At.Equal(at) {
		t.Fatalf("h7: %+v (%v)", got, err)
	}
	// Every piece's memory was given back once the log took it.
	deadline = time.Now().Add(5 * time.Second)
	for released.Load() < int64(pieces) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r := released.Load(); r != int64(pieces) {
		t.Fatalf("%d of %d published batches released after the log took and wrote them all", r, pieces)
	}
}

// TestItemFormats: the written text of a state change with a
// problem, and of a host-only change without the core's text.
func TestItemFormats(t *testing.T) {
	at := time.Unix(1700000000, 5)
	ev, ok := FromBus(event.Event{Type: event.StateChange, At: at, Host: "db", Check: "icmp",
		Old: state.Up, New: state.Degraded, HostOld: state.Up, HostNew: state.Degraded, Obs: &obs.Observation{Problem: "timeout"}})
	if !ok || ev.Message != "db icmp: up -> degraded (timeout)" || ev.Level != "warning" || !ev.At.Equal(at) {
		t.Fatalf("change with a problem: %+v", ev)
	}
	ev, ok = FromBus(event.Event{Type: event.StateChange, At: at, Host: "db", Check: "icmp",
		Old: state.Up, New: state.Up, HostOld: state.Degraded, HostNew: state.Up})
	if !ok || ev.Message != "host db: degraded -> up" || ev.Check != "" || ev.Level != "info" {
		t.Fatalf("host change without text: %+v", ev)
	}
	ev, ok = FromBus(event.Event{Type: event.Message, At: at, Host: "web1", Level: event.LevelCritical, Text: "on fire"})
	if !ok || ev.Message != "on fire" || ev.Source != "web1" || ev.Level != "critical" || ev.Type != "message" {
		t.Fatalf("message: %+v", ev)
	}
	if _, ok := FromBus(event.Event{Type: event.Result, At: at}); ok {
		t.Fatal("a result is logged")
	}
}
