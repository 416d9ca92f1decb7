// SPDX-License-Identifier: MIT

package prober

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/hbmon/hb/wire"
)

// refLast is the rule Summary.Last follows, as the full-Result summary
// kept it: the last OK result, else the last result.
func refLast(rs []Result) (last Result) {
	ok := false
	for _, r := range rs {
		if r.Outcome == OutcomeOK {
			last, ok = r, true
		} else if !ok {
			last = r
		}
	}
	return last
}

// The compact summary rebuilds what the outputs read of the last result
// (outcome, RTT, method, health, blob error, stale; ICMP errors in full)
// for random result sequences, health kinds changing from probe to probe.
func TestSummaryLastMatchesFullResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tg := Target{Addr: netip.MustParseAddr("198.18.0.7"), Name: "x"}
	torn := errors.New("torn")
	for n := 0; n < 2000; n++ {
		s := Summary{Target: &tg}
		var rs []Result
		for range 1 + rng.IntN(5) {
			r := Result{Target: 7, Addr: tg.Addr, Seq: uint16(rng.IntN(100)), Sent: time.Unix(int64(rng.IntN(100)), 0)}
			switch rng.IntN(4) {
			case 0:
				r.Outcome = OutcomeTimeout
			case 1:
				r.Outcome = OutcomeICMPError
				r.ICMPType, r.ICMPCode, r.From = 3, uint8(rng.IntN(4)), netip.MustParseAddr("198.18.0.1")
			default:
				r.Outcome, r.RTT, r.Method = OutcomeOK, time.Duration(1+rng.IntN(1e6)), TSKernelTxRx
				switch rng.IntN(4) {
				case 1:
					r.HealthKind, r.Health = HealthHBH1, wire.Health{CPUBusy: uint16(rng.IntN(1000)), Uptime: 99}
					r.Stale = rng.IntN(2) == 0
				case 2:
					r.HealthKind, r.HBM2 = HealthHBM2, wire.HBM2{CPUPercent: 12.5}
				case 3:
					r.BlobErr = torn
				}
			}
			rs = append(rs, r)
			s.Add(&rs[len(rs)-1])
		}
		want, got := refLast(rs), s.Last()
		if want.Outcome != OutcomeICMPError {
			want.Seq, want.Sent = 0, time.Time{} // not kept
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("results %+v:\nLast() %+v\nwant   %+v", rs, got, want)
		}
		h := s.Health()
		if s.Received == 0 && *h != (LastHealth{}) {
			t.Fatalf("no answer but health %+v", h)
		}
		if h.HealthKind != want.HealthKind || h.Stale != want.Stale || h.BlobErr != want.BlobErr {
			t.Fatalf("Health() %+v, last result %+v", h, want)
		}
	}
	if sz := unsafe.Sizeof(Summary{}); sz > 128 {
		t.Errorf("Summary is %d bytes; a sweep keeps one per target", sz)
	}
}
