// SPDX-License-Identifier: MIT

package oneshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/wire"
)

// refTable is the table as hb-probe printed it with text/tabwriter before
// WriteTable replaced it (kept as the reference for the layout).
func refTable(w io.Writer, sums []prober.Summary) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSTATE\tRTT MIN/AVG/MAX ms\tLOSS\tCPU\tLOAD\tMEM\tDISK\tUPTIME\tNOTE")
	for i := range sums {
		s := &sums[i]
		name := s.Target.Name
		if name != s.Target.Addr.String() {
			name += " (" + s.Target.Addr.String() + ")"
		}
		rtt := "-"
		if s.Received > 0 {
			rtt = ms(s.Min) + "/" + ms(s.Avg()) + "/" + ms(s.Max)
		}
		cpu, load, mem, disk, up := "-", "-", "-", "-", "-"
		l := s.Health()
		switch l.HealthKind {
		case prober.HealthHBH1:
			h := &l.Health
			cpu = fmt.Sprintf("%.1f%%", float64(h.CPUBusy)/10)
			load = fmt.Sprintf("%.2f", float64(h.Load1)/1000)
			if h.MemTotal > 0 {
				mem = fmt.Sprintf("%.0f%%", 100*float64(h.MemTotal-h.MemAvailable)/float64(h.MemTotal))
			}
			if h.RootTotal > 0 {
				disk = fmt.Sprintf("%.0f%%", 100*float64(h.RootUsed)/float64(h.RootTotal))
			}
			d := time.Duration(h.Uptime) * time.Second
			if days := int(d.Hours()) / 24; days > 0 {
				up = fmt.Sprintf("%dd%dh", days, int(d.Hours())%24)
			} else {
				up = fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
			}
		case prober.HealthHBM2:
			cpu = fmt.Sprintf("%.1f%%", l.HBM2.CPUPercent)
			mem = fmt.Sprintf("%.0f%%", l.HBM2.MemPercent)
			disk = fmt.Sprintf("%.0f%%", l.HBM2.DiskPercent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f%%\t%s\t%s\t%s\t%s\t%s\t%s\n", name, State(s), rtt, 100*s.Loss(), cpu, load, mem, disk, up, Note(s))
	}
	tw.Flush()
}

// variedSums covers every table branch: up with HBH1 health (days and
// hours of uptime), HBM2, no health, degraded, down, unreachable, a name
// that is not the address, a non-ASCII name.
func variedSums() []prober.Summary {
	mk := func(name, addr string) prober.Summary {
		return prober.Summary{Target: &prober.Target{Name: name, Addr: netip.MustParseAddr(addr)}}
	}
	ok := func(rtt time.Duration) *prober.Result {
		return &prober.Result{Outcome: prober.OutcomeOK, RTT: rtt, Method: prober.TSKernelTxRx}
	}
	var sums []prober.Summary

	s := mk("web-1", "198.18.0.1")
	r := ok(312 * time.Microsecond)
	r.HealthKind = prober.HealthHBH1
	r.Health = wire.Health{CPUBusy: 123, Load1: 1500, MemTotal: 8 << 30, MemAvailable: 3 << 30, RootTotal: 100, RootUsed: 37, Uptime: 3*86400 + 5*3600}
	r.Health.SetHostname("web-1.example")
	s.Add(r)
	sums = append(sums, s)

	s = mk("198.18.0.2", "198.18.0.2")
	r = ok(1500 * time.Microsecond)
	r.HealthKind = prober.HealthHBH1
	r.Health = wire.Health{CPUBusy: 5, Load1: 20, Uptime: 2*3600 + 7*60}
	r.Stale = true
	s.Add(r)
	sums = append(sums, s)

	s = mk("légacy", "2001:db8::7")
	r = ok(2 * time.Millisecond)
	r.HealthKind = prober.HealthHBM2
	r.HBM2 = wire.HBM2{CPUPercent: 12.35, MemPercent: 50.5, DiskPercent: 99.9}
	s.Add(r)
	sums = append(sums, s)

	s = mk("plain", "198.18.0.4")
	s.Add(ok(100 * time.Microsecond))
	s.Add(&prober.Result{Outcome: prober.OutcomeTimeout})
	s.Add(ok(900 * time.Microsecond))
	sums = append(sums, s)

	s = mk("198.18.0.5", "198.18.0.5")
	s.Add(&prober.Result{Outcome: prober.OutcomeTimeout})
	sums = append(sums, s)

	s = mk("gone", "198.18.0.6")
	s.Add(&prober.Result{Outcome: prober.OutcomeICMPError, Addr: netip.MustParseAddr("198.18.0.6"), ICMPType: 3, ICMPCode: 1, From: netip.MustParseAddr("198.19.0.254")})
	sums = append(sums, s)

	s = mk("bad-blob", "198.18.0.7")
	r = ok(700 * time.Microsecond)
	r.HealthKind = prober.HealthHBH1
	r.BlobErr = errors.New("bad seal")
	s.Add(r)
	sums = append(sums, s)
	return sums
}

func TestWriteTableMatchesTabwriter(t *testing.T) {
	sums := variedSums()
	var got, want bytes.Buffer
	if err := WriteTable(&got, sums); err != nil {
		t.Fatal(err)
	}
	refTable(&want, sums)
	if got.String() != want.String() {
		t.Fatalf("table differs from tabwriter's:\ngot:\n%s\nwant:\n%s", got.String(), want.String())
	}
	if n := strings.Count(got.String(), "\n"); n != len(sums)+1 {
		t.Fatalf("%d lines", n)
	}
}

func TestWriteJSONLines(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, variedSums()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 7 || !strings.Contains(lines[0], `"cpu_busy_ratio":0.123`) || !strings.Contains(lines[5], `"state":"unreachable"`) {
		t.Fatalf("JSON lines:\n%s", b.String())
	}
}

func TestResolveKeepsGoing(t *testing.T) {
	specs, err := prober.ParseSpecs(strings.NewReader("198.18.0.1\nnope.invalid\ngood.example\n198.18.1.0/30\n"), "t.txt", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	lookup := func(_ context.Context, h string) ([]netip.Addr, error) {
		calls.Add(1)
		if h == "good.example" {
			return []netip.Addr{netip.MustParseAddr("198.18.9.9")}, nil
		}
		return nil, errors.New("no such host")
	}
	ts, _, bad, err := Resolve(context.Background(), specs, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Spec.Host != "nope.invalid" || !strings.Contains(bad[0].Error(), "t.txt:2") {
		t.Fatalf("unresolved: %v", bad)
	}
	var got []string
	for _, x := range ts {
		got = append(got, x.Name+"="+x.Addr.String())
	}
	want := "198.18.0.1=198.18.0.1 good.example=198.18.9.9 198.18.1.1=198.18.1.1 198.18.1.2=198.18.1.2"
	if strings.Join(got, " ") != want || calls.Load() != 2 {
		t.Fatalf("targets %v (%d lookups)", got, calls.Load())
	}
}

func benchSums(n int) []prober.Summary {
	sums := make([]prober.Summary, n)
	a := netip.MustParseAddr("198.18.0.0")
	for i := range sums {
		sums[i].Target = &prober.Target{Name: a.String(), Addr: a}
		sums[i].Add(&prober.Result{Outcome: prober.OutcomeOK, RTT: time.Duration(100000 + i), Method: prober.TSKernelTxRx})
		a = a.Next()
	}
	return sums
}

// The --once outputs for 65,536 answered targets (no health), to a
// discarding writer: go test -bench 'Write' -benchmem ./oneshot/
func BenchmarkWriteTable65536(b *testing.B) {
	sums := benchSums(65536)
	for b.Loop() {
		WriteTable(io.Discard, sums)
	}
}

func BenchmarkWriteJSON65536(b *testing.B) {
	sums := benchSums(65536)
	for b.Loop() {
		WriteJSON(io.Discard, sums)
	}
}

func BenchmarkTabwriter65536(b *testing.B) {
	sums := benchSums(65536)
	for b.Loop() {
		refTable(io.Discard, sums)
	}
}
