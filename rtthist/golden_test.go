// SPDX-License-Identifier: MIT

package rtthist

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

var update = flag.Bool("update", false, "rewrite testdata/exposition.golden")

// goldenSpecs is the fleet of TestExpositionGolden in one generation:
// hosts from..to-1, each with an icmp check, every 5th with tcp and http
// checks too; some names need escaping; some hosts carry a site label.
func goldenSpecs(from, to int) []state.HostSpec {
	var hs []state.HostSpec
	for i := from; i < to; i++ {
		name := fmt.Sprintf("h%03d", i)
		if i%41 == 7 {
			name = fmt.Sprintf("we\"ird\\h%03d\n", i)
		}
		h := state.HostSpec{Name: name, Checks: []obs.CheckSpec{{Host: name, Name: "icmp", Kind: obs.KindICMP, Interval: time.Second, Timeout: time.Second}}}
		if i%3 == 0 {
			h.Labels = state.Labels{{Key: "site", Value: fmt.Sprintf("s%d", i%4)}}
		}
		if i%5 == 0 {
			h.Checks = append(h.Checks,
				obs.CheckSpec{Host: name, Name: "tcp:443", Kind: obs.KindTCP, Interval: time.Second, Timeout: time.Second},
				obs.CheckSpec{Host: name, Name: "http:/x", Kind: obs.KindHTTP, Interval: time.Second, Timeout: time.Second})
		}
		hs = append(hs, h)
	}
	return hs
}

// goldenRound publishes r results for every check of v's generation (and
// stale ones of an older generation, gen/ids from old) and waits until s
// has taken them all.
func goldenRound(t *testing.T, s *Set, v, old *state.View, round int) {
	t.Helper()
	bus := &event.Bus{}
	sub := bus.SubscribeBatch("rtthist", 1<<16, event.Result)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), sub) }()
	pub := func(gen uint64, c *state.Check, j int) {
		i := c.ID*7 + j*13 + round*101
		o := &obs.Observation{Outcome: obs.OK, RTT: time.Duration(100+(i*37)%5000) * time.Microsecond}
		switch {
		case i%23 == 0:
			o.RTT = time.Duration(1+i%9000) * time.Millisecond // far from the window: dense
		case i%19 == 0:
			o.Outcome, o.RTT = obs.Timeout, 0
		case i%29 == 0:
			o.RTT = 0 // dropped
		}
		if c.Spec().Kind == obs.KindHTTP || c.Spec().Kind == obs.KindTCP {
			o.Metrics = []obs.Metric{{Name: "connect_seconds", Value: float64(i%97) / 1e4}, {Name: "duration_seconds", Value: float64(i%89) / 1e3}}
			if c.Spec().Kind == obs.KindHTTP {
				o.Metrics = append(o.Metrics, obs.Metric{Name: MetricStatus, Value: float64(200 + i%3)},
					obs.Metric{Name: MetricCertEnd, Value: 1.8e9 + float64(i)})
			}
		}
		bus.Publish(event.Event{Type: event.Result, Host: c.Spec().Host, Check: c.Spec().Name, Kind: c.Spec().Kind,
			Obs: o, Gen: gen, ID: c.ID})
	}
	for j := range 3 {
		for _, c := range v.Checks() {
			pub(v.Gen, c, j)
		}
		if old != nil {
			for k, c := range old.Checks() {
				if k%4 == 0 && v.LookupCheck(c.Spec().Host, c.Spec().Name) != nil {
					pub(old.Gen, c, j)
				}
			}
		}
	}
	sub.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestExpositionGolden: the text and protobuf expositions of a fleet's
// histograms (classic and native buckets, tcp/http gauges, exported
// labels, escaping), across a reload that removes, adds and renumbers
// checks and results of the old generation arriving after it, are byte
// for byte those of testdata/exposition.golden (written by -update from
// the map-per-series implementation that the slice indexed by table id
// replaced), with and without
// the table.
func TestExpositionGolden(t *testing.T) {
	for _, withTable := range []bool{false, true} {
		t.Run(fmt.Sprintf("table=%v", withTable), func(t *testing.T) {
			tab, err := state.New(goldenSpecs(0, 40), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Buckets: []float64{0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.1, 1}, NativeFactor: 1.1, ExportLabels: []string{"site", "none"},
				Labels: func(host string) []string {
					vals := make([]string, 2)
					if h := tab.View().Lookup(host); h != nil {
						vals[0], _ = h.Spec().Labels.Get("site")
					}
					return vals
				}}
			if withTable {
				cfg.Table = tab
			}
			s := New(cfg)
			var out bytes.Buffer
			text := func() {
				fmt.Fprintf(&out, "=== text\n")
				if _, err := s.WriteTo(&out); err != nil {
					t.Fatal(err)
				}
			}
			pb := func() {
				var b bytes.Buffer
				if err := s.WriteProto(&b); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&out, "=== proto\n")
				for p := b.Bytes(); len(p) > 0; {
					n := min(len(p), 48)
					fmt.Fprintf(&out, "%s\n", hex.EncodeToString(p[:n]))
					p = p[n:]
				}
			}
			v1 := tab.View()
			goldenRound(t, s, v1, nil, 0)
			text()
			// Reload: 0..9 removed, 200..211 added in front, the rest renumbered.
			if _, err := tab.Reload(append(goldenSpecs(200, 212), goldenSpecs(10, 40)...)); err != nil {
				t.Fatal(err)
			}
			v2 := tab.View()
			s.Relabel(func(host, check string) bool { return v2.LookupCheck(host, check) != nil })
			goldenRound(t, s, v2, v1, 1)
			text()
			pb() // native on from here, counts restarted
			goldenRound(t, s, v2, nil, 2)
			text()
			pb()
			if withTable && len(s.byName) != 0 {
				t.Errorf("%d series found by name, want every one by table id", len(s.byName))
			}
			path := filepath.Join("testdata", "exposition.golden")
			if *update && !withTable {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				got := filepath.Join(t.TempDir(), "got")
				os.WriteFile(got, out.Bytes(), 0o644)
				t.Fatalf("exposition differs from %s (%d bytes, want %d); diff %s %s", path, out.Len(), len(want), path, got)
			}
		})
	}
}
