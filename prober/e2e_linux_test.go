package prober

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
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

	e := newEngineIn(t, f, Config{Rate: -1, Timeout: 500 * time.Millisecond, Socket: SocketRaw})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sums, err := e.Once(ctx, ts, OnceOptions{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", e.Stats())
	want := func(from, n int, check func(*Summary) string) {
		t.Helper()
		bad := 0
		for i := from; i < from+n; i++ {
			if msg := check(&sums[i]); msg != "" {
				if bad < 5 {
					t.Errorf("%v: %s (last %+v)", sums[i].Target.Addr, msg, sums[i].Last)
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
	errCheck := func(s *Summary) string {
		if s.LastProblem == nil || s.LastProblem.Outcome != OutcomeICMPError {
			return "no ICMP error recorded"
		}
		if s.LastProblem.From != f.Gateway4 && s.LastProblem.From != f.Gateway6 {
			return "ICMP error from " + s.LastProblem.From.String()
		}
		return ""
	}
	timeoutCheck := func(s *Summary) string {
		if s.Received != 0 || s.Last.Outcome != OutcomeTimeout {
			return "expected a timeout, got " + s.Last.Outcome.String()
		}
		return ""
	}
	i := 0
	want(i, len(ok4), okCheck)
	i += len(ok4)
	want(i, len(ok6), okCheck)
	i += len(ok6)
	want(i, len(un4)+len(un6), errCheck)
	i += len(un4) + len(un6)
	want(i, len(bh4)+len(bh6), timeoutCheck)
	st := e.Stats()
	if st.Duplicates != 0 || st.BadCookie != 0 || st.WrongSrc != 0 {
		t.Errorf("unexpected counters: %+v", st)
	}
}
