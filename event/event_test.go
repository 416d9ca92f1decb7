// SPDX-License-Identifier: MIT

package event

import (
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
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

// TestSubscribeBatch: a batch subscriber gets the events of its types in
// order, up to its size (the rest dropped and counted), all at once from
// Take; one PublishBatch rings it once; Close lets it read what is queued,
// then Take says closed.
func TestSubscribeBatch(t *testing.T) {
	var b Bus
	bs := b.SubscribeBatch("batch", 5, Result, StateChange)
	ch := b.Subscribe("chan", 100, StateChange)
	if bs.C() != nil || ch.Ready() != nil {
		t.Fatal("a subscription has both a channel and a list")
	}
	var es []Event
	for i := range 10 {
		typ := Result
		switch i % 3 {
		case 1:
			typ = StateChange
		case 2:
			typ = Message
		}
		es = append(es, Event{Type: typ, At: time.Unix(int64(i), 0)})
	}
	b.PublishBatch(es)
	select {
	case <-bs.Ready():
	default:
		t.Fatal("not rung")
	}
	select {
	case <-bs.Ready():
		t.Fatal("rung twice for one batch")
	default:
	}
	if bs.Len() != 5 || bs.Dropped() != 2 || len(ch.C()) != 3 {
		t.Fatalf("batch queued %d dropped %d, chan queued %d; want 5, 2 (7 results and changes), 3", bs.Len(), bs.Dropped(), len(ch.C()))
	}
	got, ok := bs.Take(nil)
	if !ok || len(got) != 5 {
		t.Fatalf("Take = %d events, %v", len(got), ok)
	}
	for i, want := range []int64{0, 1, 3, 4, 6} {
		if got[i].At.Unix() != want || got[i].Type == Message {
			t.Fatalf("event %d: %+v, want the one at %d", i, got[i], want)
		}
	}
	// The list handed back is cleared and reused.
	got[0].Obs = &obs.Observation{}
	b.Publish(Event{Type: Result, At: time.Unix(20, 0)})
	again, ok := bs.Take(got)
	if !ok || len(again) != 1 || again[0].At.Unix() != 20 || got[:cap(got)][0].Obs != nil {
		t.Fatalf("second Take = %+v, %v", again, ok)
	}
	if st := b.Stats(); st.Published != 11 || st.Subscribers[0].Delivered != 6 || st.Subscribers[0].Capacity != 5 {
		t.Fatalf("stats %+v", st)
	}
	b.Publish(Event{Type: StateChange})
	bs.Close()
	<-bs.Ready()
	if last, ok := bs.Take(again); !ok || len(last) != 1 {
		t.Fatalf("after Close: %d events, %v; want the one queued before", len(last), ok)
	}
	select {
	case <-bs.Ready(): // a closed subscription stays ready: the reader comes back for the false
	case <-time.After(10 * time.Second):
		t.Fatal("a closed subscription does not ring again")
	}
	if _, ok := bs.Take(nil); ok {
		t.Fatal("Take after Close and empty says open")
	}
	b.Publish(Event{Type: Result})
	if bs.Len() != 0 || len(b.Stats().Subscribers) != 1 {
		t.Fatal("a closed batch subscriber still takes events")
	}
}

// TestPublishBatchWhileClosing: PublishBatch from several goroutines to
// batch and channel subscribers that close meanwhile (run under -race):
// every event offered is delivered or dropped, none after Close.
func TestPublishBatchWhileClosing(t *testing.T) {
	var b Bus
	es := make([]Event, 16)
	for i := range es {
		es[i].Type = Result
	}
	for range 50 {
		bs := b.SubscribeBatch("b", 40, Result)
		cs := b.Subscribe("c", 8, Result)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					b.PublishBatch(es)
				}
			}()
		}
		read := make(chan uint64)
		go func() {
			var n uint64
			var evs []Event
			for range bs.Ready() {
				var ok bool
				evs, ok = bs.Take(evs)
				n += uint64(len(evs))
				if !ok {
					break
				}
			}
			read <- n
		}()
		go func() {
			for range cs.C() {
			}
		}()
		bs.Close()
		cs.Close()
		wg.Wait()
		if n := <-read; n != bs.delivered.Load() {
			t.Fatalf("read %d of %d delivered", n, bs.delivered.Load())
		}
	}
	if st := b.Stats(); len(st.Subscribers) != 0 || st.Published != 50*4*50*16 {
		t.Errorf("stats %+v", st)
	}
}

// TestPublishBatchAllocs: fanning a batch out to a batch subscriber whose
// list is reused allocates nothing.
func TestPublishBatchAllocs(t *testing.T) {
	var b Bus
	bs := b.SubscribeBatch("b", 1<<10, Result)
	es := make([]Event, 100)
	for i := range es {
		es[i].Type = Result
	}
	var got []Event
	b.PublishBatch(es)
	got, _ = bs.Take(got)
	b.PublishBatch(es)
	got, _ = bs.Take(got)
	if n := testing.AllocsPerRun(100, func() {
		b.PublishBatch(es)
		got, _ = bs.Take(got)
		<-bs.Ready()
	}); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}

// TestTakeDropsBurstList: a list grown by a burst beyond maxKeep is not
// kept as the queue once handed back (its memory goes back to the GC);
// smaller ones are reused.
func TestTakeDropsBurstList(t *testing.T) {
	var b Bus
	bs := b.SubscribeBatch("b", 1<<20, Result)
	burst := make([]Event, 4*maxKeep)
	for i := range burst {
		burst[i].Type = Result
	}
	b.PublishBatch(burst)
	big, _ := bs.Take(nil)
	if cap(big) <= maxKeep {
		t.Fatalf("burst list of cap %d", cap(big))
	}
	b.PublishBatch(burst[:10])
	small, _ := bs.Take(big)
	if cap(small) >= cap(big) {
		t.Errorf("the burst's list (cap %d) was kept as the queue (cap %d)", cap(big), cap(small))
	}
	b.PublishBatch(burst[:10])
	again, _ := bs.Take(small)
	bs.mu.Lock()
	kept := cap(bs.q)
	bs.mu.Unlock()
	if kept != cap(small) || len(again) != 10 {
		t.Errorf("a small list handed back was not reused: queue cap %d, want %d", kept, cap(small))
	}
}

// TestTakeLetsRoomyListGo: a list of up to maxKeep events (grown by a
// few hundred state changes) that the reader's Takes keep using for a few
// events only is let go after roomyTakes of them; one that is used is
// kept.
func TestTakeLetsRoomyListGo(t *testing.T) {
	var b Bus
	bs := b.SubscribeBatch("b", 1<<20, Result)
	evs := make([]Event, maxKeep)
	for i := range evs {
		evs[i].Type = Result
	}
	b.PublishBatch(evs)
	list, _ := bs.Take(nil)
	// Half used (more than a quarter): kept however long.
	for range 3 * roomyTakes {
		b.PublishBatch(evs[:maxKeep/2])
		list, _ = bs.Take(list)
	}
	bs.mu.Lock()
	q0 := cap(bs.q)
	bs.mu.Unlock()
	if cap(list) < maxKeep/2 || q0 < maxKeep/2 {
		t.Fatalf("a list half used was let go: caps %d and %d", cap(list), q0)
	}
	// Ten events a batch: the two big lists go after roomyTakes (counted
	// on the Takes handing a big one back: every other one).
	for range 4 * roomyTakes {
		b.PublishBatch(evs[:10])
		list, _ = bs.Take(list)
	}
	bs.mu.Lock()
	q := cap(bs.q)
	bs.mu.Unlock()
	if cap(list) > minKeep || q > minKeep {
		t.Errorf("roomy lists kept: caps %d and %d, want at most %d", cap(list), q, minKeep)
	}
}

// TestHoldReleasedWhenReadersDone: a PublishHeld batch's Hold is released
// once the publisher and every batch subscriber that queued some of its
// events are done with them (their next Take), not before; a subscriber
// that took none (other types, full queue) holds nothing; a channel
// subscriber pins it.
func TestHoldReleasedWhenReadersDone(t *testing.T) {
	var b Bus
	a := b.SubscribeBatch("a", 100, Result)
	c := b.SubscribeBatch("c", 100, StateChange) // takes none of them
	full := b.SubscribeBatch("full", 1, Result)
	full.add([]Event{{Type: Result}}, nil) // its queue is full
	released := 0
	var h Hold
	h.Reset(func() { released++ })
	b.PublishHeld([]Event{{Type: Result}, {Type: Result}}, &h)
	b.PublishHeld([]Event{{Type: Result}}, &h) // same hold: one reference
	h.Release()
	if released != 0 {
		t.Fatal("released while a's queue holds its events")
	}
	evs, _ := a.Take(nil)
	if len(evs) != 3 || released != 0 {
		t.Fatalf("took %d events, released %d: the reader is not done with them yet", len(evs), released)
	}
	if _, _ = c.Take(nil); released != 0 {
		t.Fatal("c released a hold it never had")
	}
	evs, _ = a.Take(evs)
	if len(evs) != 0 || released != 1 {
		t.Fatalf("after the next Take: %d events, released %d times, want 0, 1", len(evs), released)
	}
	if got := full.Dropped(); got != 3 {
		t.Fatalf("full dropped %d, want 3", got)
	}

	// Reused, with a channel subscriber: pinned, never released.
	ch := b.Subscribe("ch", 10, Result)
	h.Reset(func() { released++ })
	b.PublishHeld([]Event{{Type: Result}}, &h)
	h.Release()
	a.Take(evs)
	a.Take(nil)
	if released != 1 {
		t.Fatalf("released %d times with a channel reader holding an event, want 1 (the first)", released)
	}
	if len(ch.C()) != 1 {
		t.Fatal("channel subscriber missed the event")
	}
}

// TestHoldNotKeptByRareOrLaggingReaders: a batch subscriber that takes no
// Results gets copies of the few events of a held batch it queues and
// holds nothing (it may keep them queued for long); one that takes Results
// holds at most maxHeld batches not yet taken and gets copies past that.
// The copies read as published after the memory is reused.
func TestHoldNotKeptByRareOrLaggingReaders(t *testing.T) {
	var b Bus
	rare := b.SubscribeBatch("rare", 1000, StateChange, Problem)
	lag := b.SubscribeBatch("lag", 1000, Result)
	const batches = 20
	released := 0
	mem := make([]obs.Observation, batches)
	snaps := make([]state.Snapshot, batches)
	for i := range batches {
		var h Hold
		h.Reset(func() { released++ })
		mem[i] = obs.Observation{RTT: time.Duration(i + 1)}
		snaps[i] = state.Snapshot{Problem: "p"}
		o, sn := &mem[i], &snaps[i]
		b.PublishHeld([]Event{{Type: Result, Obs: o}, {Type: Problem, Obs: o, Snap: sn}, {Type: StateChange, Obs: o, Snap: sn}}, &h)
		h.Release()
	}
	if released != batches-maxHeld {
		t.Fatalf("%d of %d batches released with neither reader done, want all but the lagging reader's first %d", released, batches, maxHeld)
	}
	clear(mem) // the publisher reuses its memory
	clear(snaps)
	evs, _ := rare.Take(nil)
	if len(evs) != 2*batches {
		t.Fatalf("rare reader got %d events, want %d", len(evs), 2*batches)
	}
	for i := 0; i < len(evs); i += 2 {
		p, c := evs[i], evs[i+1]
		if want := time.Duration(i/2 + 1); p.Obs.RTT != want || p.Snap.Problem != "p" || p.Obs != c.Obs || p.Snap != c.Snap {
			t.Fatalf("batch %d: rare reader's events %+v %+v, want RTT %v, problem p, one shared copy", i/2, p, c, want)
		}
	}
	evs, _ = lag.Take(nil)
	for i, e := range evs[maxHeld:] {
		if want := time.Duration(maxHeld + i + 1); e.Obs.RTT != want {
			t.Fatalf("lagging reader's event %d: RTT %v, want %v", maxHeld+i, e.Obs.RTT, want)
		}
	}
	lag.Take(evs)
	if released != batches {
		t.Fatalf("%d of %d batches released once both readers are done", released, batches)
	}
}
