// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/responder"
	"github.com/hbmon/hb/wire"
)

// newEngineIn opens an engine inside the fleet's prober namespace.
func newEngineIn(t *testing.T, f *testutil.Fleet, cfg Config) *Engine {
	t.Helper()
	var e *Engine
	err := f.Prober.Do(func() error {
		var err error
		e, err = New(cfg)
		return err
	})
	if err != nil {
		testutil.SkipIfPermission(t, "open the prober sockets", err)
	}
	t.Cleanup(func() { e.Close() })
	t.Logf("mode: %v", e.Mode())
	if m := e.Mode().Timestamps; m == TSKernelTxRx || m == TSKernelRx {
		holdRxTimestamps(t)
	}
	return e
}

func targetsOf(addrs ...[]netip.Addr) []Target {
	var ts []Target
	for _, as := range addrs {
		for _, a := range as {
			ts = append(ts, Target{Addr: a, Name: a.String()})
		}
	}
	return ts
}

func TestFleetEndToEnd(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	c := testutil.DefaultFleet
	ok4 := testutil.FleetAddrs(t, c.Local[0], 4095)
	ok6 := testutil.FleetAddrs(t, c.Local[1], 256)
	un4 := testutil.FleetAddrs(t, c.Unreachable[0], 4)
	un6 := testutil.FleetAddrs(t, c.Unreachable[1], 4)
	bh4 := testutil.FleetAddrs(t, c.Blackhole[0], 4)
	bh6 := testutil.FleetAddrs(t, c.Blackhole[1], 4)
	ts := targetsOf(ok4, ok6, un4, un6, bh4, bh6)

	// One loop, and the sweep split over two (Config.Shards: a second raw
	// socket with its own id and filter).
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			fleetSweep(t, f, ts, shards, len(ok4), len(ok6), len(un4)+len(un6), len(bh4)+len(bh6))
		})
	}
}

// hostsDestUnreachs reads how many ICMP and ICMPv6 destination-unreachable
// errors the hosts namespace has sent.
func hostsDestUnreachs(t *testing.T, f *testutil.Fleet) int {
	t.Helper()
	n := 0
	out, err := f.Hosts.Command("cat", "/proc/net/snmp", "/proc/net/snmp6").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Icmp: ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "Icmp: ") {
			names, vals := strings.Fields(l), strings.Fields(lines[i+1])
			for k := range names {
				if names[k] == "OutDestUnreachs" && k < len(vals) {
					v, _ := strconv.Atoi(vals[k])
					n += v
				}
			}
		}
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Icmp6OutDestUnreachs" {
			v, _ := strconv.Atoi(f[1])
			n += v
		}
	}
	return n
}

func fleetSweep(t *testing.T, f *testutil.Fleet, ts []Target, shards, nOK4, nOK6, nUn, nBH int) {
	unreachBefore := hostsDestUnreachs(t, f)
	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 500 * time.Millisecond, Socket: SocketRaw, Shards: shards})
	if len(e.shards) != shards-1 {
		t.Fatalf("%d shards opened, want %d", len(e.shards)+1, shards)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sums, err := e.Once(ctx, ts, OnceOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", e.Stats())
	errsSent := hostsDestUnreachs(t, f) - unreachBefore
	want := func(from, n int, check func(*Summary) string) {
		t.Helper()
		bad := 0
		for i := from; i < from+n; i++ {
			if msg := check(&sums[i]); msg != "" {
				if bad < 5 {
					t.Errorf("%v: %s (last %+v)", sums[i].Target.Addr, msg, sums[i].Last())
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d targets from %v wrong", bad, n, sums[from].Target.Addr)
		}
	}
	okCheck := func(s *Summary) string {
		switch {
		case s.Received != 1:
			return "no reply"
		case s.Method != TSKernelTxRx:
			return "RTT not from kernel TX+RX timestamps: " + s.Method.String()
		case s.Min <= 0 || s.Min > time.Second:
			return "implausible RTT " + s.Min.String()
		}
		return ""
	}
	// The hosts namespace's kernel may itself drop an ICMP error while it
	// is busy answering echoes on the same CPU (its counters say how many
	// it sent): such a target times out, and every error sent is matched.
	errsGot := 0
	errCheck := func(s *Summary) string {
		if s.LastProblem == nil || s.LastProblem.Outcome != OutcomeICMPError {
			if s.Received == 0 && s.Last().Outcome == OutcomeTimeout {
				return ""
			}
			return "neither an ICMP error nor a timeout"
		}
		errsGot++
		if s.LastProblem.From != f.Gateway4 && s.LastProblem.From != f.Gateway6 {
			return "ICMP error from " + s.LastProblem.From.String()
		}
		return ""
	}
	timeoutCheck := func(s *Summary) string {
		if s.Received != 0 || s.Last().Outcome != OutcomeTimeout {
			return "expected a timeout, got " + s.Last().Outcome.String()
		}
		return ""
	}
	i := 0
	want(i, nOK4, okCheck)
	i += nOK4
	want(i, nOK6, okCheck)
	i += nOK6
	want(i, nUn, errCheck)
	i += nUn
	want(i, nBH, timeoutCheck)
	if errsGot != errsSent || errsGot == 0 {
		t.Errorf("%d ICMP errors matched, the hosts namespace sent %d (of %d unreachable targets)", errsGot, errsSent, nUn)
	}
	st := e.Stats()
	if st.Duplicates != 0 || st.BadCookie != 0 || st.WrongSrc != 0 {
		t.Errorf("unexpected counters: %+v", st)
	}
}

// TestFleetUDPHealth runs UDP probes against hb-responder's userspace UDP
// responder in the hosts namespace: sealed health blobs decode with the
// key; a host without a responder answers with ICMP port unreachable,
// which arrives through the error queue.
func TestFleetUDPHealth(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i)
	}
	key, err := wire.NewKey(9, master)
	if err != nil {
		t.Fatal(err)
	}
	withResponder := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 2)
	noResponder := netip.MustParseAddr("198.18.1.1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var gen atomic.Uint64
	blob := func() []byte {
		h := wire.Health{BootID: wire.BootID{1}, Generation: gen.Add(1), CollectedAt: time.Now().UnixNano(), CPUBusy: 123, Uptime: 3600, MemTotal: 1000, MemAvailable: 400}
		h.SetHostname("sim-host")
		b := make([]byte, wire.BlobSize)
		if err := wire.EncodeBlob(b, &h, key); err != nil {
			panic(err)
		}
		return b
	}
	var resps []*responder.UDPResponder
	for _, a := range withResponder {
		var pc *net.UDPConn
		if err := f.Hosts.Do(func() error {
			var err error
			pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, wire.DefaultUDPPort)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r := &responder.UDPResponder{Conn: pc, Judge: responder.Judge{Key: key, Port: wire.DefaultUDPPort}, Blob: blob}
		resps = append(resps, r)
		done := make(chan error, 1)
		go func() { done <- r.Serve(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("responder %v stopped: %v", a, err)
			}
			pc.Close()
		})
	}
	// diag says, on a failure, what each side counted: the engine's stats
	// and each responder's verdicts.
	diag := func(e *Engine) {
		t.Logf("engine stats: %+v", e.Stats())
		for i, r := range resps {
			t.Logf("responder %v: %+v", withResponder[i], r.Counters())
		}
	}
	e := newEngineIn(t, f, Config{Proto: ProtoUDP, Key: key, Timeout: 500 * time.Millisecond, IPv4: true})
	if e.Mode().Socket != SocketUDP {
		t.Fatalf("mode %v, want udp", e.Mode())
	}
	sums, err := e.Once(ctx, targetsOf(withResponder, []netip.Addr{noResponder}), OnceOptions{Count: 2, Period: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", e.Stats())
	for _, s := range sums[:2] {
		l := s.Last()
		if s.Received != 2 || l.HealthKind != HealthHBH1 || !l.Health.Sealed() || l.Health.HostnameString() != "sim-host" || l.Health.CPUBusy != 123 || l.Stale || l.BlobErr != nil {
			t.Errorf("%v: received %d, health %v %+v, blob err %v", s.Target.Addr, s.Received, l.HealthKind, l.Health, l.BlobErr)
		}
		if l.Method == TSInvalid || l.Method == TSUser {
			t.Errorf("%v: RTT method %v", s.Target.Addr, l.Method)
		}
	}
	if t.Failed() {
		diag(e)
	}
	if p := sums[2].LastProblem; p == nil || p.Outcome != OutcomeICMPError || p.ICMPType != 3 || p.ICMPCode != 3 {
		t.Errorf("no responder: want port unreachable, got %+v", sums[2].Last())
	}
	// Without the key, or with another one, the responder still answers
	// (HBR1 without health): the host is up, with no health.
	other, _ := wire.NewKey(key.ID, bytes.Repeat([]byte{0x77}, wire.KeyLen))
	for _, k := range []*wire.Key{nil, other} {
		e := newEngineIn(t, f, Config{Proto: ProtoUDP, Key: k, Timeout: 500 * time.Millisecond, IPv4: true})
		sums, err := e.Once(ctx, targetsOf(withResponder, nil), OnceOptions{Count: 2, Period: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sums {
			if l := s.Last(); s.Received != 2 || l.Outcome != OutcomeOK || l.HealthKind != HealthNone || l.BlobErr != nil {
				t.Errorf("key %v: %v: received %d, outcome %v, health %v, blob err %v; want up without health", k != nil, s.Target.Addr, s.Received, l.Outcome, l.HealthKind, l.BlobErr)
			}
		}
		if t.Failed() {
			diag(e)
		}
	}
}

// TestFleetPingSockets runs the unprivileged ping-socket mode (allowed in
// the prober namespace through net.ipv4.ping_group_range): the kernel
// rewrites the ICMP id, matching copes; errors come from the error queue.
func TestFleetPingSockets(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	f.Prober.Sysctl(t, "net.ipv4.ping_group_range", "0 2147483647")
	e := newEngineIn(t, f, Config{Socket: SocketPing, Timeout: 500 * time.Millisecond})
	c := testutil.DefaultFleet
	ok := append(testutil.FleetAddrs(t, c.Local[0], 64), testutil.FleetAddrs(t, c.Local[1], 64)...)
	un := []netip.Addr{testutil.FleetAddrs(t, c.Unreachable[0], 1)[0], testutil.FleetAddrs(t, c.Unreachable[1], 1)[0]}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sums, err := e.Once(ctx, targetsOf(ok, un), OnceOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", e.Stats())
	for _, s := range sums[:len(ok)] {
		if l := s.Last(); s.Received != 1 || s.Method == TSUser {
			t.Errorf("%v: received %d method %v (%v)", s.Target.Addr, s.Received, s.Method, l.Problem())
		}
	}
	for _, s := range sums[len(ok):] {
		if s.LastProblem == nil || s.LastProblem.Outcome != OutcomeICMPError || !s.LastProblem.From.IsValid() {
			t.Errorf("%v: want an ICMP error, got %+v", s.Target.Addr, s.Last())
		}
	}
}
