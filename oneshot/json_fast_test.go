// SPDX-License-Identifier: MIT

package oneshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/hbmon/hb/prober"
)

// WriteJSON's direct writer and the encoder write the same bytes: every
// summary below goes through WriteJSON and, one by one, through the
// encoder alone; the plain ones must also have taken the direct path.
func TestWriteJSONPlainMatchesEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var sums []prober.Summary
	plain := 0
	add := func(s prober.Summary, isPlain bool) {
		sums = append(sums, s)
		if _, ok := appendPlainJSON(nil, &s); ok != isPlain {
			t.Errorf("%+v: direct path %v, want %v", *s.Target, ok, isPlain)
		}
		if isPlain {
			plain++
		}
	}
	a4, a6 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")
	rtts := []time.Duration{1, 999, 2704, 123456, time.Millisecond, 499 * time.Millisecond, 3 * time.Hour, 1 << 62}
	for i := 0; i < 300; i++ {
		a := a4
		if i%3 == 0 {
			a = a6
		}
		s := prober.Summary{Target: &prober.Target{Addr: a, Name: a.String()}, Sent: 1 + rng.IntN(4)}
		s.Received = rng.IntN(s.Sent + 1)
		if s.Received > 0 {
			s.Min = rtts[rng.IntN(len(rtts))]
			s.Max = s.Min + time.Duration(rng.IntN(1e6))
			s.Sum = s.Min * time.Duration(s.Received)
			s.Method = prober.TSMethod(rng.IntN(4))
		}
		add(s, true)
	}
	add(prober.Summary{Target: &prober.Target{Addr: a4, Name: "never-sent"}}, true)
	odd := prober.Summary{Target: &prober.Target{Addr: a4, Name: "db<1>&\"x\""}, Sent: 1}
	add(odd, false)
	lab := prober.Summary{Target: &prober.Target{Addr: a4, Name: "l", Labels: map[string]string{"role": "db"}}, Sent: 1, Received: 1, Min: 5, Max: 5, Sum: 5}
	add(lab, false)
	p := prober.Result{Addr: a4, Outcome: prober.OutcomeICMPError, ICMPType: 3, ICMPCode: 1, From: a6}
	add(prober.Summary{Target: &prober.Target{Addr: a4, Name: "e"}, Sent: 1, Errors: 1, LastProblem: &p}, false)
	blob := prober.Summary{Target: &prober.Target{Addr: a4, Name: "b"}}
	blob.Add(&prober.Result{Outcome: prober.OutcomeOK, RTT: 5, Method: prober.TSKernelTxRx, BlobErr: errors.New("torn")})
	add(blob, false)
	if plain < 300 {
		t.Fatalf("only %d plain summaries", plain)
	}

	var got, want bytes.Buffer
	if err := WriteJSON(&got, sums); err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&want)
	for i := range sums {
		if err := enc.Encode(jsonSummary(&sums[i], time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
	if len(gl) != len(wl) {
		t.Fatalf("%d lines, want %d", len(gl), len(wl))
	}
	for i := range gl {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Errorf("line %d:\n got %s\nwant %s", i, gl[i], wl[i])
		}
	}
}

func TestAppendJSONFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 1.0 / 3, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 123456789.125, 1e20, 1e21, 2.5e300, 1e-300} {
		want, _ := json.Marshal(f)
		if got := appendJSONFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("%g: %s, want %s", f, got, want)
		}
	}
}
