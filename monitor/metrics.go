// SPDX-License-Identifier: MIT

package monitor

import (
	"io"

	"github.com/hbmon/hb/internal/promtext"
)

// Metrics writes the writer's counters in Prometheus text format: every
// observation the sources handed in, by what became of it, the queue and
// the batches.
func (w *writer) Metrics() io.WriterTo {
	return promtext.WriterFunc(func(out io.Writer) {
		st := w.Stats()
		promtext.Family(out, "hb_observations_total", "counter", "Observations sources handed to the core, by fate: applied to the table, stale (for a table generation a reload replaced), rejected (no outcome, bad id), dropped (the writer's queue was full).")
		for _, r := range []struct {
			fate string
			n    uint64
		}{{"applied", st.Applied}, {"stale", st.Stale}, {"rejected", st.Rejected}, {"dropped", st.Dropped}} {
			promtext.Uint(out, "hb_observations_total", promtext.Labels("fate", r.fate), r.n)
		}
		promtext.Family(out, "hb_observations_queued", "gauge", "Observations waiting for the core's writer.")
		promtext.Uint(out, "hb_observations_queued", "", uint64(st.Queued))
		promtext.Family(out, "hb_writer_batches_total", "counter", "Batches of observations the core's writer applied.")
		promtext.Uint(out, "hb_writer_batches_total", "", st.Batches)
	})
}

// Metrics writes the engine adapter's own counter (the engine's are in
// api.EngineStats).
func (s *engineSource) Metrics() io.WriterTo {
	return promtext.WriterFunc(func(out io.Writer) {
		promtext.Family(out, "hb_engine_results_unmapped_total", "counter", "Engine results for a target list a reload had replaced (not applied).")
		promtext.Uint(out, "hb_engine_results_unmapped_total", "", s.unmapped.Load())
	})
}

// registerMetrics writes the run-time registration counters (Register,
// RegisterBatch): checks queued, checks added, table rebuilds they cost.
func (m *Monitor) registerMetrics() io.WriterTo {
	return promtext.WriterFunc(func(out io.Writer) {
		promtext.Family(out, "hb_register_requests_total", "counter", "Checks sources asked the core to register at run time (heartbeats from unknown hosts, auto-created pulses), not counting ones that existed.")
		promtext.Uint(out, "hb_register_requests_total", "", m.regQueued.Load())
		promtext.Family(out, "hb_register_checks_total", "counter", "Checks added to the table by run-time registration.")
		promtext.Uint(out, "hb_register_checks_total", "", m.regApplied.Load())
		promtext.Family(out, "hb_register_rebuilds_total", "counter", "Table rebuilds run-time registrations cost (registrations arriving together share one).")
		promtext.Uint(out, "hb_register_rebuilds_total", "", m.regBatches.Load())
	})
}
