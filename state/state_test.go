// SPDX-License-Identifier: MIT

package state

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/hbmon/hb/internal/offheap"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func spec(name string, i int) HostSpec {
	a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	return HostSpec{Name: name, Addr: a, Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP, Addr: a}}}
}

// specsN is n one-check hosts h0, h1, ... (spec).
func specsN(n int) []HostSpec {
	specs := make([]HostSpec, n)
	for i := range specs {
		specs[i] = spec(fmt.Sprintf("h%d", i), i)
	}
	return specs
}

func obsAt(i int, o Outcome, rtt time.Duration) Observation {
	ob := Observation{At: t0.Add(time.Duration(i) * time.Second), Outcome: o}
	if o == OK {
		ob.RTT, ob.Method = rtt, obs.MethodKernelTxRx
	}
	return ob
}

func TestFSM(t *testing.T) {
	const f, k = false, true // fail, ok
	tests := []struct {
		name        string
		cfg         Config
		events      []bool
		want        []State
		transitions uint32
	}{
		{
			name:        "pingstate sequence",
			events:      []bool{f, k, f, k, f, f, k},
			want:        []State{Down, Up, Degraded, Up, Degraded, Down, Up},
			transitions: 7,
		},
		{name: "first ok", events: []bool{k, k}, want: []State{Up, Up}, transitions: 1},
		{name: "stays down", events: []bool{f, f, f}, want: []State{Down, Down, Down}, transitions: 1},
		{
			name:        "three to down",
			cfg:         Config{FailuresToDown: 3},
			events:      []bool{k, f, f, f, k},
			want:        []State{Up, Degraded, Degraded, Down, Up},
			transitions: 4,
		},
		{
			name:        "no degraded tier",
			cfg:         Config{FailuresToDown: 1},
			events:      []bool{k, f, k},
			want:        []State{Up, Down, Up},
			transitions: 3,
		},
		{
			name:        "two oks to recover",
			cfg:         Config{SuccessesToUp: 2},
			events:      []bool{k, f, k, k, f, f, k, f, k, k},
			want:        []State{Up, Degraded, Degraded, Up, Degraded, Down, Down, Down, Down, Up},
			transitions: 6,
		},
		{
			name:        "degraded ok resets fail count",
			cfg:         Config{FailuresToDown: 3, SuccessesToUp: 3},
			events:      []bool{k, f, k, f, f},
			want:        []State{Up, Degraded, Degraded, Degraded, Degraded},
			transitions: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := New([]HostSpec{spec("a", 1)}, &tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, ok := range tt.events {
				o := Timeout
				if ok {
					o = OK
				}
				before := tab.View().Host(0).Snapshot().State
				ch, err := tab.Apply(0, obsAt(i, o, time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				if ch.New != tt.want[i] || ch.Old != before || ch.Changed != (before != ch.New) {
					t.Fatalf("event %d (%v): change %v→%v changed=%v, want →%v", i, o, ch.Old, ch.New, ch.Changed, tt.want[i])
				}
			}
			s := tab.View().Host(0).Snapshot()
			if s.Transitions != tt.transitions {
				t.Errorf("transitions %d, want %d", s.Transitions, tt.transitions)
			}
		})
	}
}

func TestStep(t *testing.T) {
	c, _ := (*Config)(nil).withDefaults()
	tests := []struct {
		s         State
		failed    bool
		fails, ok int
		want      State
	}{
		{Unknown, true, 1, 0, Down},
		{Unknown, false, 0, 1, Up},
		{Up, false, 0, 5, Up},
		{Up, true, 1, 0, Degraded},
		{Degraded, true, 2, 0, Down},
		{Degraded, false, 0, 1, Up},
		{Down, true, 9, 0, Down},
		{Down, false, 0, 1, Up},
	}
	for _, tt := range tests {
		if got := Step(c, tt.s, tt.failed, tt.fails, tt.ok); got != tt.want {
			t.Errorf("Step(%v, failed=%v, %d, %d) = %v, want %v", tt.s, tt.failed, tt.fails, tt.ok, got, tt.want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{{FailuresToDown: -1}, {SuccessesToUp: -2}, {EWMAAlpha: 1.5}, {EWMAAlpha: math.NaN()}} {
		if _, err := New(nil, &c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	tab, _ := New([]HostSpec{spec("a", 1)}, nil)
	if _, err := tab.Apply(1, obsAt(0, OK, 0)); err == nil {
		t.Error("id out of range accepted")
	}
	if _, err := tab.Apply(0, Observation{At: t0}); err == nil {
		t.Error("zero outcome accepted")
	}
	if s := tab.View().Host(0).Snapshot(); s.Probes != 0 {
		t.Error("rejected observation was recorded")
	}
}

func TestNewErrors(t *testing.T) {
	for name, specs := range map[string][]HostSpec{
		"no name":       {{Addr: netip.MustParseAddr("198.18.0.1")}},
		"no kind":       {{Name: "a", Checks: []obs.CheckSpec{{Name: "x"}}}},
		"no check name": {{Name: "a", Checks: []obs.CheckSpec{{Kind: obs.KindTCP}}}},
		"dup check":     {{Name: "a", Checks: []obs.CheckSpec{{Name: "x", Kind: obs.KindTCP}, {Name: "x", Kind: obs.KindHTTP}}}},
		"duplicate":     {spec("a", 1), spec("a", 2)},
	} {
		if _, err := New(specs, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStatsAndRing(t *testing.T) {
	tab, _ := New([]HostSpec{spec("a", 1)}, nil)
	// 25 results: the window keeps the last 20 (i = 5..24). Every 4th fails.
	for i := range 25 {
		o := OK
		if i%4 == 3 {
			o = Timeout
		}
		if _, err := tab.Apply(0, obsAt(i, o, time.Duration(i+1)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	s := tab.View().Host(0).Snapshot()
	rec := s.Recent(nil)
	if len(rec) != Window {
		t.Fatalf("ring holds %d, want %d", len(rec), Window)
	}
	for j, r := range rec {
		i := j + 5
		if r.At.Time() != t0.Add(time.Duration(i)*time.Second) {
			t.Fatalf("ring[%d] at %v, want result %d", j, r.At.Time(), i)
		}
	}
	var rtts []float64
	lost := 0
	for i := 5; i < 25; i++ {
		if i%4 == 3 {
			lost++
			continue
		}
		rtts = append(rtts, float64(time.Duration(i+1)*time.Millisecond))
	}
	var sum float64
	for _, v := range rtts {
		sum += v
	}
	mean := sum / float64(len(rtts))
	var ss float64
	for _, v := range rtts {
		ss += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(ss / float64(len(rtts)))
	st := s.Stats()
	if st.Min != 6*time.Millisecond || st.Max != 25*time.Millisecond {
		t.Errorf("min/max %v/%v, want 6ms/25ms", st.Min, st.Max)
	}
	if math.Abs(float64(st.Avg)-mean) > 1 || math.Abs(float64(st.StdDev)-sd) > 10 {
		t.Errorf("avg/stddev %v/%v, want %v/%v", st.Avg, st.StdDev, time.Duration(mean), time.Duration(sd))
	}
	if want := float64(lost) / 20; st.Loss != want || int(st.Samples) != len(rtts) || st.Results != 20 {
		t.Errorf("loss %g samples %d results %d, want %g %d 20", st.Loss, st.Samples, st.Results, want, len(rtts))
	}
	if s.Probes != 25 || s.Failures != 6 {
		t.Errorf("probes %d failures %d, want 25 6", s.Probes, s.Failures)
	}
	if s.EWMA < 15*time.Millisecond || s.EWMA > 25*time.Millisecond {
		t.Errorf("EWMA %v outside the recent RTTs", s.EWMA)
	}
	if s.Problem != "timeout" || s.ProblemAt.Time() != t0.Add(23*time.Second) {
		t.Errorf("problem %q at %v", s.Problem, s.ProblemAt.Time())
	}
	if s.LastOKAt.Time() != t0.Add(24*time.Second) || s.Last().RTT() != 25*time.Millisecond {
		t.Errorf("last ok %v last %+v", s.LastOKAt.Time(), s.Last())
	}
}

func TestEWMA(t *testing.T) {
	tab, _ := New([]HostSpec{spec("a", 1)}, &Config{EWMAAlpha: 0.5})
	for i, ms := range []int{8, 16, 16} {
		tab.Apply(0, obsAt(i, OK, time.Duration(ms)*time.Millisecond))
	}
	// 8 → 8 + (16-8)/2 = 12 → 12 + (16-12)/2 = 14
	if got := tab.View().Host(0).Snapshot().EWMA; got != 14*time.Millisecond {
		t.Errorf("EWMA %v, want 14ms", got)
	}
}

func TestHealthAndProblems(t *testing.T) {
	tab, _ := New([]HostSpec{spec("a", 1)}, nil)
	h := &wire.Health{CollectedAt: t0.Add(-3 * time.Second).UnixNano(), CPUBusy: 250}
	ob := obsAt(0, OK, time.Millisecond)
	ob.Health, ob.HasHealth = *h, true
	tab.Apply(0, ob)
	// A later reply without health keeps the previous blob.
	tab.Apply(0, obsAt(1, OK, time.Millisecond))
	e := obsAt(2, Error, 0)
	e.ICMPType, e.ICMPCode, e.From = 3, 1, netip.MustParseAddr("198.18.255.1")
	tab.Apply(0, e)
	s := tab.View().Host(0).Snapshot()
	if !s.HasHealth() || s.Health != *h || s.HealthAt.Time() != t0 {
		t.Errorf("health %+v at %v", s.Health, s.HealthAt.Time())
	}
	if age := s.HealthAge(t0.Add(10 * time.Second)); age != 13*time.Second {
		t.Errorf("health age %v, want 13s", age)
	}
	if s.Problem != "host unreachable from 198.18.255.1" {
		t.Errorf("problem %q", s.Problem)
	}
	if s.Last().ICMPType != 3 || s.Last().ICMPCode != 1 || s.Last().Outcome != Error {
		t.Errorf("last %+v", s.Last())
	}
	if s.State != Degraded || s.InStateFor(t0.Add(5*time.Second)) != 3*time.Second {
		t.Errorf("state %v for %v", s.State, s.InStateFor(t0.Add(5*time.Second)))
	}
	m := &wire.HBM2{Timestamp: float64(t0.Unix()) + 0.5}
	ob = obsAt(3, OK, time.Millisecond)
	ob.HBM2 = m
	tab2, _ := New([]HostSpec{spec("b", 2)}, nil)
	tab2.Apply(0, ob)
	if s2 := tab2.View().Host(0).Snapshot(); s2.HealthAge(t0.Add(time.Second)) != 500*time.Millisecond {
		age := s2.HealthAge(t0.Add(time.Second))
		t.Errorf("hbm2 age %v", age)
	}
	if got := obs.ICMPText(true, 1, 3); got != "address unreachable" {
		t.Errorf("icmpv6 name %q", got)
	}
	if got := obs.ICMPText(false, 3, 200); got != "destination unreachable (code 200)" {
		t.Errorf("name %q", got)
	}
}

func TestReload(t *testing.T) {
	tab, _ := New([]HostSpec{spec("a", 1), spec("b", 2), spec("c", 3)}, nil)
	for id := range 3 {
		tab.Apply(id, obsAt(0, OK, time.Millisecond))
	}
	tab.Apply(0, obsAt(1, Timeout, 0))
	oldA := tab.View().Lookup("a").Snapshot()

	b := spec("b", 99) // address changed: starts over
	a := spec("a", 1)
	a.Labels = LabelsFromMap(map[string]string{"role": "db"})
	r, err := tab.Reload([]HostSpec{spec("d", 4), b, a})
	if err != nil {
		t.Fatal(err)
	}
	if r.Added != 2 || r.Kept != 1 || r.Removed != 2 || len(r.Gone) != 2 {
		t.Errorf("reload %+v", r)
	}
	v := tab.View()
	if v.Gen != 2 || v.Len() != 3 || v.Lookup("c") != nil {
		t.Fatalf("view gen %d len %d", v.Gen, v.Len())
	}
	ha := v.Lookup("a")
	if ha.ID != 2 || ha.Snapshot() != oldA || ha.Spec().Labels.Map()["role"] != "db" {
		t.Errorf("a: id %d kept=%v labels %v", ha.ID, ha.Snapshot() == oldA, ha.Spec().Labels)
	}
	if s := v.Lookup("b").Snapshot(); s.State != Unknown || s.Probes != 0 {
		t.Errorf("b kept state %v across an address change", s.State)
	}
	if v.Lookup("d").Check(0).Spec().Addr != netip.MustParseAddr("198.18.0.4") {
		t.Error("check address")
	}
	// The writer continues with the new ids.
	ch, _ := tab.Apply(2, obsAt(2, Timeout, 0))
	if ch.Old != Degraded || ch.New != Down || ch.Host != ha {
		t.Errorf("after reload %v→%v", ch.Old, ch.New)
	}
	if _, err := tab.Reload([]HostSpec{spec("x", 1), spec("x", 2)}); err == nil || tab.View() != v {
		t.Error("a bad reload replaced the view")
	}
}

// TestConcurrentReaders runs readers against the writer and a reload under
// -race. Each observation i carries RTT = i µs and At = t0 + i s, so every
// snapshot must satisfy invariants a torn write would break.
func TestConcurrentReaders(t *testing.T) {
	const hosts = 64
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	specs := specsN(hosts)
	tab, _ := New(specs, nil)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []Result
			for !stop.Load() {
				v := tab.View()
				for _, h := range v.Hosts() {
					sn := h.Snapshot()
					if err := checkSnapshot(&sn, buf[:0]); err != nil {
						select {
						case errs <- fmt.Errorf("%s: %w", h.Spec().Name, err):
						default:
						}
						return
					}
					if v.Lookup(h.Spec().Name) != h {
						errs <- fmt.Errorf("lookup %s in gen %d", h.Spec().Name, v.Gen)
						return
					}
				}
				runtime.Gosched()
			}
		}()
	}
	for i := 1; i <= rounds; i++ {
		if i == rounds/2 {
			// Drop host 0, keep the rest: they must keep their state.
			if _, err := tab.Reload(specs[1:]); err != nil {
				t.Fatal(err)
			}
		}
		v := tab.View()
		for id := range v.Len() {
			o := OK
			if i%3 == 0 {
				o = Timeout
			}
			ob := Observation{At: t0.Add(time.Duration(i) * time.Second), Outcome: o}
			if o == OK {
				ob.RTT = time.Duration(i) * time.Microsecond
			}
			if _, err := tab.Apply(id, ob); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := tab.View().Lookup("h1").Snapshot(); s.Probes != uint64(rounds) {
		t.Errorf("h1 has %d probes after reload, want %d", s.Probes, rounds)
	}
}

func checkSnapshot(s *Snapshot, buf []Result) error {
	rec := s.Recent(buf)
	if uint64(len(rec)) != min(s.Probes, Window) {
		return fmt.Errorf("ring %d for %d probes", len(rec), s.Probes)
	}
	if len(rec) == 0 {
		return nil
	}
	last := rec[len(rec)-1]
	if last != s.Last() {
		return fmt.Errorf("last %+v != ring tail %+v", s.Last(), last)
	}
	i := int64(last.At.Time().Sub(t0) / time.Second)
	if last.Outcome == OK && last.RTT() != time.Duration(i)*time.Microsecond {
		return fmt.Errorf("result %d has RTT %v", i, last.RTT())
	}
	for j := 1; j < len(rec); j++ {
		if rec[j].At <= rec[j-1].At {
			return fmt.Errorf("ring out of order")
		}
	}
	if int(s.Stats().Results) != len(rec) {
		return fmt.Errorf("stats over %d results, ring has %d", s.Stats().Results, len(rec))
	}
	if s.Failures > s.Probes {
		return fmt.Errorf("failures %d > probes %d", s.Failures, s.Probes)
	}
	return nil
}

// MeasureBytesPerHost builds a table of n hosts (one label each), applies
// one observation with a health blob to every host, and returns the heap
// growth per host, specs included, plus the records held off the heap.
func MeasureBytesPerHost(n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	off := offheap.Bytes()
	specs := make([]HostSpec, n)
	for i := range specs {
		// As the targets parser makes them: the name and the check's
		// target share the address's text.
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		name := fmt.Sprintf("host-%06d", i)
		specs[i] = HostSpec{
			Name:   name,
			Addr:   a,
			Labels: Labels{{"role", "web"}},
			Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP, Addr: a, Target: name}},
		}
	}
	tab, err := New(specs, nil)
	if err != nil {
		panic(err)
	}
	for id := range n {
		ob := obsAt(id, OK, time.Millisecond)
		ob.Health, ob.HasHealth = wire.Health{CollectedAt: t0.UnixNano()}, true
		tab.Apply(id, ob)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tab)
	// The records' slab and the name index are outside the Go heap
	// (internal/offheap): count them.
	return float64(int64(after.HeapAlloc-before.HeapAlloc)+offheap.Bytes()-off) / float64(n)
}

func BenchmarkMemoryPerHost(b *testing.B) {
	var per float64
	for b.Loop() {
		per = MeasureBytesPerHost(100_000)
	}
	b.ReportMetric(per, "bytes/host")
}

func BenchmarkApply(b *testing.B) {
	specs := specsN(1024)
	tab, _ := New(specs, nil)
	ob := obsAt(0, OK, time.Millisecond)
	i := 0
	for b.Loop() {
		tab.Apply(i&1023, ob)
		i++
	}
}

// BenchmarkApply100k is Table.Apply over 100,000 one-check hosts visited
// in a scattered order (as results arrive), so each result touches its
// check's memory cold, as in the daemon; ns/op is per result.
func BenchmarkApply100k(b *testing.B) {
	const n = 100_000
	specs := specsN(n)
	tab, _ := New(specs, nil)
	ob := obsAt(0, OK, time.Millisecond)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tab.Apply(i*7919%n, ob); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestMemoryPerHost keeps the ≤ 1 KiB per host budget (DESIGN §6). It is a
// size check, not a timing one; BenchmarkMemoryPerHost reports the figure
// for 100k hosts.
func TestMemoryPerHost(t *testing.T) {
	per := MeasureBytesPerHost(20_000)
	t.Logf("%.0f bytes/host", per)
	if per > 1024 {
		t.Errorf("%.0f bytes per host, budget 1024", per)
	}
}

func TestRestore(t *testing.T) {
	since := t0.Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		cfg    Config
		state  State
		next   Outcome
		want   State
		change bool
	}{
		{"up stays up on ok", Config{}, Up, OK, Up, false},
		{"up degrades on one failure", Config{}, Up, Timeout, Degraded, true},
		{"degraded goes down on the second failure", Config{}, Degraded, Timeout, Down, true},
		{"degraded needs three with FailuresToDown 3", Config{FailuresToDown: 3}, Degraded, Timeout, Degraded, false},
		{"down stays down", Config{}, Down, Error, Down, false},
		{"down comes up", Config{}, Down, OK, Up, true},
		{"down needs two oks with SuccessesToUp 2", Config{SuccessesToUp: 2}, Down, OK, Down, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := New([]HostSpec{spec("a", 1)}, &tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := tab.Restore(0, tc.state, since, 5); err != nil {
				t.Fatal(err)
			}
			s := tab.View().Host(0).Snapshot()
			if s.State != tc.state || s.Transitions != 5 || !s.Since.Time().Equal(since) || s.Probes != 0 {
				t.Fatalf("restored snapshot %v, %d transitions, since %v, %d probes", s.State, s.Transitions, s.Since.Time(), s.Probes)
			}
			c, err := tab.Apply(0, obsAt(1, tc.next, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if c.New != tc.want || c.Changed != tc.change {
				t.Fatalf("after %v: %v (changed %v), want %v (changed %v)", tc.next, c.New, c.Changed, tc.want, tc.change)
			}
		})
	}
	tab, _ := New([]HostSpec{spec("a", 1)}, nil)
	if err := tab.Restore(0, Unknown, since, 0); !errors.Is(err, ErrState) {
		t.Errorf("restoring unknown: %v", err)
	}
	if err := tab.Restore(3, Up, since, 0); !errors.Is(err, ErrNoHost) {
		t.Errorf("restoring a missing id: %v", err)
	}
}

func TestDerive(t *testing.T) {
	for _, tc := range []struct {
		in   []State
		want State
	}{
		{nil, Unknown},
		{[]State{Unknown, Unknown}, Unknown},
		{[]State{Up}, Up},
		{[]State{Degraded}, Degraded},
		{[]State{Down}, Down},
		{[]State{Up, Unknown}, Up},
		{[]State{Up, Up, Up}, Up},
		{[]State{Down, Unknown, Down}, Down},
		{[]State{Up, Down}, Degraded},
		{[]State{Up, Degraded}, Degraded},
		{[]State{Down, Degraded}, Degraded},
	} {
		if got := Derive(tc.in); got != tc.want {
			t.Errorf("Derive(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestHostWithChecks: a host with an icmp, a tcp and a heartbeat check
// derives its state from them; checks keep their state across a reload
// that changes one of them; Restore works per check.
func TestHostWithChecks(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.1")
	hs := HostSpec{Name: "db", Addr: a, Checks: []obs.CheckSpec{
		{Name: "icmp", Kind: obs.KindICMP, Addr: a},
		{Name: "tcp:5432", Kind: obs.KindTCP, Addr: a},
		{Name: "heartbeat", Kind: obs.KindHeartbeat},
	}}
	tab, err := New([]HostSpec{spec("other", 9), hs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := tab.View()
	h := v.Lookup("db")
	if v.NumChecks() != 4 || h.NumChecks() != 3 || h.Check(1).ID != 2 || h.Check(1).Host() != h || v.LookupCheck("db", "heartbeat") != h.Check(2) {
		t.Fatalf("layout: %d checks, host has %d", v.NumChecks(), h.NumChecks())
	}
	if h.Check(2).Spec().Host != "db" {
		t.Errorf("check spec host %q", h.Check(2).Spec().Host)
	}
	step := func(id, i int, o Outcome) Change {
		t.Helper()
		c, err := tab.Apply(id, obsAt(i, o, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := step(1, 0, OK); c.New != Up || c.HostOld != Unknown || c.HostNew != Up || !c.HostChanged {
		t.Errorf("first ok: %+v", c)
	}
	if c := step(2, 1, OK); c.HostChanged || c.HostNew != Up {
		t.Errorf("second check up: %+v", c)
	}
	if c := step(2, 2, Timeout); c.New != Degraded || c.HostNew != Degraded || !c.HostChanged {
		t.Errorf("tcp degraded: %+v", c)
	}
	if c := step(2, 3, Timeout); c.New != Down || c.HostNew != Degraded || c.HostChanged {
		t.Errorf("tcp down: %+v", c) // up + down is still degraded
	}
	st := h.Status()
	if st.State != Degraded || st.Transitions != 2 || st.Since.Time() != t0.Add(2*time.Second) {
		t.Errorf("host status %+v", st)
	}
	// Host-level snapshot: the primary (icmp) check's.
	if hs := h.Snapshot(); hs.Probes != 1 || hs.State != Degraded || hs.Transitions != 2 || h.Check(0).Snapshot().State != Up {
		t.Errorf("host snapshot: %d probes, %v", hs.Probes, hs.State)
	}
	// Reload: the tcp check moves to another port (starts over), the
	// heartbeat is dropped; icmp keeps its state; the host is up again.
	hs2 := hs
	hs2.Checks = []obs.CheckSpec{hs.Checks[0], {Name: "tcp:5433", Kind: obs.KindTCP, Addr: a}}
	r, err := tab.Reload([]HostSpec{hs2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kept != 1 || r.Added != 1 || r.Removed != 3 {
		t.Errorf("reload %+v", r)
	}
	h = tab.View().Lookup("db")
	if h.Check(0).Snapshot().Probes != 1 || h.Check(1).Snapshot().State != Unknown {
		t.Error("reload did not keep icmp / reset tcp")
	}
	if st := h.Status(); st.State != Up || st.Transitions != 3 {
		t.Errorf("after reload host %+v", st)
	}
	// Restore per check.
	if err := tab.Restore(1, Down, t0, 7); err != nil {
		t.Fatal(err)
	}
	if s := h.Check(1).Snapshot(); s.State != Down || s.Transitions != 7 {
		t.Errorf("restored %+v", s)
	}
	if st := h.Status(); st.State != Degraded {
		t.Errorf("host after restore %v", st.State)
	}
}

// TestRingEncoding: the ring keeps instants as offsets from a base,
// microseconds while they span it, milliseconds once they do not. Every
// result reads back as it was applied: exactly when the instants are
// whole microseconds and the ring spans under 71 minutes, to the
// millisecond below that otherwise; across interval changes, clock
// steps backwards, long gaps, and every outcome, method and ICMP
// type/code.
func TestRingEncoding(t *testing.T) {
	type step struct {
		name string
		gap  func(i int) time.Duration // before result i
	}
	for _, tc := range []step{
		{"10s", func(int) time.Duration { return 10 * time.Second }},
		{"sub-microsecond", func(i int) time.Duration { return time.Second + time.Duration(i)*time.Nanosecond*333 }},
		{"hourly", func(int) time.Duration { return time.Hour }},
		{"daily", func(int) time.Duration { return 24 * time.Hour }},
		{"weekly", func(i int) time.Duration { return 7*24*time.Hour + time.Duration(i)*time.Millisecond }},
		{"weekly then 10s", func(i int) time.Duration {
			if i < 25 {
				return 7 * 24 * time.Hour
			}
			return 10*time.Second + 3*time.Microsecond
		}},
		{"10s then hourly then 10s", func(i int) time.Duration {
			if i >= 20 && i < 45 {
				return time.Hour + 123*time.Microsecond
			}
			return 10 * time.Second
		}},
		{"clock steps back", func(i int) time.Duration {
			if i%7 == 6 {
				return -3 * time.Minute
			}
			return 10*time.Second + 7*time.Microsecond
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Snapshot
			var want []Result
			var coarse []time.Duration // the coarsest unit a result was kept in (by the span of its rings)
			at := t0
			for i := range 80 {
				at = at.Add(tc.gap(i))
				r := Result{At: NanoOf(at), RTTNanos: uint32(i * 1000), Outcome: Outcome(1 + i%3), Method: Method(i % 4),
					ICMPType: uint8(i), ICMPCode: uint8(255 - i)}
				s.push(r)
				want, coarse = append(want, r), append(coarse, time.Microsecond)
				if len(want) > Window {
					want, coarse = want[1:], coarse[1:]
				}
				got := s.Recent(nil)
				if len(got) != len(want) {
					t.Fatalf("result %d: ring holds %d, want %d", i, len(got), len(want))
				}
				var lo, hi UnixNano = want[0].At, want[0].At
				for _, w := range want {
					lo, hi = min(lo, w.At), max(hi, w.At)
				}
				for j := range coarse {
					switch span := time.Duration(hi - lo); {
					case span > 49*24*time.Hour:
						coarse[j] = time.Second
					case span > 70*time.Minute:
						coarse[j] = max(coarse[j], time.Millisecond)
					}
				}
				for j := range want {
					g, w := got[j], want[j]
					tol := UnixNano(coarse[j])
					if d := w.At - g.At; d < 0 || d >= tol {
						t.Fatalf("result %d, ring[%d]: at %v, want %v (tolerance %v)", i, j, g.At.Time(), w.At.Time(), time.Duration(tol))
					}
					g.At = w.At
					if g != w {
						t.Fatalf("result %d, ring[%d]: %+v, want %+v", i, j, g, w)
					}
				}
				if s.Last().RTTNanos != r.RTTNanos || s.Last().ICMPCode != r.ICMPCode {
					t.Fatalf("result %d: last %+v", i, s.Last())
				}
			}
		})
	}
}

// TestSnapshotSize keeps the snapshot, what a reader copies and an event
// holds, in the 512-byte allocation class: 344 bytes plus its health blob
// by value (which the table keeps in a slot off the heap, not behind a
// pointer per check). It was 480 with a 16-byte Result ring and the
// window statistics stored, and the blob behind a pointer.
func TestSnapshotSize(t *testing.T) {
	if n := unsafe.Sizeof(Snapshot{}); n > 512 {
		t.Errorf("Snapshot is %d bytes, budget 512", n)
	}
}

// TestHostAddr: a host's address (and its checks', which are the host's
// unless given) reads back as given: IPv4 (unmapped), IPv6, IPv6 with a
// zone, none; and the table's entries keep their sizes.
func TestHostAddr(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("::ffff:198.18.0.2"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2%eth1"), {}}
	var specs []HostSpec
	for i, a := range addrs {
		specs = append(specs, HostSpec{Name: fmt.Sprint("h", i), Addr: a, Labels: Labels{{"role", "web"}},
			Checks: []obs.CheckSpec{{Name: "icmp", Kind: obs.KindICMP, Addr: a, Target: fmt.Sprint("h", i)}}})
	}
	tab, err := New(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range addrs {
		h := tab.View().Host(i)
		if h.Addr() != a.Unmap() || h.Spec().Addr != a.Unmap() || h.Check(0).Spec().Addr != a.Unmap() || h.Check(0).Addr() != a.Unmap() {
			t.Errorf("%v reads back as %v, spec %v, check %v", a, h.Addr(), h.Spec().Addr, h.Check(0).Spec().Addr)
		}
		if l, _ := h.Labels().Get("role"); l != "web" || h.Check(0).Spec().Target != h.Spec().Name {
			t.Errorf("%v: labels %v, target %q", a, h.Labels(), h.Check(0).Spec().Target)
		}
	}
	if hs, cs := unsafe.Sizeof(Host{}), unsafe.Sizeof(Check{}); hs > 64 || cs > 40 {
		t.Errorf("Host %d bytes, Check %d: want at most 64 and 40", hs, cs)
	}
}
