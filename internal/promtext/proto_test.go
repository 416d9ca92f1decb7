// SPDX-License-Identifier: MIT

package promtext

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// TestToProto: an exposition with families large enough to be parsed in
// many chunks (a histogram cut only between series), a summary, an
// untyped family without metadata and a header without samples comes out
// of ToProto as the same families, decoded by protodelim, as expfmt's
// parser reads from the whole text; edit sees every family.
func TestToProto(t *testing.T) {
	var sb strings.Builder
	Family(&sb, "hb_a", "gauge", "A gauge.")
	for i := range 10000 {
		Float(&sb, "hb_a", Labels("host", fmt.Sprintf("h%05d", i), "q", `x"y\z`), float64(i)/3)
	}
	for i := range 3000 {
		if i == 0 {
			Family(&sb, "hb_h", "histogram", "A histogram.")
		}
		Histogram(&sb, "hb_h", []float64{0.001, 0.01, 0.1}, []uint64{uint64(i % 7), 2, 3, 1}, 0.5, "host", fmt.Sprintf("h%05d", i))
	}
	Family(&sb, "hb_empty", "counter", "No samples.")
	sb.WriteString("# HELP go_gc_duration_seconds A summary.\n# TYPE go_gc_duration_seconds summary\n" +
		"go_gc_duration_seconds{quantile=\"0.5\"} 0.001\ngo_gc_duration_seconds{quantile=\"1\"} 0.002\n" +
		"go_gc_duration_seconds_sum 0.01\ngo_gc_duration_seconds_count 7\n")
	sb.WriteString("untyped_one 1\nuntyped_two{a=\"b\"} 2\n")
	sb.WriteString("# HELP hb_g Help with \\\\ and \\n escapes.\n# TYPE hb_g gauge\nhb_g{a=\"1\",b=\"line\\nbreak\"} +Inf 1700000000000\nhb_g -2.5e-07\n")
	Counter(&sb, "hb_c_total", "A counter.", 42)
	text := sb.String()

	p := expfmt.NewTextParser(model.LegacyValidation)
	want, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	delete(want, "hb_empty")
	var out strings.Builder
	edited := map[string]bool{}
	if err := ToProto(strings.NewReader(text), &out, func(mf *dto.MetricFamily) { edited[mf.GetName()] = true }); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReader(out.String())
	var order []string
	for {
		mf := &dto.MetricFamily{}
		if err := protodelim.UnmarshalFrom(r, mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		order = append(order, mf.GetName())
		w := want[mf.GetName()]
		if w == nil {
			t.Fatalf("unexpected family %s", mf.GetName())
		}
		if !proto.Equal(mf, w) {
			t.Fatalf("family %s differs: %d metrics, want %d", mf.GetName(), len(mf.Metric), len(w.Metric))
		}
		delete(want, mf.GetName())
		// edit sees the families parsed into dto objects: histograms
		// and summaries.
		if typ := mf.GetType(); edited[mf.GetName()] != (typ == dto.MetricType_HISTOGRAM || typ == dto.MetricType_SUMMARY) {
			t.Errorf("edit saw %s (%v): %v", mf.GetName(), typ, edited[mf.GetName()])
		}
	}
	if len(want) != 0 {
		t.Fatalf("families missing: %v", want)
	}
	if got := strings.Join(order, " "); got != "hb_a hb_h go_gc_duration_seconds untyped_one untyped_two hb_g hb_c_total" {
		t.Fatalf("order %s", got)
	}

	for _, bad := range []string{
		"# TYPE hb_x gauge\nhb_x{a=\"b} 1\n",
		"# TYPE hb_x gauge\nhb_x{a=\"b\"} one\n",
		"# TYPE hb_x gauge\nhb_x 1 2 3\n",
		"# TYPE hb_x histogram\nhb_x_bucket{le=\"1\"} x\n",
	} {
		if err := ToProto(strings.NewReader(bad), io.Discard, nil); !errors.Is(err, ErrText) {
			t.Errorf("bad text %q: %v", bad, err)
		}
	}
}

func TestWantsProto(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "text/plain;version=0.0.4": false, "*/*": false,
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,text/plain;version=0.0.4;q=0.1": true,
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text":                                           false,
		"text/plain;version=0.0.4,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5":       false,
	} {
		if got := WantsProto(accept); got != want {
			t.Errorf("WantsProto(%q) = %v", accept, got)
		}
	}
}
