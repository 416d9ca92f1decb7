// SPDX-License-Identifier: MIT

package checks

import (
	"io"

	"github.com/hbmon/hb/internal/promtext"
)

// WriteTo writes the source's counters in the Prometheus text format (an
// api Collector).
func (s *Source) WriteTo(w io.Writer) (int64, error) {
	return promtext.WriterFunc(func(w io.Writer) {
		promtext.Counter(w, "hb_checks_run_total", "TCP and HTTP(S) checks run.", s.stats.Run.Load())
		promtext.Counter(w, "hb_checks_skipped_total", "TCP and HTTP(S) checks skipped because the previous run of the same check was still going.", s.stats.Skipped.Load())
		promtext.Counter(w, "hb_checks_invalid_total", "TCP and HTTP(S) checks left out at a (re)load because their options did not parse.", s.stats.Invalid.Load())
		promtext.Gauge(w, "hb_checks_running", "TCP and HTTP(S) checks running now.", s.stats.Running.Load())
	}).WriteTo(w)
}

// WriteTo writes /probe's counters in the Prometheus text format.
func (r *ProbeRoute) WriteTo(w io.Writer) (int64, error) {
	st := r.Stats()
	return promtext.WriterFunc(func(w io.Writer) {
		promtext.Family(w, "hb_probe_route_requests_total", "counter", "/probe requests by result (served; rejected: bad request; busy: over probe_limit; limited: over probe_rate).")
		for _, c := range []struct {
			result string
			v      uint64
		}{{"served", st.Served}, {"rejected", st.Rejected}, {"busy", st.Busy}, {"limited", st.Limited}} {
			promtext.Uint(w, "hb_probe_route_requests_total", promtext.Labels("result", c.result), c.v)
		}
	}).WriteTo(w)
}
