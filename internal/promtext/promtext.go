// SPDX-License-Identifier: MIT

// Package promtext writes the Prometheus text exposition format (0.0.4)
// for the packages that export their counters on /metrics through
// api.Config.Collectors: a family header once, then samples. Values are
// formatted as strconv 'g' -1, like VictoriaMetrics/metrics' writers.
package promtext

import (
	"io"
	"strconv"
	"strings"
)

// Family writes the # HELP and # TYPE lines of a metric family.
func Family(w io.Writer, name, typ, help string) {
	io.WriteString(w, "# HELP "+name+" "+help+"\n# TYPE "+name+" "+typ+"\n")
}

// Labels formats label pairs (k1, v1, k2, v2, …) as {k1="v1",…}, values
// escaped; "" for none.
func Labels(kv ...string) string {
	if len(kv) < 2 {
		return ""
	}
	var sb strings.Builder
	sb.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(kv[i])
		sb.WriteString(`="`)
		EscapeTo(&sb, kv[i+1])
		sb.WriteByte('"')
	}
	sb.WriteByte('}')
	return sb.String()
}

// EscapeTo writes a label value escaped per the text format: \\, \", \n.
func EscapeTo(sb *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			sb.WriteString(`\\`)
		case '"':
			sb.WriteString(`\"`)
		case '\n':
			sb.WriteString(`\n`)
		default:
			sb.WriteByte(c)
		}
	}
}

// Uint writes one sample with an integer value.
func Uint(w io.Writer, name, labels string, v uint64) {
	b := make([]byte, 0, len(name)+len(labels)+24)
	b = append(append(append(b, name...), labels...), ' ')
	b = strconv.AppendUint(b, v, 10)
	w.Write(append(b, '\n'))
}

// Int writes one sample with a signed integer value.
func Int(w io.Writer, name, labels string, v int64) {
	b := make([]byte, 0, len(name)+len(labels)+24)
	b = append(append(append(b, name...), labels...), ' ')
	b = strconv.AppendInt(b, v, 10)
	w.Write(append(b, '\n'))
}

// Counter writes a family of one unlabelled counter: its header, then the
// sample.
func Counter(w io.Writer, name, help string, v uint64) {
	Family(w, name, "counter", help)
	Uint(w, name, "", v)
}

// Gauge writes a family of one unlabelled integer gauge.
func Gauge(w io.Writer, name, help string, v int64) {
	Family(w, name, "gauge", help)
	Int(w, name, "", v)
}

// Float writes one sample.
func Float(w io.Writer, name, labels string, v float64) {
	b := make([]byte, 0, len(name)+len(labels)+24)
	b = append(append(append(b, name...), labels...), ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	w.Write(append(b, '\n'))
}

// Histogram writes a histogram's samples: cumulative counts per upper
// bound (counts[i] observations <= bounds[i]; counts has one more entry
// for +Inf), the sum and the count. labels are extra pairs (k, v, …).
func Histogram(w io.Writer, name string, bounds []float64, counts []uint64, sum float64, labels ...string) {
	var cum uint64
	for i, ub := range bounds {
		cum += counts[i]
		Uint(w, name+"_bucket", Labels(append(labels, "le", strconv.FormatFloat(ub, 'g', -1, 64))...), cum)
	}
	cum += counts[len(bounds)]
	Uint(w, name+"_bucket", Labels(append(labels, "le", "+Inf")...), cum)
	Float(w, name+"_sum", Labels(labels...), sum)
	Uint(w, name+"_count", Labels(labels...), cum)
}

// WriterFunc adapts a function to io.WriterTo, the type of
// api.Config.Collectors.
type WriterFunc func(w io.Writer)

// WriteTo calls f, counting the bytes written.
func (f WriterFunc) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	f(cw)
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
