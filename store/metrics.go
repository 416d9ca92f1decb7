// SPDX-License-Identifier: MIT

package store

import (
	"io"

	"github.com/hbmon/hb/internal/promtext"
)

// commitBounds are the upper bounds (seconds) of the commit latency
// histogram.
var commitBounds = [...]float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func (s *Store) observeCommit(sec float64) {
	i := 0
	for i < len(commitBounds) && sec > commitBounds[i] {
		i++
	}
	s.commitHist[i].Add(1)
}

// Metrics returns the store's counters in the Prometheus text format, for
// api.Config.Collectors.
func (s *Store) Metrics() io.WriterTo {
	return promtext.WriterFunc(func(w io.Writer) {
		st := s.Stats()
		g := func(name, help string, v float64) {
			promtext.Family(w, name, "gauge", help)
			promtext.Float(w, name, "", v)
		}
		c := func(name, help string, v uint64) {
			promtext.Family(w, name, "counter", help)
			promtext.Uint(w, name, "", v)
		}
		g("hb_store_queue_events", "Events waiting for the history writer.", float64(st.Queued))
		c("hb_store_dropped_events_total", "Events the history writer lost to a full queue.", st.Dropped)
		c("hb_store_results_total", "Probe results added to the per-minute rollups.", st.Results)
		c("hb_store_committed_events_total", "State changes, problems and messages committed.", st.Committed)
		c("hb_store_rollup_rows_total", "Per-check per-minute rollup rows written.", st.RollupRows)
		c("hb_store_commits_total", "Transactions committed by the history writer.", st.Commits)
		c("hb_store_commit_errors_total", "Failed commits and retention passes (their rows are lost).", st.Errors)
		c("hb_store_deleted_rows_total", "Rows removed by retention.", st.Deleted)
		g("hb_store_checks", "Checks the history writer knows.", float64(st.Checks))
		g("hb_store_pending_rollups", "Finished minutes' rollup rows waiting to be written.", float64(st.Pending))
		var last float64
		if !st.LastCommit.IsZero() {
			last = float64(st.LastCommit.UnixNano()) / 1e9
		}
		g("hb_store_last_commit_timestamp_seconds", "When the history writer last committed, unix seconds (0: never).", last)
		promtext.Family(w, "hb_store_commit_duration_seconds", "histogram", "Time one history commit took.")
		counts := make([]uint64, len(s.commitHist))
		for i := range counts {
			counts[i] = s.commitHist[i].Load()
		}
		promtext.Histogram(w, "hb_store_commit_duration_seconds", commitBounds[:], counts, st.CommitSeconds)
	})
}
