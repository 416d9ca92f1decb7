// SPDX-License-Identifier: MIT

package api

import (
	"bufio"
	"errors"
	"io"
	"log"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/internal/promtext"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/wire"
)

// The /metrics endpoint writes the Prometheus text format (version 0.0.4).
// Fleet and prober series go through VictoriaMetrics/metrics' stateless
// writers (WriteGaugeFloat64, WriteCounterUint64, …), which keep no
// registry; the per-host lines, the bulk, are appended directly (below).
// The # HELP / # TYPE lines are written here, once per family, because the
// library's own metadata option would repeat them for every series.
// docs/api.md has the measured comparison with prometheus/common's expfmt.

// labelMemo caches each host's label set, `{host="…",addr="…"}`, for one
// view; it is rebuilt when Reload publishes a new view.
type labelMemo struct {
	view   *state.View
	labels []string
}

func (s *Server) labelsFor(v *state.View) []string {
	if m := s.labels.Load(); m != nil && m.view == v {
		return m.labels
	}
	s.labelsMu.Lock()
	defer s.labelsMu.Unlock()
	if m := s.labels.Load(); m != nil && m.view == v {
		return m.labels
	}
	ls := make([]string, v.Len())
	var sb strings.Builder
	for i, h := range v.Hosts() {
		sb.Reset()
		sb.WriteString(`{host="`)
		promtext.EscapeTo(&sb, h.Spec().Name)
		sb.WriteString(`",addr="`)
		sb.WriteString(addrText(h.Spec().Addr))
		sb.WriteByte('"')
		for _, k := range s.cfg.ExportLabels {
			if v, ok := h.Spec().Labels.Get(k); ok && v != "" {
				sb.WriteString(`,` + k + `="`)
				promtext.EscapeTo(&sb, v)
				sb.WriteByte('"')
			}
		}
		sb.WriteByte('}')
		ls[i] = sb.String()
	}
	s.labels.Store(&labelMemo{view: v, labels: ls})
	return ls
}

// hostSample is what the per-host families read of a host's snapshot,
// taken once per host and scrape: a third of a Snapshot's size (a scrape
// at 100k hosts holds one per host while it writes the families).
type hostSample struct {
	State       state.State
	Transitions uint32
	EWMA        time.Duration
	LastOKAt    state.UnixNano
	Probes      uint64
	Failures    uint64
	Stats       state.Stats
	HasHealth   bool
	Health      sampleHealth // the figures of the newest health blob the families write, if HasHealth
	HBM2        *wire.HBM2
}

// sampleHealth is what the families read of a health blob (a copy: the
// table keeps the blob itself in place).
type sampleHealth struct {
	CPUBusy                uint16
	Load1                  uint32
	MemTotal, MemAvailable uint64
	RootTotal, RootUsed    uint64
	CollectedAt            int64
}

func sampleOf(s *state.Snapshot) hostSample {
	hs := hostSample{State: s.State, Transitions: s.Transitions, EWMA: s.EWMA, LastOKAt: s.LastOKAt, Probes: s.Probes,
		Failures: s.Failures, Stats: s.Stats(), HasHealth: s.HasHealth(), HBM2: s.HBM2}
	if hs.HasHealth {
		h := &s.Health
		hs.Health = sampleHealth{CPUBusy: h.CPUBusy, Load1: h.Load1, MemTotal: h.MemTotal, MemAvailable: h.MemAvailable,
			RootTotal: h.RootTotal, RootUsed: h.RootUsed, CollectedAt: h.CollectedAt}
	}
	return hs
}

// hostFamily is one per-host metric: value returns the sample and whether
// the host has one.
type hostFamily struct {
	name, typ, help string
	gauge           func(s *hostSample) (float64, bool)
	counter         func(s *hostSample) uint64
}

func always(f func(s *hostSample) float64) func(*hostSample) (float64, bool) {
	return func(s *hostSample) (float64, bool) { return f(s), true }
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *Server) hostFamilies(nowUnix float64) []hostFamily {
	return []hostFamily{
		{name: "hb_host_up", typ: "gauge", help: "1 if the host's state is up, else 0.",
			gauge: always(func(s *hostSample) float64 { return b2f(s.State == state.Up) })},
		{name: "hb_host_state", typ: "gauge", help: "Host state: 0 unknown, 1 up, 2 degraded, 3 down.",
			gauge: always(func(s *hostSample) float64 { return float64(s.State) })},
		{name: "hb_host_rtt_seconds", typ: "gauge", help: "Smoothed round-trip time (EWMA, gain 1/8).",
			gauge: func(s *hostSample) (float64, bool) { return s.EWMA.Seconds(), !s.LastOKAt.IsZero() }},
		{name: "hb_host_rtt_stddev_seconds", typ: "gauge", help: "Standard deviation of the RTT over the last 20 results.",
			gauge: func(s *hostSample) (float64, bool) { st := s.Stats; return st.StdDev.Seconds(), st.Samples > 0 }},
		{name: "hb_host_loss_ratio", typ: "gauge", help: "Share of the last 20 results that failed.",
			gauge: func(s *hostSample) (float64, bool) { st := s.Stats; return st.Loss, st.Results > 0 }},
		{name: "hb_host_probes_total", typ: "counter", help: "Probe results recorded for the host.",
			counter: func(s *hostSample) uint64 { return s.Probes }},
		{name: "hb_host_failures_total", typ: "counter", help: "Failed probe results (timeouts and errors).",
			counter: func(s *hostSample) uint64 { return s.Failures }},
		{name: "hb_host_transitions_total", typ: "counter", help: "State changes of the host.",
			counter: func(s *hostSample) uint64 { return uint64(s.Transitions) }},
		{name: "hb_host_cpu_busy_ratio", typ: "gauge", help: "Remote CPU busy share, from the newest health sample.",
			gauge: func(s *hostSample) (float64, bool) {
				if s.HasHealth {
					return float64(s.Health.CPUBusy) / 1000, true
				}
				if s.HBM2 != nil {
					return float64(s.HBM2.CPUPercent) / 100, true
				}
				return 0, false
			}},
		{name: "hb_host_memory_used_ratio", typ: "gauge", help: "Remote memory in use (1 - available/total).",
			gauge: func(s *hostSample) (float64, bool) {
				if h := &s.Health; s.HasHealth && h.MemTotal > 0 {
					return 1 - float64(h.MemAvailable)/float64(h.MemTotal), true
				}
				if s.HBM2 != nil {
					return float64(s.HBM2.MemPercent) / 100, true
				}
				return 0, false
			}},
		{name: "hb_host_memory_available_bytes", typ: "gauge", help: "Remote memory available.",
			gauge: func(s *hostSample) (float64, bool) {
				if s.HasHealth {
					return float64(s.Health.MemAvailable), true
				}
				if s.HBM2 != nil {
					return float64(s.HBM2.MemAvailMB) * (1 << 20), true
				}
				return 0, false
			}},
		{name: "hb_host_disk_used_ratio", typ: "gauge", help: "Remote root filesystem in use.",
			gauge: func(s *hostSample) (float64, bool) {
				if h := &s.Health; s.HasHealth && h.RootTotal > 0 {
					return float64(h.RootUsed) / float64(h.RootTotal), true
				}
				if s.HBM2 != nil {
					return float64(s.HBM2.DiskPercent) / 100, true
				}
				return 0, false
			}},
		{name: "hb_host_load1", typ: "gauge", help: "Remote 1-minute load average.",
			gauge: func(s *hostSample) (float64, bool) {
				if s.HasHealth {
					return float64(s.Health.Load1) / 1000, true
				}
				return 0, false
			}},
		{name: "hb_host_health_age_seconds", typ: "gauge", help: "Age of the newest health sample by the responder's clock.",
			gauge: func(s *hostSample) (float64, bool) {
				if !s.HasHealth && s.HBM2 == nil {
					return 0, false
				}
				var at float64
				if s.HasHealth {
					at = float64(s.Health.CollectedAt) / 1e9
				} else {
					at = s.HBM2.Timestamp
				}
				return nowUnix - at, true
			}},
	}
}

// WriteMetrics writes every metric to w in the Prometheus text format.
// Each host is read once, so all of one host's series come from the same
// snapshot.
func (s *Server) WriteMetrics(w io.Writer) { s.writeMetrics(w, false) }

// writeMetrics is WriteMetrics, leaving out the NativeWriters if
// skipNative (WriteMetricsProto has them write protobuf).
func (s *Server) writeMetrics(w io.Writer, skipNative bool) {
	v := s.table.View()
	labels := s.labelsFor(v)
	now := s.cfg.Now()
	hosts := v.Hosts()
	snaps := make([]hostSample, v.Len())
	var counts [state.NumStates]int
	var sn state.Snapshot
	for i, h := range hosts {
		h.Load(&sn)
		snaps[i] = sampleOf(&sn)
		counts[sn.State]++
	}
	nowUnix := float64(now.UnixNano()) / 1e9

	// Per-host series: 14 families × N hosts lines. The library's writers
	// format through fmt and need the name and labels concatenated first
	// (two allocations a line); at 100k hosts that is 1.3 s a scrape here,
	// so these lines are appended with strconv into one reused buffer in
	// the same format (value as %g, i.e. strconv 'g' -1), 3-4× faster.
	line := make([]byte, 0, 256)
	for _, f := range s.hostFamilies(nowUnix) {
		promtext.Family(w, f.name, f.typ, f.help)
		for i := range snaps {
			sn := &snaps[i]
			line = append(line[:0], f.name...)
			line = append(line, labels[i]...)
			line = append(line, ' ')
			if f.counter != nil {
				line = strconv.AppendUint(line, f.counter(sn), 10)
			} else if val, ok := f.gauge(sn); ok {
				line = strconv.AppendFloat(line, val, 'g', -1, 64)
			} else {
				continue
			}
			line = append(line, '\n')
			w.Write(line)
		}
	}

	promtext.Family(w, "hb_hosts", "gauge", "Hosts per state.")
	for i, n := range counts {
		vm.WriteGaugeUint64(w, `hb_hosts{state="`+state.State(i).String()+`"}`, uint64(n))
	}
	promtext.Family(w, "hb_table_generation", "gauge", "Generation of the host table; increases with every reload.")
	vm.WriteGaugeUint64(w, "hb_table_generation", v.Gen)
	promtext.Family(w, "hb_table_records_bytes", "gauge", "Bytes of the host table's per-check records held outside the Go heap (every generation still referenced).")
	vm.WriteGaugeUint64(w, "hb_table_records_bytes", uint64(state.MappedBytes()))

	e := s.engine()
	mode := e.Mode
	if mode == "" {
		mode = "unknown"
	}
	var sb strings.Builder
	sb.WriteString(`hb_probe_info{mode="`)
	promtext.EscapeTo(&sb, mode)
	sb.WriteString(`",version="`)
	promtext.EscapeTo(&sb, s.cfg.Version)
	sb.WriteString(`"}`)
	promtext.Family(w, "hb_probe_info", "gauge", "The prober's probing mode and version; always 1.")
	vm.WriteGaugeUint64(w, sb.String(), 1)
	promtext.Family(w, "hb_probe_start_time_seconds", "gauge", "When the API server started, unix seconds.")
	vm.WriteGaugeFloat64(w, "hb_probe_start_time_seconds", float64(s.started.UnixNano())/1e9)
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"hb_probes_sent_total", "Probes sent.", e.Sent},
		{"hb_probe_replies_total", "Matching replies received.", e.Received},
		{"hb_probe_timeouts_total", "Probes that got no reply in time.", e.Timeouts},
		{"hb_probe_icmp_errors_total", "ICMP errors matched to a probe.", e.ICMPErrors},
		{"hb_probe_late_replies_total", "Replies after their deadline.", e.Late},
		{"hb_probe_duplicate_replies_total", "Duplicate replies.", e.Duplicates},
		{"hb_probe_invalid_packets_total", "Packets dropped as invalid (cookie, length, source).", e.Invalid},
		{"hb_probe_send_errors_total", "Send errors.", e.SendErrors},
	} {
		promtext.Family(w, c.name, "counter", c.help)
		vm.WriteCounterUint64(w, c.name, c.v)
	}
	promtext.Family(w, "hb_health_blobs_total", "counter", "Health blobs received, by decode result.")
	vm.WriteCounterUint64(w, `hb_health_blobs_total{result="ok"}`, e.HealthOK)
	vm.WriteCounterUint64(w, `hb_health_blobs_total{result="bad"}`, e.HealthBad)
	s.writeEngineExtra(w, e)
	writeBuildInfo(w, s.cfg.Version)
	vm.WriteProcessMetrics(w)
	for _, c := range s.cfg.Collectors {
		if _, ok := c.(NativeWriter); ok && skipNative {
			continue
		}
		c.WriteTo(w)
	}
}

// metrics streams the exposition: no whole-body buffer, whatever the
// fleet's size. A scraper that negotiates the delimited protobuf
// exposition (Prometheus with native histograms on) gets it, converted
// family by family from the text (WriteMetricsProto), when a Collector
// serves native buckets; anyone else gets the text format.
func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Vary", "Accept")
	if s.nativeOn() && promtext.WantsProto(string(ctx.Request.Header.Peek("Accept"))) {
		ctx.SetContentType(promtext.ProtoContentType)
		if ctx.IsHead() {
			return
		}
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			// Only a bad text is worth a log line; a failed write is a
			// scraper gone away.
			if err := s.WriteMetricsProto(w); errors.Is(err, promtext.ErrText) {
				log.Printf("api: /metrics in protobuf: %v", err)
			}
			w.Flush()
		})
		return
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	if ctx.IsHead() {
		return
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		s.WriteMetrics(w)
		w.Flush()
	})
}

// NativeWriter is a Collector that writes its own families in the
// delimited protobuf exposition, with native histogram buckets
// (rtthist.Set), instead of having its text converted. Native reports
// whether it has native buckets at all: without any, the protobuf
// exposition would carry nothing the text does not, at several times the
// cost, so /metrics answers in text whatever the Accept header.
type NativeWriter interface {
	Native() bool
	WriteProto(w io.Writer) error
}

// nativeOn reports whether a Collector serves native buckets.
func (s *Server) nativeOn() bool {
	for _, c := range s.cfg.Collectors {
		if n, ok := c.(NativeWriter); ok && n.Native() {
			return true
		}
	}
	return false
}

// WriteMetricsProto writes every family of WriteMetrics in the delimited
// protobuf exposition: NativeWriters write theirs, and the rest is
// written as text into a pipe and converted as it comes
// (promtext.ToProto).
func (s *Server) WriteMetricsProto(w io.Writer) error {
	for _, c := range s.cfg.Collectors {
		if n, ok := c.(NativeWriter); ok {
			if err := n.WriteProto(w); err != nil {
				return err
			}
		}
	}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		s.writeMetrics(bw, true)
		pw.CloseWithError(bw.Flush())
	}()
	err := promtext.ToProto(pr, w, nil)
	pr.CloseWithError(err) // a failed conversion makes the writer's writes fail
	return err
}

// writeEngineExtra writes the engine counters added with the monitoring
// core: send back-pressure, stalls, missing TX stamps, blob errors by kind.
func (s *Server) writeEngineExtra(w io.Writer, e EngineStats) {
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"hb_probe_enobufs_total", "Sends pushed back by a full socket buffer (ENOBUFS/EAGAIN); the probes were retried.", e.ENOBUFS},
		{"hb_probe_stalls_total", "Times sending waited because every in-flight slot was busy.", e.Stalls},
		{"hb_probe_tx_timestamps_missing_total", "Replies measured with the send clock because the kernel TX timestamp never came.", e.TxMissing},
		{"hb_probe_tx_frames_total", "Probes sent as Ethernet frames on the AF_PACKET socket (tx = packet).", e.TxFrames},
		{"hb_probe_tx_fallback_total", "Probes the AF_PACKET path could not carry (neighbour not resolved, non-Ethernet link, no route), sent by the raw socket.", e.TxFallback},
		{"hb_probe_rx_ring_packets_total", "Packets read from the TPACKET_V3 receive ring (rx = ring).", e.RxRing},
		{"hb_probe_rx_ring_drops_total", "Packets the kernel dropped because the receive ring was full.", e.RxRingDrops},
		{"hb_probe_rx_ring_not_local_total", "Packets from the receive ring whose IP destination is not one of this host's addresses (routed through it for another machine), dropped before matching.", e.RxRingNotLocal},
	} {
		promtext.Family(w, c.name, "counter", c.help)
		vm.WriteCounterUint64(w, c.name, c.v)
	}
	promtext.Family(w, "hb_health_blob_errors_total", "counter", "Health payloads that failed to decode, by reason.")
	kinds := make([]string, 0, len(e.BlobErrors))
	for k := range e.BlobErrors {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		var sb strings.Builder
		sb.WriteString(`hb_health_blob_errors_total{kind="`)
		promtext.EscapeTo(&sb, k)
		sb.WriteString(`"}`)
		vm.WriteCounterUint64(w, sb.String(), e.BlobErrors[k])
	}
	writeRefused(w, e)
}

// writeRefused writes the replies the prober refused, by reason.
func writeRefused(w io.Writer, e EngineStats) {
	promtext.Family(w, "hb_probe_refused_replies_total", "counter", "Echo replies refused as answers: no cookie (spoofed or foreign payload), HBM v2 from a target not configured legacy=hbm2, or a clear blob while a key is configured (downgrade).")
	vm.WriteCounterUint64(w, `hb_probe_refused_replies_total{reason="downgrade"}`, e.RefusedDowngrade)
	vm.WriteCounterUint64(w, `hb_probe_refused_replies_total{reason="hbm2_not_legacy"}`, e.RefusedHBM2)
	vm.WriteCounterUint64(w, `hb_probe_refused_replies_total{reason="no_cookie"}`, e.RefusedNoCookie)
}

// buildInfo is hb_build_info's label set, computed once.
var buildInfo = sync.OnceValue(func() string {
	rev, goversion := "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" && st.Value != "" {
				rev = st.Value
			}
		}
	}
	return `",goversion="` + goversion + `",revision="` + rev + `"}`
})

// writeBuildInfo writes hb_build_info{version,goversion,revision} 1.
func writeBuildInfo(w io.Writer, version string) {
	if version == "" {
		version = "unknown"
	}
	var sb strings.Builder
	sb.WriteString(`hb_build_info{version="`)
	promtext.EscapeTo(&sb, version)
	sb.WriteString(buildInfo())
	promtext.Family(w, "hb_build_info", "gauge", "Version, Go version and VCS revision of this binary; always 1.")
	vm.WriteGaugeUint64(w, sb.String(), 1)
}
