// SPDX-License-Identifier: MIT

package oneshot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// refTm and the ref* lines are fping's formats as hb printed them with
// fmt before the append writers (kept as the reference).
func refTm(d time.Duration) string {
	t := float64(d) / 1e6
	switch {
	case t < 1:
		return fmt.Sprintf("%.3f", t)
	case t < 10:
		return fmt.Sprintf("%.2f", t)
	case t < 100:
		return fmt.Sprintf("%.1f", t)
	}
	return fmt.Sprintf("%.0f", t)
}

func refReply(name string, width, k, size int, ok bool, rtt, avg time.Duration, loss int) string {
	a := "NaN"
	if avg >= 0 {
		a = refTm(avg)
	}
	pad := name + strings.Repeat(" ", width-len(name))
	if ok {
		return fmt.Sprintf("%s : [%d], %d bytes, %s ms (%s avg, %d%% loss)\n", pad, k, size, refTm(rtt), a, loss)
	}
	return fmt.Sprintf("%s : [%d], timed out (%s avg, %d%% loss)\n", pad, k, a, loss)
}

func refSummary(h *fpingHost, width int) string {
	pad := h.name + strings.Repeat(" ", width-len(h.name))
	loss := 0
	if h.sent > 0 {
		loss = (h.sent - h.recv) * 100 / h.sent
	}
	s := fmt.Sprintf("%s : xmt/rcv/%%loss = %d/%d/%d%%", pad, h.sent, h.recv, loss)
	if h.recv > 0 {
		s += fmt.Sprintf(", min/avg/max = %s/%s/%s", refTm(h.min), refTm(h.sum/time.Duration(h.recv)), refTm(h.max))
	}
	return s + "\n"
}

var fpingDurations = []time.Duration{0, 1, 499, 500, 999_499, 999_500, 999_999, time.Millisecond, 1_234_567,
	9_994_999, 9_995_000, 9_999_999, 10 * time.Millisecond, 99_949_999, 99_950_000, 99_999_999,
	100 * time.Millisecond, 123_456_789, 999_500_000, 2 * time.Second, 3*time.Hour + 7}

// TestFPingLinesMatchFmt: the count mode's reply, timeout and summary
// lines are byte for byte what fmt made of them (fping's own formats, as
// TestFPingMatchesFping checks against fping), over RTTs around every
// precision step and rounding edge.
func TestFPingLinesMatchFmt(t *testing.T) {
	for _, d := range fpingDurations {
		if g, w := sprintTm(d), refTm(d); g != w {
			t.Errorf("sprintTm(%d) = %q, want %q", d, g, w)
		}
		if g, w := string(appendTm(nil, d)), refTm(d); g != w {
			t.Errorf("appendTm(%d) = %q, want %q", d, g, w)
		}
	}
	for i, name := range []string{"198.18.0.1", "web1.example", "2001:db8::1"} {
		width := len(name) + i*3
		for j, d := range fpingDurations {
			avg := fpingDurations[(j+5)%len(fpingDurations)]
			if j%4 == 0 {
				avg = -1
			}
			for _, ok := range []bool{true, false} {
				g := string(appendReply([]byte("x"), name, width, j*1000, 84, ok, d, avg, j*7%101))
				if w := "x" + refReply(name, width, j*1000, 84, ok, d, avg, j*7%101); g != w {
					t.Errorf("reply line %q, want %q", g, w)
				}
			}
			h := &fpingHost{name: name, sent: j + 1, recv: j % 3, min: d / 2, max: d, sum: d * time.Duration(j%3)}
			if g, w := string(appendSummary(nil, h, width)), refSummary(h, width); g != w {
				t.Errorf("summary line %q, want %q", g, w)
			}
		}
	}
}

// TestFPingLinesAllocate: the lines printed once per probe and once per
// target (65,536 of each in a sweep) allocate nothing given room in the
// buffer.
func TestFPingLinesAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	h := &fpingHost{name: "198.18.0.1", sent: 3, recv: 2, min: 1_234_567, max: 9_876_543, sum: 11_111_110}
	if n := testing.AllocsPerRun(100, func() {
		buf = appendReply(buf[:0], h.name, 16, 2, 84, true, 1_234_567, 5_555_555, 33)
		buf = appendReply(buf[:0], h.name, 16, 3, 84, false, 0, -1, 100)
		buf = appendSummary(buf[:0], h, 16)
	}); n != 0 {
		t.Errorf("%v allocations per three lines, want 0", n)
	}
}

// TestFPingResolveDuplicates: one probe stream per address whatever the
// order (ascending lists skip the seen-set until an address comes out of
// order), the first name given for it kept, IPv4-mapped addresses folded.
func TestFPingResolveDuplicates(t *testing.T) {
	lookup := func(_ context.Context, h string) ([]netip.Addr, error) {
		if h == "two.example" {
			return []netip.Addr{netip.MustParseAddr("198.18.0.2")}, nil
		}
		return nil, errors.New("Name or service not known")
	}
	for _, tc := range []struct{ names, want []string }{
		{[]string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}, []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}},
		{[]string{"198.18.0.1", "198.18.0.2", "198.18.0.2", "198.18.0.3"}, []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}},
		{[]string{"198.18.0.1", "198.18.0.3", "198.18.0.2", "198.18.0.1", "198.18.0.3", "198.18.0.4"}, []string{"198.18.0.1", "198.18.0.3", "198.18.0.2", "198.18.0.4"}},
		{[]string{"198.18.0.1", "two.example", "198.18.0.2", "::ffff:198.18.0.1", "2001:db8::1", "198.18.0.9"}, []string{"198.18.0.1", "two.example", "2001:db8::1", "198.18.0.9"}},
		{[]string{"198.18.0.5", "198.18.0.5"}, []string{"198.18.0.5"}},
	} {
		var stderr strings.Builder
		hosts, unknown := fpingResolve(context.Background(), &FPingOptions{}, tc.names, lookup, &stderr)
		var got []string
		for _, h := range hosts {
			got = append(got, h.name)
		}
		if unknown != 0 || !slices.Equal(got, tc.want) {
			t.Errorf("%v: hosts %v (unknown %d, %q), want %v", tc.names, got, unknown, stderr.String(), tc.want)
		}
	}
}

// TestFirstField: a target file line's first word, as
// strings.Fields(line before '#')[0].
func TestFirstField(t *testing.T) {
	for _, l := range []string{"", "   ", "# c", "198.18.0.1", "  198.18.0.1  x", "\t198.18.0.1#c", "a#b c", " \r\n", "web1 \v", "# x\ty"} {
		want := ""
		before, _, _ := strings.Cut(l, "#")
		if f := strings.Fields(before); len(f) > 0 {
			want = f[0]
		}
		if g := string(firstField([]byte(l))); g != want {
			t.Errorf("firstField(%q) = %q, want %q", l, g, want)
		}
	}
}
