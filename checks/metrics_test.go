// SPDX-License-Identifier: MIT

package checks

import (
	"testing"

	"github.com/hbmon/hb/rtthist"
)

// TestMetricNamesExported: rtthist exports the checks' metrics by name;
// the names must stay equal.
func TestMetricNamesExported(t *testing.T) {
	want := map[string]bool{MetricDNS: true, MetricConnect: true, MetricTLS: true, MetricFirstByte: true, MetricDuration: true}
	for _, p := range rtthist.PhaseNames {
		if !want[p.Metric] {
			t.Errorf("rtthist phase %s reads %q, not a checks metric", p.Label, p.Metric)
		}
		delete(want, p.Metric)
	}
	if len(want) > 0 {
		t.Errorf("checks metrics not exported: %v", want)
	}
	if rtthist.MetricStatus != MetricStatus || rtthist.MetricCertEnd != MetricCertEnd {
		t.Error("status/certificate metric names differ")
	}
}
