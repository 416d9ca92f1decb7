// SPDX-License-Identifier: MIT

package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Summary is the median and spread of repeated measurements of one figure.
type Summary struct {
	N                int
	Median, Min, Max float64
}

// Summarize returns the median, minimum and maximum of xs. NaNs (runs that
// produced no figure) are left out; a Summary with N == 0 means no figure.
func Summarize(xs []float64) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{}
	}
	slices.Sort(v)
	return Summary{N: len(v), Median: quantileSorted(v, 0.5), Min: v[0], Max: v[len(v)-1]}
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of xs by linear
// interpolation between closest ranks; NaN for an empty slice. xs is not
// modified.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	v := slices.Clone(xs)
	slices.Sort(v)
	return quantileSorted(v, q)
}

func quantileSorted(v []float64, q float64) float64 {
	if len(v) == 1 {
		return v[0]
	}
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	f := pos - float64(lo)
	return v[lo] + f*(v[lo+1]-v[lo])
}

// Format renders s as "median (min–max, n=N)" with the given printf verb
// for each number, or "—" when there is no figure. A single run has no
// spread and shows "(n=1)".
func (s Summary) Format(verb string) string {
	if s.N == 0 {
		return "—"
	}
	m := fmt.Sprintf(verb, s.Median)
	if s.N == 1 {
		return m + " (n=1)"
	}
	return fmt.Sprintf("%s (%s–%s, n=%d)", m, fmt.Sprintf(verb, s.Min), fmt.Sprintf(verb, s.Max), s.N)
}

// Table is a Markdown table.
type Table struct {
	Header []string
	Rows   [][]string
}

// Add appends a row; cells past the header are dropped, missing ones are
// left blank.
func (t *Table) Add(cells ...string) {
	row := make([]string, len(t.Header))
	copy(row, cells)
	t.Rows = append(t.Rows, row)
}

// Markdown renders the table with pipes in cells escaped.
func (t *Table) Markdown() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" ")
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(c, "|", `\|`), "\n", " "))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.Rows {
		line(r)
	}
	return b.String()
}
