// SPDX-License-Identifier: MIT

package bench

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		in   []float64
		want Summary
		fmt  string
	}{
		{"empty", nil, Summary{}, "—"},
		{"all NaN", []float64{nan, nan}, Summary{}, "—"},
		{"one", []float64{3}, Summary{N: 1, Median: 3, Min: 3, Max: 3}, "3.0 (n=1)"},
		{"odd", []float64{5, 1, 3}, Summary{N: 3, Median: 3, Min: 1, Max: 5}, "3.0 (1.0–5.0, n=3)"},
		{"even", []float64{4, 1, 2, 3}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}, "2.5 (1.0–4.0, n=4)"},
		{"NaN skipped", []float64{nan, 2, 4}, Summary{N: 2, Median: 3, Min: 2, Max: 4}, "3.0 (2.0–4.0, n=2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.in)
			if got != tc.want {
				t.Fatalf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if f := got.Format("%.1f"); f != tc.fmt {
				t.Fatalf("Format = %q, want %q", f, tc.fmt)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.5, 5.5}, {1, 10}, {0.99, 9.91}} {
		if got := Quantile(xs, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if xs[0] != 10 {
		t.Error("Quantile sorted its input")
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile(nil) is not NaN")
	}
}

func TestTableMarkdown(t *testing.T) {
	tb := Table{Header: []string{"tool", "cmd"}}
	tb.Add("fping", "a | b")
	tb.Add("x")
	want := "| tool | cmd |\n| --- | --- |\n| fping | a \\| b |\n| x |  |\n"
	if got := tb.Markdown(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
