// SPDX-License-Identifier: MIT

package rtthist

import (
	"context"
	"errors"
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
	"github.com/hbmon/hb/internal/promtext"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Name is the histogram's metric name, Help its # HELP text.
const (
	Name = "hb_check_rtt_seconds"
	Help = "RTT of successful results per check (ICMP echo, UDP, TCP connect, HTTP first byte, heartbeat)."
)

// LabelFunc returns the values of the exported labels (in the order of
// Config.ExportLabels) for host; "" for a label the host lacks.
type LabelFunc func(host string) []string

// Config configures a Set.
type Config struct {
	Buckets      []float64 // upper bounds, seconds, strictly ascending
	ExportLabels []string  // target-file label names added to every series
	Labels       LabelFunc // values of ExportLabels per host; nil: all ""

	// NativeFactor is the growth factor between adjacent native buckets
	// (client_golang's NativeHistogramBucketFactor; SchemaForFactor); 0
	// or less than or equal to 1: no native buckets (native.go).
	NativeFactor float64

	// Table, if not nil, is the check table the results come from: a
	// result's series is then found by the event's table generation and
	// check id (event.Event.Gen, ID), without a lookup by name. nil:
	// series are found by name.
	Table *state.Table
}

// Set is the histograms of all checks.
type Set struct {
	bounds []float64
	export []string
	labels LabelFunc
	schema int32 // native schema; noNative: off
	// nativeOn is set by the first WriteProto (a scraper negotiated the
	// protobuf exposition): native buckets are counted from then on, so a
	// daemon nobody scrapes that way keeps none (~86 bytes a check).
	nativeOn atomic.Bool

	// The series of the table's generation gen are in recs, indexed by
	// the table's check id (no map entry per series: ~60 bytes a check);
	// the others (no table, or a check not in the table) in byName.
	// remap moves them when the table's generation changes. mu guards
	// recs, byName, the series' names and the move of a series' counts
	// to dense; gen is written with mu write-locked.
	table  *state.Table
	mu     sync.RWMutex
	gen    atomic.Uint64
	recs   []*series
	byName map[key]*series

	dropped atomic.Uint64 // results seen with an RTT but no usable value
}

type key struct{ host, check string }

// series is one check's histogram (80 bytes): counts[i] counts RTTs in
// (bounds[i-1], bounds[i]]; counts[len(bounds)] those above the last.
//
// A check's RTTs mostly fall in a few adjacent buckets, so a series
// starts with a window of window counts, buckets lo..lo+window-1, kept in
// the series itself (16 bytes instead of 8 per bucket plus a slice
// and a label string per check: 100k checks are ~35 MB less). The first
// RTT outside the window, or a window count that would pass 2^32−1,
// moves the counts into a full array (dense, 64-bit counts), which from
// then on is the only one written. Counts are updated
// atomically under Set.mu read-locked; the move takes Set.mu write-locked,
// so no increment is lost, and a reader sees either the window (frozen
// once dense is set) or dense.
//
// The names are the table's strings (remap replaces them by the new
// generation's equal ones, so an old generation's are not kept alive);
// they are read and written with Set.mu held.
type series struct {
	host, check string
	kind        obs.Kind
	lo          atomic.Uint32 // first bucket of the window (set while it is empty; WriteTo reads it unlocked)
	sumBits     atomic.Uint64 // float64 sum, seconds
	win         [window]atomic.Uint32
	nat         atomic.Pointer[natBuckets] // native buckets (native.go); nil until an RTT
	aux         atomic.Pointer[seriesAux]  // nil until a tcp/http result's metrics or dense counts
}

// seriesAux is what only some series need, apart to keep series small.
type seriesAux struct {
	last  atomic.Pointer[lastMetrics] // tcp/http: the latest result's phases, status, certificate
	dense atomic.Pointer[[]atomic.Uint64]
}

// more returns the series' seriesAux, made on first use.
func (sr *series) more() *seriesAux {
	if a := sr.aux.Load(); a != nil {
		return a
	}
	a := new(seriesAux)
	if sr.aux.CompareAndSwap(nil, a) {
		return a
	}
	return sr.aux.Load()
}

// denseCounts returns the series' dense counts, nil while it counts in
// its window.
func (sr *series) denseCounts() *[]atomic.Uint64 {
	if a := sr.aux.Load(); a != nil {
		return a.dense.Load()
	}
	return nil
}

// window is how many buckets a series counts before it needs all of them.
const window = 4

// New returns an empty Set.
func New(c Config) *Set {
	schema := int32(noNative)
	if c.NativeFactor > 1 {
		schema = SchemaForFactor(c.NativeFactor)
	}
	return &Set{bounds: slices.Clone(c.Buckets), export: slices.Clone(c.ExportLabels), labels: c.Labels, schema: schema,
		table: c.Table, byName: map[key]*series{}}
}

// lastMetrics are the figures of a tcp/http check's latest result.
type lastMetrics struct {
	phase      [numPhases]float64
	has        [numPhases]bool
	status     float64 // 0: none
	certExpiry float64 // 0: none
}

// The obs.Metric names of the checks package (checks.Metric*; a test
// there keeps them equal; importing it here would make a cycle through
// api's tests).
const (
	MetricStatus  = "http_status_code"
	MetricCertEnd = "tls_cert_expiry_timestamp_seconds"
)

// PhaseNames are the phases exported as hb_check_phase_seconds{phase=…}
// and the obs.Metric each comes from.
var PhaseNames = [...]struct{ Label, Metric string }{
	{"dns", "dns_seconds"}, {"connect", "connect_seconds"}, {"tls", "tls_seconds"},
	{"first_byte", "first_byte_seconds"}, {"total", "duration_seconds"},
}

const numPhases = len(PhaseNames)

// ObserveMetrics keeps the phase timings, HTTP status and certificate
// expiry of a tcp/http result (other names are ignored: they are not
// bounded).
func (s *Set) ObserveMetrics(host, name string, k obs.Kind, ms []obs.Metric) {
	s.observeMetrics(s.get(0, -1, host, name, k), ms)
}

// observeMetrics is ObserveMetrics into sr.
func (s *Set) observeMetrics(sr *series, ms []obs.Metric) {
	var lm lastMetrics
	for _, m := range ms {
		switch m.Name {
		case MetricStatus:
			lm.status = m.Value
		case MetricCertEnd:
			lm.certExpiry = m.Value
		default:
			for i, p := range PhaseNames {
				if p.Metric == m.Name {
					lm.phase[i], lm.has[i] = m.Value, true
				}
			}
		}
	}
	sr.more().last.Store(&lm)
}

// get returns the series of check (host, name), made if new. gen and id
// are the check's table generation and id when known (gen 0: not).
func (s *Set) get(gen uint64, id int, host, name string, k obs.Kind) *series {
	s.sync()
	s.mu.RLock()
	sr := s.find(gen, id, host, name)
	s.mu.RUnlock()
	if sr == nil {
		s.mu.Lock()
		sr = s.make(gen, id, host, name, k)
		s.mu.Unlock()
	}
	return sr
}

// sync remaps the series when the table has a new generation.
func (s *Set) sync() {
	if s.table == nil {
		return
	}
	if v := s.table.View(); v.Gen != s.gen.Load() {
		s.mu.Lock()
		s.remap(s.table.View())
		s.mu.Unlock()
	}
}

// find returns the series of check (host, name), nil if it has none yet
// (or the table has a generation the series are not indexed by yet). gen
// and id as get's. s.mu held (read or write).
func (s *Set) find(gen uint64, id int, host, name string) *series {
	if s.table != nil {
		g := s.gen.Load()
		if gen != g || id < 0 || id >= len(s.recs) {
			v := s.table.View()
			if v.Gen != g {
				return nil // make remaps
			}
			c := v.LookupCheck(host, name)
			if c == nil {
				return s.byName[key{host, name}]
			}
			id = c.ID
		}
		if id < len(s.recs) {
			return s.recs[id]
		}
	}
	return s.byName[key{host, name}]
}

// make returns the series of check (host, name), made if new. s.mu held
// (write).
func (s *Set) make(gen uint64, id int, host, name string, k obs.Kind) *series {
	if s.table != nil {
		v := s.table.View()
		if v.Gen != s.gen.Load() {
			s.remap(v)
		}
		if gen != v.Gen || id < 0 || id >= len(s.recs) {
			id = -1
			if c := v.LookupCheck(host, name); c != nil {
				id = c.ID
			}
		}
		if id >= 0 && id < len(s.recs) {
			sr := s.recs[id]
			if sr == nil {
				sr = &series{host: host, check: name, kind: k}
				s.recs[id] = sr
			}
			return sr
		}
	}
	kk := key{host, name}
	sr := s.byName[kk]
	if sr == nil {
		sr = &series{host: host, check: name, kind: k}
		s.byName[kk] = sr
	}
	return sr
}

// remap indexes the series by v's check ids; those of checks v does not
// have go to byName, which is rebuilt (a map does not shrink). A series
// whose check keeps its id (the usual case: registrations append, a
// reload that adds or removes a few shifts only the ids after them) is
// placed by comparing its names with the check of that id, without a
// lookup by name: a new generation of 100k checks costs about a
// millisecond rather than a lookup per check. s.mu held (write).
func (s *Set) remap(v *state.View) {
	if v.Gen == s.gen.Load() {
		return
	}
	s.recs, s.byName = state.Reindex(v, s.recs, s.byName,
		func(sr *series) (string, string) { return sr.host, sr.check },
		func(h, c string) key { return key{h, c} },
		func(sr *series, c *state.Check) { sr.host, sr.check = c.Spec().Host, c.Spec().Name })
	s.gen.Store(v.Gen)
}

// each calls fn for every series. s.mu held (read or write).
func (s *Set) each(fn func(*series)) {
	for _, sr := range s.recs {
		if sr != nil {
			fn(sr)
		}
	}
	for _, sr := range s.byName {
		fn(sr)
	}
}

// Observe records one RTT for check (host, name) of kind k.
func (s *Set) Observe(host, name string, k obs.Kind, rtt time.Duration) {
	s.observe(0, -1, host, name, k, rtt)
}

// observe is Observe with the check's table generation and id when known
// (gen 0: not). It returns the series (nil if rtt was dropped).
func (s *Set) observe(gen uint64, id int, host, name string, k obs.Kind, rtt time.Duration) *series {
	if rtt <= 0 {
		s.dropped.Add(1)
		return nil
	}
	s.sync()
	v := rtt.Seconds()
	b := sort.SearchFloat64s(s.bounds, v)
	native := s.schema != noNative && s.nativeOn.Load()
	var ni int32
	if native {
		ni = NativeIndex(v, s.schema)
	}
	s.mu.RLock()
	sr := s.find(gen, id, host, name)
	okC := sr != nil && sr.add(b)
	okN := !native || (okC && sr.addNative(ni))
	s.mu.RUnlock()
	if !okC || !okN {
		s.mu.Lock()
		if sr == nil {
			sr = s.make(gen, id, host, name, k)
		}
		if !okC && !sr.add(b) {
			if sr.empty() {
				// Made by ObserveMetrics, never counted: place the window.
				sr.lo.Store(uint32(max(0, min(b-1, len(s.bounds)+1-window))))
			} else {
				sr.toDense(len(s.bounds) + 1)
			}
			sr.add(b)
		}
		if !okN && !sr.addNative(ni) {
			sr.growNative(ni)
			sr.addNative(ni)
		}
		s.mu.Unlock()
	}
	for {
		old := sr.sumBits.Load()
		if sr.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	return sr
}

// add counts one RTT in bucket b, or returns false when b is outside the
// window and the series has no dense counts yet. Set.mu held (read).
func (sr *series) add(b int) bool {
	if d := sr.denseCounts(); d != nil {
		(*d)[b].Add(1)
		return true
	}
	i := b - int(sr.lo.Load())
	// A series made by ObserveMetrics has an empty window that may
	// still be placed.
	if i < 0 || i >= window {
		return false
	}
	for w := &sr.win[i]; ; {
		n := w.Load()
		if n == math.MaxUint32 {
			return false // full: the caller moves the counts to dense
		}
		if w.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// empty reports whether the window has never counted. Set.mu held (write).
func (sr *series) empty() bool {
	for i := range sr.win {
		if sr.win[i].Load() != 0 {
			return false
		}
	}
	return sr.denseCounts() == nil
}

// toDense moves the window's counts into an array of all n buckets.
// Set.mu held (write).
func (sr *series) toDense(n int) {
	if sr.denseCounts() != nil {
		return
	}
	d := make([]atomic.Uint64, n)
	for i := range sr.win {
		if j := int(sr.lo.Load()) + i; j < n {
			d[j].Store(uint64(sr.win[i].Load()))
		}
	}
	sr.more().dense.Store(&d)
}

// counts appends the series' count per bucket (n buckets) to dst.
func (sr *series) counts(dst []uint64, n int) []uint64 {
	if d := sr.denseCounts(); d != nil {
		for i := range *d {
			dst = append(dst, (*d)[i].Load())
		}
		return dst
	}
	lo := int(sr.lo.Load())
	for i := range n {
		var c uint64
		if j := i - lo; j >= 0 && j < window {
			c = uint64(sr.win[j].Load())
		}
		dst = append(dst, c)
	}
	return dst
}

// Relabel forgets the series for which keep returns false (checks no
// longer configured), after a reload; keep may be nil. Exported labels
// are read from Config.Labels at every WriteTo, so a reload's new label
// values show at the next scrape.
func (s *Set) Relabel(keep func(host, check string) bool) {
	if keep == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sr := range s.recs {
		if sr != nil && !keep(sr.host, sr.check) {
			s.recs[i] = nil
		}
	}
	for k := range s.byName {
		if !keep(k.host, k.check) {
			delete(s.byName, k)
		}
	}
}

func (s *Set) labelString(host, check string, k obs.Kind) string {
	var sb strings.Builder
	sb.WriteString(`host="`)
	promtext.EscapeTo(&sb, host)
	sb.WriteString(`",check="`)
	promtext.EscapeTo(&sb, check)
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
			promtext.EscapeTo(&sb, vals[i])
			sb.WriteByte('"')
		}
	}
	return sb.String()
}

// Run observes the RTT of every successful Result event from sub (from
// event.Bus.SubscribeBatch: it takes what is queued at once) until ctx
// ends or sub is closed.
func (s *Set) Run(ctx context.Context, sub *event.Sub) error {
	if sub.Ready() == nil {
		return errors.New("rtthist: Run needs a subscription from event.Bus.SubscribeBatch")
	}
	var evs []event.Event
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Ready():
			var ok bool
			evs, ok = sub.Take(evs)
			for i := range evs {
				s.result(&evs[i])
			}
			if !ok {
				return nil
			}
		}
	}
}

// result is one Result event.
func (s *Set) result(e *event.Event) {
	if e.Type != event.Result || e.Obs == nil {
		return
	}
	var sr *series
	if e.Obs.Outcome == obs.OK {
		sr = s.observe(e.Gen, e.ID, e.Host, e.Check, e.Kind, e.Obs.RTT)
	}
	if (e.Kind == obs.KindTCP || e.Kind == obs.KindHTTP) && len(e.Obs.Metrics) > 0 {
		if sr == nil {
			sr = s.get(e.Gen, e.ID, e.Host, e.Check, e.Kind)
		}
		s.observeMetrics(sr, e.Obs.Metrics)
	}
}

// Len is the number of series.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.byName)
	for _, sr := range s.recs {
		if sr != nil {
			n++
		}
	}
	return n
}

// WriteTo writes the histogram family in the Prometheus text format:
// cumulative _bucket lines ending in le="+Inf", then _sum and _count,
// per series, series sorted by labels. It implements io.WriterTo.
func (s *Set) WriteTo(w io.Writer) (int64, error) { return s.writeText(w, true) }

// writeText writes the families in the text format, the histogram only
// if hist (WriteProto encodes it directly).
func (s *Set) writeText(w io.Writer, hist bool) (int64, error) {
	// Labels are made here, per scrape, rather than kept per series.
	type entry struct {
		labels string
		sr     *series
		k      key
	}
	s.mu.RLock()
	all := make([]entry, 0, len(s.recs)+len(s.byName))
	s.each(func(sr *series) { all = append(all, entry{sr: sr, k: key{sr.host, sr.check}}) })
	s.mu.RUnlock()
	for i := range all { // outside the lock: Observe may add series meanwhile
		all[i].labels = s.labelString(all[i].k.host, all[i].k.check, all[i].sr.kind)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].labels < all[j].labels })
	les := make([]string, len(s.bounds)+1)
	for i, b := range s.bounds {
		les[i] = strconv.FormatFloat(b, 'g', -1, 64)
	}
	les[len(s.bounds)] = "+Inf"
	counts := make([]uint64, 0, len(les))

	var n int64
	buf := make([]byte, 0, 4096)
	flush := func() error {
		m, err := w.Write(buf)
		n += int64(m)
		buf = buf[:0]
		return err
	}
	histAll := all
	if hist {
		buf = append(buf, "# HELP "+Name+" "+Help+"\n# TYPE "+Name+" histogram\n"...)
	} else {
		histAll = nil
	}
	for _, ls := range histAll {
		labels, sr := ls.labels, ls.sr
		// Read the buckets first and derive count from them, so the
		// exposition is consistent even while Observe runs.
		counts = sr.counts(counts[:0], len(les))
		var total uint64
		for _, c := range counts {
			total += c
		}
		if total == 0 {
			continue // only metrics so far (a failing check)
		}
		var cum uint64
		for i, c := range counts {
			cum += c
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
	// The latest tcp/http results' figures.
	gauge := func(name, help string, val func(*lastMetrics) []labelled) error {
		header := false
		for _, ls := range all {
			a := ls.sr.aux.Load()
			if a == nil {
				continue
			}
			lm := a.last.Load()
			if lm == nil {
				continue
			}
			for _, lv := range val(lm) {
				if !header {
					buf = append(buf, "# HELP "+name+" "+help+"\n# TYPE "+name+" gauge\n"...)
					header = true
				}
				buf = append(buf, name+"{"...)
				buf = append(buf, ls.labels...)
				buf = append(buf, lv.extra...)
				buf = append(buf, "} "...)
				buf = strconv.AppendFloat(buf, lv.v, 'g', -1, 64)
				buf = append(buf, '\n')
			}
			if len(buf) > 64<<10 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := gauge("hb_check_phase_seconds", "Phases of the latest TCP/HTTP check: dns, connect, tls, first_byte, total.", func(lm *lastMetrics) []labelled {
		var out []labelled
		for i, p := range PhaseNames {
			if lm.has[i] {
				out = append(out, labelled{`,phase="` + p.Label + `"`, lm.phase[i]})
			}
		}
		return out
	}); err != nil {
		return n, err
	}
	if err := gauge("hb_check_http_status_code", "HTTP status of the latest HTTP check.", func(lm *lastMetrics) []labelled {
		if lm.status == 0 {
			return nil
		}
		return []labelled{{"", lm.status}}
	}); err != nil {
		return n, err
	}
	if err := gauge("hb_check_tls_cert_expiry_timestamp_seconds", "Earliest NotAfter of the certificate chain served to the latest HTTPS check, unix seconds.", func(lm *lastMetrics) []labelled {
		if lm.certExpiry == 0 {
			return nil
		}
		return []labelled{{"", lm.certExpiry}}
	}); err != nil {
		return n, err
	}
	return n, flush()
}

type labelled struct {
	extra string
	v     float64
}
