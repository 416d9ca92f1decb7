// SPDX-License-Identifier: MIT

package rtthist

import (
	"context"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
)

// Name is the histogram's metric name.
const Name = "hb_check_rtt_seconds"

// LabelFunc returns the values of the exported labels (in the order of
// Config.ExportLabels) for host; "" for a label the host lacks.
type LabelFunc func(host string) []string

// Config configures a Set.
type Config struct {
	Buckets      []float64 // upper bounds, seconds, strictly ascending
	ExportLabels []string  // target-file label names added to every series
	Labels       LabelFunc // values of ExportLabels per host; nil: all ""
}

// Set is the histograms of all checks.
type Set struct {
	bounds []float64
	export []string
	labels LabelFunc

	mu     sync.RWMutex // guards series (the map, not the counters)
	series map[key]*series

	dropped atomic.Uint64 // results seen with an RTT but no usable value
}

type key struct{ host, check string }

// series is one check's histogram. counts[i] counts RTTs in
// (bounds[i-1], bounds[i]]; counts[len(bounds)] those above the last.
type series struct {
	kind    obs.Kind
	labels  atomic.Pointer[string] // `host="…",check="…",kind="…"[,role="…"]`
	counts  []atomic.Uint64
	sumBits atomic.Uint64 // float64 sum, seconds
}

// New returns an empty Set.
func New(c Config) *Set {
	return &Set{bounds: slices.Clone(c.Buckets), export: slices.Clone(c.ExportLabels), labels: c.Labels, series: map[key]*series{}}
}

// Observe records one RTT for check (host, name) of kind k.
func (s *Set) Observe(host, name string, k obs.Kind, rtt time.Duration) {
	if rtt <= 0 {
		s.dropped.Add(1)
		return
	}
	kk := key{host, name}
	s.mu.RLock()
	sr := s.series[kk]
	s.mu.RUnlock()
	if sr == nil {
		s.mu.Lock()
		if sr = s.series[kk]; sr == nil {
			sr = &series{kind: k, counts: make([]atomic.Uint64, len(s.bounds)+1)}
			l := s.labelString(host, name, k)
			sr.labels.Store(&l)
			s.series[kk] = sr
		}
		s.mu.Unlock()
	}
	v := rtt.Seconds()
	sr.counts[sort.SearchFloat64s(s.bounds, v)].Add(1)
	for {
		old := sr.sumBits.Load()
		if sr.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
}

// Relabel recomputes every series' exported labels (after a reload
// changed the targets file's labels) and forgets the series for which
// keep returns false (checks no longer configured). keep may be nil.
func (s *Set) Relabel(keep func(host, check string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sr := range s.series {
		if keep != nil && !keep(k.host, k.check) {
			delete(s.series, k)
			continue
		}
		l := s.labelString(k.host, k.check, sr.kind)
		sr.labels.Store(&l)
	}
}

func (s *Set) labelString(host, check string, k obs.Kind) string {
	var sb strings.Builder
	sb.WriteString(`host="`)
	writeValue(&sb, host)
	sb.WriteString(`",check="`)
	writeValue(&sb, check)
	sb.WriteString(`",kind="`)
	sb.WriteString(k.String())
	sb.WriteByte('"')
	if len(s.export) > 0 {
		var vals []string
		if s.labels != nil {
			vals = s.labels(host)
		}
		for i, name := range s.export {
			if i >= len(vals) || vals[i] == "" {
				continue // an empty label is no label to Prometheus
			}
			sb.WriteString(`,` + name + `="`)
			writeValue(&sb, vals[i])
			sb.WriteByte('"')
		}
	}
	return sb.String()
}

func writeValue(sb *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			sb.WriteString(`\\`)
		case '"':
			sb.WriteString(`\"`)
		case '\n':
			sb.WriteString(`\n`)
		default:
			sb.WriteByte(c)
		}
	}
}

// Run observes the RTT of every successful Result event from sub until
// ctx ends or sub is closed.
func (s *Set) Run(ctx context.Context, sub *event.Sub) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.C():
			if !ok {
				return nil
			}
			if e.Type == event.Result && e.Obs != nil && e.Obs.Outcome == obs.OK {
				s.Observe(e.Host, e.Check, e.Kind, e.Obs.RTT)
			}
		}
	}
}

// Len is the number of series.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.series)
}

// WriteTo writes the histogram family in the Prometheus text format:
// cumulative _bucket lines ending in le="+Inf", then _sum and _count,
// per series, series sorted by labels. It implements io.WriterTo.
func (s *Set) WriteTo(w io.Writer) (int64, error) {
	s.mu.RLock()
	all := make([]*series, 0, len(s.series))
	for _, sr := range s.series {
		all = append(all, sr)
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool { return *all[i].labels.Load() < *all[j].labels.Load() })
	les := make([]string, len(s.bounds)+1)
	for i, b := range s.bounds {
		les[i] = strconv.FormatFloat(b, 'g', -1, 64)
	}
	les[len(s.bounds)] = "+Inf"

	var n int64
	buf := make([]byte, 0, 4096)
	flush := func() error {
		m, err := w.Write(buf)
		n += int64(m)
		buf = buf[:0]
		return err
	}
	buf = append(buf, "# HELP "+Name+" RTT of successful results per check (ICMP echo, UDP, TCP connect, HTTP first byte, heartbeat).\n# TYPE "+Name+" histogram\n"...)
	for _, sr := range all {
		labels := *sr.labels.Load()
		// Read the buckets first and derive count from them, so the
		// exposition is consistent even while Observe runs.
		var cum uint64
		for i := range sr.counts {
			cum += sr.counts[i].Load()
			buf = append(buf, Name+"_bucket{"...)
			buf = append(buf, labels...)
			buf = append(buf, `,le="`...)
			buf = append(buf, les[i]...)
			buf = append(buf, `"} `...)
			buf = strconv.AppendUint(buf, cum, 10)
			buf = append(buf, '\n')
		}
		buf = append(buf, Name+"_sum{"...)
		buf = append(buf, labels...)
		buf = append(buf, "} "...)
		buf = strconv.AppendFloat(buf, math.Float64frombits(sr.sumBits.Load()), 'g', -1, 64)
		buf = append(buf, '\n')
		buf = append(buf, Name+"_count{"...)
		buf = append(buf, labels...)
		buf = append(buf, "} "...)
		buf = strconv.AppendUint(buf, cum, 10)
		buf = append(buf, '\n')
		if len(buf) > 64<<10 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}
