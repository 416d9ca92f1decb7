// SPDX-License-Identifier: MIT

package checks

import (
	"io"
	"strconv"
)

func appendFamily(b []byte, name, typ, help string, v int64) []byte {
	b = append(b, "# HELP "+name+" "+help+"\n# TYPE "+name+" "+typ+"\n"+name+" "...)
	b = strconv.AppendInt(b, v, 10)
	return append(b, '\n')
}

// WriteTo writes the source's counters in the Prometheus text format (an
// api Collector).
func (s *Source) WriteTo(w io.Writer) (int64, error) {
	var b []byte
	b = appendFamily(b, "hb_checks_run_total", "counter", "TCP and HTTP(S) checks run.", int64(s.stats.Run.Load()))
	b = appendFamily(b, "hb_checks_skipped_total", "counter", "TCP and HTTP(S) checks skipped because the previous run of the same check was still going.", int64(s.stats.Skipped.Load()))
	b = appendFamily(b, "hb_checks_invalid_total", "counter", "TCP and HTTP(S) checks left out at a (re)load because their options did not parse.", int64(s.stats.Invalid.Load()))
	b = appendFamily(b, "hb_checks_running", "gauge", "TCP and HTTP(S) checks running now.", s.stats.Running.Load())
	n, err := w.Write(b)
	return int64(n), err
}

// WriteTo writes /probe's counters in the Prometheus text format.
func (r *ProbeRoute) WriteTo(w io.Writer) (int64, error) {
	st := r.Stats()
	b := []byte("# HELP hb_probe_route_requests_total /probe requests by result (served; rejected: bad request; busy: over probe_limit; limited: over probe_rate).\n# TYPE hb_probe_route_requests_total counter\n")
	for _, c := range []struct {
		result string
		v      uint64
	}{{"served", st.Served}, {"rejected", st.Rejected}, {"busy", st.Busy}, {"limited", st.Limited}} {
		b = append(b, `hb_probe_route_requests_total{result="`+c.result+`"} `...)
		b = strconv.AppendUint(b, c.v, 10)
		b = append(b, '\n')
	}
	n, err := w.Write(b)
	return int64(n), err
}
