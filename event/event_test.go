// SPDX-License-Identifier: MIT

package event

import (
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestFanOutAndDrops(t *testing.T) {
	var b Bus
	all := b.Subscribe("all", 4)
	changes := b.Subscribe("changes", 100, StateChange)
	for i := 0; i < 10; i++ {
		typ := Result
		if i%2 == 0 {
			typ = StateChange
		}
		b.Publish(Event{Type: typ, At: time.Unix(int64(i), 0)})
	}
	if got := len(all.C()); got != 4 {
		t.Fatalf("all queued %d, want 4 (its capacity)", got)
	}
	if all.Dropped() != 6 {
		t.Fatalf("all dropped %d, want 6", all.Dropped())
	}
	if got := len(changes.C()); got != 5 {
		t.Fatalf("changes queued %d, want 5 state changes only", got)
	}
	if e := <-changes.C(); e.Type != StateChange || e.At.Unix() != 0 {
		t.Fatalf("first change %+v", e)
	}
	st := b.Stats()
	if st.Published != 10 || len(st.Subscribers) != 2 || st.Subscribers[0].Dropped != 6 {
		t.Fatalf("stats %+v", st)
	}
	all.Close()
	if _, ok := <-all.C(); !ok {
		t.Fatal("closed queue lost its buffered events")
	}
	b.Publish(Event{Type: Result})
	if len(b.Stats().Subscribers) != 1 {
		t.Fatal("closed subscriber still subscribed")
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	var b Bus
	s := b.Subscribe("slow", 1)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100000; i++ {
			b.Publish(Event{Type: Message})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a subscriber nobody reads")
	}
	if s.Dropped() != 99999 {
		t.Fatalf("dropped %d, want 99999", s.Dropped())
	}
}

func TestConcurrentSubscribe(t *testing.T) {
	var b Bus
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := b.Subscribe("x", 10)
			b.Publish(Event{Type: Problem})
			s.Close()
		}()
	}
	wg.Wait()
	if n := len(b.Stats().Subscribers); n != 0 {
		t.Fatalf("%d subscribers left", n)
	}
}

func TestNames(t *testing.T) {
	if l, ok := ParseLevel("warn"); !ok || l != LevelWarning || l.String() != "warning" {
		t.Fatal("warn")
	}
	if StateChange.String() != "state_change" || Type(99).String() != "invalid" {
		t.Fatal("type names")
	}
}

// TestPublishWhileClosing: publishers on several goroutines and a
// subscriber closing meanwhile (run under -race): no send on a closed
// queue, every event either delivered, dropped or not offered.
func TestPublishWhileClosing(t *testing.T) {
	var b Bus
	for round := 0; round < 50; round++ {
		sub := b.Subscribe("s", 8)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					b.Publish(Event{Type: Message})
				}
			}()
		}
		go func() {
			for range sub.C() {
			}
		}()
		sub.Close()
		sub.Close() // twice is harmless
		wg.Wait()
	}
	if st := b.Stats(); len(st.Subscribers) != 0 || st.Published != 50*4*200 {
		t.Errorf("stats %+v", st)
	}
}

// TestEventSize: an event stays 128 bytes (its one-byte fields packed
// together): the bus queues hold 16,384 per subscriber.
func TestEventSize(t *testing.T) {
	if n := unsafe.Sizeof(Event{}); n > 128 {
		t.Errorf("Event is %d bytes, want at most 128", n)
	}
}
