// SPDX-License-Identifier: MIT

package promtext

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestParsedByExpfmt(t *testing.T) {
	var buf bytes.Buffer
	n, err := WriterFunc(func(w io.Writer) {
		Family(w, "x_total", "counter", "Things.")
		Uint(w, "x_total", Labels("sub", `a"b\c`+"\n"), 3)
		Family(w, "y_seconds", "histogram", "Latency.")
		Histogram(w, "y_seconds", []float64{0.1, 1}, []uint64{2, 1, 1}, 2.5, "op", "commit")
		Family(w, "z", "gauge", "Level.")
		Float(w, "z", "", 0.25)
		Counter(w, "c_total", "One counter.", 1<<40)
		Gauge(w, "g", "One gauge.", -7)
	}).WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d", n, err, buf.Len())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	x := fams["x_total"].GetMetric()[0]
	if x.GetCounter().GetValue() != 3 || x.GetLabel()[0].GetValue() != `a"b\c`+"\n" {
		t.Errorf("x_total = %v", x)
	}
	h := fams["y_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() != 2.5 || len(h.GetBucket()) != 3 ||
		h.GetBucket()[0].GetCumulativeCount() != 2 || h.GetBucket()[1].GetCumulativeCount() != 3 {
		t.Errorf("y_seconds = %v", h)
	}
	if fams["z"].GetMetric()[0].GetGauge().GetValue() != 0.25 {
		t.Errorf("z = %v", fams["z"])
	}
	if c := fams["c_total"]; c.GetType().String() != "COUNTER" || c.GetMetric()[0].GetCounter().GetValue() != 1<<40 {
		t.Errorf("c_total = %v", c)
	}
	if g := fams["g"]; g.GetType().String() != "GAUGE" || g.GetMetric()[0].GetGauge().GetValue() != -7 {
		t.Errorf("g = %v", g)
	}
}
