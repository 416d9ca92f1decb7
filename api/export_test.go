// SPDX-License-Identifier: MIT

package api

import (
	"io"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/rtthist"
)

// TestMetricsExportLabels: chosen target-file labels appear on per-host
// series only when configured; Collectors' families are appended and
// parse with the rest.
func TestMetricsExportLabels(t *testing.T) {
	plain := newHarness(t, Config{})
	_, body, _ := plain.do("GET", "/metrics", "")
	fams := parseMetrics(t, body)
	for _, m := range fams["hb_host_up"].Metric {
		for _, l := range m.Label {
			if l.GetName() != "host" && l.GetName() != "addr" {
				t.Fatalf("label %s without export_labels", l.GetName())
			}
		}
	}

	hist := rtthist.New(rtthist.Config{Buckets: []float64{0.001, 0.01}})
	hist.Observe("web1", "icmp", obs.KindICMP, 2*time.Millisecond)
	h := newHarness(t, Config{ExportLabels: []string{"role", "zone"}, Collectors: []io.WriterTo{hist}})
	_, body, _ = h.do("GET", "/metrics", "")
	fams = parseMetrics(t, body)
	if v, ok := sample(fams, "hb_host_up", map[string]string{"host": "web1", "role": "web", "zone": "a"}); !ok || v != 1 {
		t.Fatalf("web1 role/zone: %v %v", v, ok)
	}
	if _, ok := sample(fams, "hb_host_up", map[string]string{"host": "db1", "role": "db"}); !ok {
		t.Fatal("db1 role")
	}
	for _, m := range fams["hb_host_up"].Metric {
		ls := map[string]string{}
		for _, l := range m.Label {
			ls[l.GetName()] = l.GetValue()
		}
		if ls["host"] == "new1" && len(ls) != 2 {
			t.Fatalf("new1 has no labels to export, got %v", ls)
		}
	}
	hf := fams[rtthist.Name]
	if hf == nil || len(hf.Metric) != 1 || hf.Metric[0].GetHistogram().GetSampleCount() != 1 {
		t.Fatalf("histogram family: %v", hf)
	}
}
