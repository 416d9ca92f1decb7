// SPDX-License-Identifier: MIT

package state

import (
	"reflect"
	"testing"
	"time"
)

// TestPrefetch: Prefetch reads a batch's checks, skips ids the view does
// not have (a stale or bad id from a source), and changes nothing: every
// snapshot and host status is the same after it.
func TestPrefetch(t *testing.T) {
	specs := specsN(50)
	specs[3].Checks = append(specs[3].Checks, specs[3].Checks[0])
	specs[3].Checks[1].Name = "second"
	tab, err := New(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := tab.View()
	for id := range v.NumChecks() {
		o := obsAt(1, OK, time.Millisecond)
		if id%7 == 0 {
			o = obsAt(1, Timeout, 0)
		}
		if _, err := tab.Apply(id, o); err != nil {
			t.Fatal(err)
		}
	}
	snaps := func() ([]Snapshot, []HostStatus) {
		var ss []Snapshot
		var hs []HostStatus
		for _, c := range v.Checks() {
			ss = append(ss, c.Snapshot())
		}
		for _, h := range v.Hosts() {
			hs = append(hs, h.Status())
		}
		return ss, hs
	}
	s0, h0 := snaps()
	v.Prefetch([]int{0, 5, 3, 4, -1, v.NumChecks(), 1 << 40, v.NumChecks() - 1})
	v.Prefetch(nil)
	s1, h1 := snaps()
	if !reflect.DeepEqual(s0, s1) || !reflect.DeepEqual(h0, h1) {
		t.Fatal("Prefetch changed the table")
	}
	if got := testing.AllocsPerRun(100, func() { v.Prefetch([]int{1, 2, 3}) }); got != 0 {
		t.Errorf("Prefetch allocates %v", got)
	}
}

// BenchmarkApplyBatch100k is Apply over 100,000 one-check hosts in a
// scattered order, in batches of 64, each result's host and check names
// read after it as the writer's event does: with and without a Prefetch
// of each batch first. ns/op is per result.
func BenchmarkApplyBatch100k(b *testing.B) {
	const n, batch = 100_000, 64
	for _, pre := range []bool{false, true} {
		b.Run(map[bool]string{false: "prefetch=false", true: "prefetch=true"}[pre], func(b *testing.B) {
			tab, _ := New(specsN(n), nil)
			v := tab.View()
			ids := make([]int, batch)
			var names int
			i := 0
			for b.Loop() {
				k := i % batch
				if k == 0 {
					for j := range ids {
						ids[j] = (i + j) * 7919 % n
					}
					if pre {
						v.Prefetch(ids)
					}
				}
				ch, err := tab.Apply(ids[k], obsAt(1+i/n*10, OK, time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				names += len(ch.Check.Host().Name()) + len(ch.Check.Name())
				i++
			}
			if names == 0 {
				b.Fatal("no names")
			}
		})
	}
}
