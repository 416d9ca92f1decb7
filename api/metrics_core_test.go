// SPDX-License-Identifier: MIT

package api

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/store"
)

// TestMetricsEverythingCounted: the engine's back-pressure and decode
// counters, the history store's and the event bus's counters (through
// Collectors, as the daemon wires them), hb_build_info and the Go runtime
// and process collectors all appear on /metrics, and the whole page
// parses with expfmt. A real store and bus are used: their counters are
// the ones being exported.
func TestMetricsEverythingCounted(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "hb.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var bus event.Bus
	sub := bus.SubscribeBatch("store", 4, append(store.Types, event.Message)...)
	slow := bus.Subscribe("slow", 1) // nobody reads it: drops
	defer slow.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Consume(ctx, sub) }()
	for i := range 3 {
		bus.Publish(event.Event{Type: event.Message, At: time.Now(), Source: "t", Text: "m"})
		bus.Publish(event.Event{Type: event.Result, At: time.Now(), Host: "h", Check: "icmp", Kind: obs.KindICMP,
			Obs: &obs.Observation{Outcome: obs.OK, RTT: time.Duration(i+1) * time.Millisecond}})
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	stats := func() EngineStats {
		e := engineStats()
		e.ENOBUFS, e.Stalls, e.TxMissing = 7, 2, 5
		e.TxFrames, e.TxFallback = 11, 3
		e.RxRing, e.RxRingDrops, e.RxRingNotLocal = 17, 4, 3
		e.BlobErrors = map[string]uint64{"checksum": 2, "no_key": 1}
		e.RefusedNoCookie, e.RefusedHBM2, e.RefusedDowngrade = 11, 12, 13
		return e
	}
	srv, err := New(Config{Version: "v9", Now: func() time.Time { return now0 },
		Collectors: []io.WriterTo{st.Metrics(), bus.Metrics()}}, fixture(t), nil, stats)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	srv.WriteMetrics(&buf)
	fams := parseMetrics(t, buf.Bytes())

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64 // -1: any value
		typ    dto.MetricType
	}{
		{"hb_probe_enobufs_total", nil, 7, dto.MetricType_COUNTER},
		{"hb_probe_stalls_total", nil, 2, dto.MetricType_COUNTER},
		{"hb_probe_tx_timestamps_missing_total", nil, 5, dto.MetricType_COUNTER},
		{"hb_probe_tx_frames_total", nil, 11, dto.MetricType_COUNTER},
		{"hb_probe_tx_fallback_total", nil, 3, dto.MetricType_COUNTER},
		{"hb_probe_rx_ring_packets_total", nil, 17, dto.MetricType_COUNTER},
		{"hb_probe_rx_ring_drops_total", nil, 4, dto.MetricType_COUNTER},
		{"hb_probe_rx_ring_not_local_total", nil, 3, dto.MetricType_COUNTER},
		{"hb_health_blob_errors_total", map[string]string{"kind": "checksum"}, 2, dto.MetricType_COUNTER},
		{"hb_health_blob_errors_total", map[string]string{"kind": "no_key"}, 1, dto.MetricType_COUNTER},
		{"hb_probe_refused_replies_total", map[string]string{"reason": "no_cookie"}, 11, dto.MetricType_COUNTER},
		{"hb_probe_refused_replies_total", map[string]string{"reason": "hbm2_not_legacy"}, 12, dto.MetricType_COUNTER},
		{"hb_probe_refused_replies_total", map[string]string{"reason": "downgrade"}, 13, dto.MetricType_COUNTER},
		{"hb_build_info", map[string]string{"version": "v9"}, 1, dto.MetricType_GAUGE},
		{"hb_store_results_total", nil, 3, dto.MetricType_COUNTER},
		{"hb_store_committed_events_total", nil, 3, dto.MetricType_COUNTER},
		{"hb_store_rollup_rows_total", nil, 1, dto.MetricType_COUNTER},
		{"hb_store_dropped_events_total", nil, 0, dto.MetricType_COUNTER},
		{"hb_store_commit_errors_total", nil, 0, dto.MetricType_COUNTER},
		{"hb_store_queue_events", nil, 0, dto.MetricType_GAUGE},
		{"hb_store_checks", nil, 1, dto.MetricType_GAUGE},
		{"hb_store_commits_total", nil, -1, dto.MetricType_COUNTER},
		{"hb_events_published_total", nil, 6, dto.MetricType_COUNTER},
		{"hb_events_delivered_total", map[string]string{"subscriber": "store"}, 6, dto.MetricType_COUNTER},
		{"hb_events_dropped_total", map[string]string{"subscriber": "slow"}, 5, dto.MetricType_COUNTER},
		{"hb_events_queue_capacity", map[string]string{"subscriber": "slow"}, 1, dto.MetricType_GAUGE},
		{"go_goroutines", nil, -1, dto.MetricType_GAUGE},
		{"go_memstats_heap_inuse_bytes", nil, -1, dto.MetricType_GAUGE},
		{"process_resident_memory_bytes", nil, -1, dto.MetricType_GAUGE},
		{"process_cpu_seconds_total", nil, -1, dto.MetricType_COUNTER},
	} {
		got, ok := sample(fams, c.name, c.labels)
		if !ok {
			t.Errorf("%s%v missing", c.name, c.labels)
			continue
		}
		if c.want >= 0 && got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
		if typ := fams[c.name].GetType(); typ != c.typ && fams[c.name].GetType() != dto.MetricType_UNTYPED {
			t.Errorf("%s type %v, want %v", c.name, typ, c.typ)
		}
	}
	if h := fams["hb_store_commit_duration_seconds"]; h == nil || h.GetType() != dto.MetricType_HISTOGRAM ||
		h.Metric[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("commit latency histogram: %v", h)
	}
	bi := fams["hb_build_info"].Metric[0]
	var gover bool
	for _, l := range bi.Label {
		gover = gover || (l.GetName() == "goversion" && strings.HasPrefix(l.GetValue(), "go"))
	}
	if !gover {
		t.Errorf("hb_build_info lacks goversion: %v", bi)
	}
	// Base units and _total: every counter family ends in _total, no
	// family is in milliseconds or percent.
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		for _, part := range strings.Split(name, "_") {
			switch part {
			case "ms", "milliseconds", "percent", "pct", "kb", "mb", "minutes":
				t.Errorf("%s is not in base units", name)
			}
		}
	}
}
