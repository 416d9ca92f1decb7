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
	"unsafe"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/offheap"
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

	// The series of the table's generation v are in recs, indexed by the
	// table's check id: values outside the Go heap (internal/offheap),
	// their names the table's, so a result costs one cache miss on its
	// series and nothing for the collector to scan; the others (no
	// table, or a check not in the table) in byName. remap moves them
	// when the table's generation changes. mu guards recs, byName, v,
	// auxs and the move of a series' counts to dense; gen is written
	// with mu write-locked. A *series is used only with mu held, or by a
	// scrape (scrapes > 0), for which remap keeps the old slice mapped.
	table    *state.Table
	mu       sync.RWMutex
	gen      atomic.Uint64
	v        *state.View
	recs     []series
	freeRecs func()
	byName   map[key]*named
	// auxs holds what only some series need (seriesAux), series.aux - 1
	// indexing it; afree are its free places.
	auxs  []*seriesAux
	afree []uint32

	// Scrapes in progress, and the slices remap replaced meanwhile
	// (freed when the last scrape ends).
	scrapeMu sync.Mutex
	scrapes  int
	retired  []func()

	dropped atomic.Uint64 // results seen with an RTT but no usable value
}

type key struct{ host, check string }

// named is a series found by name (byName).
type named struct {
	key
	series
}

// series is one check's histogram (32 bytes, no pointers: one half of
// a cache line, so a result touches one line): counts[i] counts RTTs in
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
type series struct {
	sumBits atomic.Uint64 // float64 sum, seconds
	win     [window]atomic.Uint32
	aux     atomic.Uint32 // 1 + index of its seriesAux in Set.auxs; 0: none yet
	// meta is the window's first bucket lo (bits 0-15: set while the
	// window is empty; WriteTo reads it unlocked), the check's kind (bits
	// 16-23) and metaLive (a series: recs holds a place for every
	// check). Written with Set.mu write-locked.
	meta atomic.Uint32
}

const metaLive = 1 << 24

func (sr *series) lo() int        { return int(sr.meta.Load() & 0xffff) }
func (sr *series) kind() obs.Kind { return obs.Kind(sr.meta.Load() >> 16) }
func (sr *series) live() bool     { return sr.meta.Load()&metaLive != 0 }
func (sr *series) setLo(lo int)   { sr.meta.Store(sr.meta.Load()&^0xffff | uint32(lo)&0xffff) }
func (sr *series) setKind(k obs.Kind) {
	sr.meta.Store(metaLive | uint32(k)<<16 | sr.meta.Load()&0xffff)
}

// copyFrom makes sr a copy of o, a plain copy of its bytes: Set.mu is
// held (write), so nothing changes o meanwhile (a scrape may read it),
// and sr is in a slice nobody else sees yet.
func (sr *series) copyFrom(o *series) {
	const n = unsafe.Sizeof(series{})
	*(*[n]byte)(unsafe.Pointer(sr)) = *(*[n]byte)(unsafe.Pointer(o))
}

// seriesAux is what only some series need, apart to keep series small
// and pointer-free.
type seriesAux struct {
	last  atomic.Pointer[lastMetrics] // tcp/http: the latest result's phases, status, certificate
	dense atomic.Pointer[[]atomic.Uint64]
	nat   atomic.Pointer[natBuckets] // native buckets (native.go); nil until an RTT
}

// auxOf returns sr's seriesAux, nil if it has none. Set.mu held.
func (s *Set) auxOf(sr *series) *seriesAux {
	if i := sr.aux.Load(); i != 0 {
		return s.auxs[i-1]
	}
	return nil
}

// more returns sr's seriesAux, made on first use. Set.mu held (write).
func (s *Set) more(sr *series) *seriesAux {
	if a := s.auxOf(sr); a != nil {
		return a
	}
	a := new(seriesAux)
	if n := len(s.afree); n > 0 {
		i := s.afree[n-1]
		s.afree = s.afree[:n-1]
		s.auxs[i] = a
		sr.aux.Store(i + 1)
	} else {
		s.auxs = append(s.auxs, a)
		sr.aux.Store(uint32(len(s.auxs)))
	}
	return a
}

// dropAux frees sr's seriesAux place. Set.mu held (write).
func (s *Set) dropAux(sr *series) {
	if i := sr.aux.Load(); i != 0 {
		s.auxs[i-1] = nil
		s.afree = append(s.afree, i-1)
		sr.aux.Store(0)
	}
}

// denseCounts returns the dense counts of a (sr's seriesAux, may be
// nil), nil while it counts in its window.
func denseCounts(a *seriesAux) *[]atomic.Uint64 {
	if a != nil {
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
		table: c.Table, byName: map[key]*named{}}
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
	s.observeMetrics(0, -1, host, name, k, ms)
}

// observeMetrics is ObserveMetrics with the check's table generation and
// id when known (gen 0: not).
func (s *Set) observeMetrics(gen uint64, id int, host, name string, k obs.Kind, ms []obs.Metric) {
	lm := new(lastMetrics)
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
	s.sync()
	s.mu.RLock()
	if sr := s.find(gen, id, host, name); sr != nil {
		if a := s.auxOf(sr); a != nil {
			a.last.Store(lm)
			s.mu.RUnlock()
			return
		}
	}
	s.mu.RUnlock()
	s.mu.Lock()
	s.more(s.make(gen, id, host, name, k)).last.Store(lm)
	s.mu.Unlock()
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
// and id as observe's. s.mu held (read or write).
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
				return s.named(host, name)
			}
			id = c.ID
		}
		if id < len(s.recs) {
			if sr := &s.recs[id]; sr.live() {
				return sr
			}
			return nil
		}
	}
	return s.named(host, name)
}

// named returns the series of (host, name) in byName, nil if none.
func (s *Set) named(host, name string) *series {
	if nm := s.byName[key{host, name}]; nm != nil {
		return &nm.series
	}
	return nil
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
			sr := &s.recs[id]
			if !sr.live() {
				sr.setKind(k)
			}
			return sr
		}
	}
	kk := key{host, name}
	nm := s.byName[kk]
	if nm == nil {
		nm = &named{key: kk}
		nm.setKind(k)
		s.byName[kk] = nm
	}
	return &nm.series
}

// remap indexes the series by v's check ids, in a new slice; those of
// checks v does not have go to byName, which is rebuilt (a map does not
// shrink). A series whose check keeps its id (the usual case:
// registrations append, a reload that adds or removes a few shifts only
// the ids after them) is placed by comparing its names with the check
// of that id, without a lookup by name: a new generation of 100k checks
// costs about a millisecond rather than a lookup per check. s.mu held
// (write).
func (s *Set) remap(v *state.View) {
	if v.Gen == s.gen.Load() && s.v != nil {
		return
	}
	old, oldRecs, oldFree := s.v, s.recs, s.freeRecs
	n := v.NumChecks()
	if old != nil && n >= len(oldRecs) && n <= cap(oldRecs) && state.KeepsIDs(old, v, len(oldRecs), func(i int) bool { return oldRecs[i].live() }) {
		// Every record keeps its id (hosts appended): in place, the
		// slice's room taken (never written, so zero).
		s.recs, oldRecs, oldFree = oldRecs[:n], nil, nil
	} else {
		// Room for registrations to append in place.
		s.recs, s.freeRecs = offheap.Make[series](n + n/16 + 16)
		s.recs = s.recs[:n]
	}
	byName := s.byName
	if len(byName) > 0 {
		s.byName = map[key]*named{}
	}
	for i := range oldRecs {
		sr := &oldRecs[i]
		if !sr.live() {
			continue
		}
		sp := old.Check(i).Spec()
		if c := v.Check(i); c != nil && c.Host().Name() == sp.Host && c.Name() == sp.Name {
			s.recs[i].copyFrom(sr)
			continue
		}
		// Names are unique in a generation: no other series goes to the
		// place found.
		if tc := v.LookupCheck(sp.Host, sp.Name); tc != nil {
			s.recs[tc.ID].copyFrom(sr)
			continue
		}
		nm := &named{key: key{sp.Host, sp.Name}}
		nm.series.copyFrom(sr)
		s.byName[nm.key] = nm
	}
	for k, nm := range byName {
		if tc := v.LookupCheck(k.host, k.check); tc != nil {
			s.recs[tc.ID].copyFrom(&nm.series)
			continue
		}
		s.byName[k] = nm
	}
	s.v = v
	s.gen.Store(v.Gen)
	if oldFree != nil {
		s.scrapeMu.Lock()
		if s.scrapes > 0 {
			s.retired = append(s.retired, oldFree) // a scrape may still read it
		} else {
			oldFree()
		}
		s.scrapeMu.Unlock()
	}
}

// scrapeStart and scrapeEnd bracket a scrape reading series outside
// s.mu: slices remap replaces meanwhile are freed at its end.
func (s *Set) scrapeStart() {
	s.scrapeMu.Lock()
	s.scrapes++
	s.scrapeMu.Unlock()
}

func (s *Set) scrapeEnd() {
	s.scrapeMu.Lock()
	defer s.scrapeMu.Unlock()
	if s.scrapes--; s.scrapes == 0 {
		for _, f := range s.retired {
			f()
		}
		s.retired = nil
	}
}

// each calls fn for every series with its names. s.mu held (read or
// write).
func (s *Set) each(fn func(sr *series, host, check string)) {
	for i := range s.recs {
		if sr := &s.recs[i]; sr.live() {
			c := s.v.Check(i)
			fn(sr, c.Host().Name(), c.Name())
		}
	}
	for _, nm := range s.byName {
		fn(&nm.series, nm.host, nm.check)
	}
}

// Observe records one RTT for check (host, name) of kind k.
func (s *Set) Observe(host, name string, k obs.Kind, rtt time.Duration) {
	s.observe(0, -1, host, name, k, rtt)
}

// observe is Observe with the check's table generation and id when known
// (gen 0: not).
func (s *Set) observe(gen uint64, id int, host, name string, k obs.Kind, rtt time.Duration) {
	if rtt <= 0 {
		s.dropped.Add(1)
		return
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
	okC := sr != nil && s.add(sr, b)
	okN := !native || (okC && s.addNative(sr, ni))
	if okC && okN {
		addSum(sr, v)
		s.mu.RUnlock()
		return
	}
	s.mu.RUnlock()
	s.mu.Lock()
	if sr == nil {
		sr = s.make(gen, id, host, name, k)
	} else {
		sr = s.find(gen, id, host, name) // s.mu was let go: remap may have moved it
		if sr == nil {
			sr = s.make(gen, id, host, name, k)
		}
	}
	if !okC && !s.add(sr, b) {
		if s.empty(sr) {
			// Made by ObserveMetrics, never counted: place the window.
			sr.setLo(max(0, min(b-1, len(s.bounds)+1-window)))
		} else {
			s.toDense(sr, len(s.bounds)+1)
		}
		s.add(sr, b)
	}
	if !okN && !s.addNative(sr, ni) {
		s.growNative(sr, ni)
		s.addNative(sr, ni)
	}
	addSum(sr, v)
	s.mu.Unlock()
}

// addSum adds v to sr's sum. Set.mu held.
func addSum(sr *series, v float64) {
	for {
		old := sr.sumBits.Load()
		if sr.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// add counts one RTT in bucket b, or returns false when b is outside the
// window and the series has no dense counts yet. Set.mu held (read).
func (s *Set) add(sr *series, b int) bool {
	if sr.aux.Load() != 0 {
		if d := denseCounts(s.auxOf(sr)); d != nil {
			(*d)[b].Add(1)
			return true
		}
	}
	i := b - sr.lo()
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
func (s *Set) empty(sr *series) bool {
	for i := range sr.win {
		if sr.win[i].Load() != 0 {
			return false
		}
	}
	return denseCounts(s.auxOf(sr)) == nil
}

// toDense moves the window's counts into an array of all n buckets.
// Set.mu held (write).
func (s *Set) toDense(sr *series, n int) {
	if denseCounts(s.auxOf(sr)) != nil {
		return
	}
	d := make([]atomic.Uint64, n)
	for i := range sr.win {
		if j := sr.lo() + i; j < n {
			d[j].Store(uint64(sr.win[i].Load()))
		}
	}
	s.more(sr).dense.Store(&d)
}

// counts appends the series' count per bucket (n buckets) to dst; a is
// its seriesAux (may be nil).
func (sr *series) counts(a *seriesAux, dst []uint64, n int) []uint64 {
	if d := denseCounts(a); d != nil {
		for i := range *d {
			dst = append(dst, (*d)[i].Load())
		}
		return dst
	}
	lo := sr.lo()
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
	for i := range s.recs {
		sr := &s.recs[i]
		if c := s.v.Check(i); sr.live() && !keep(c.Host().Name(), c.Name()) {
			s.dropAux(sr)
			sr.meta.Store(0)
			sr.sumBits.Store(0)
			for j := range sr.win {
				sr.win[j].Store(0)
			}
		}
	}
	for k, nm := range s.byName {
		if !keep(k.host, k.check) {
			s.dropAux(&nm.series)
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
	if e.Obs.Outcome == obs.OK {
		s.observe(e.Gen, e.ID, e.Host, e.Check, e.Kind, e.Obs.RTT)
	}
	if (e.Kind == obs.KindTCP || e.Kind == obs.KindHTTP) && len(e.Obs.Metrics) > 0 {
		s.observeMetrics(e.Gen, e.ID, e.Host, e.Check, e.Kind, e.Obs.Metrics)
	}
}

// Len is the number of series.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.byName)
	for i := range s.recs {
		if s.recs[i].live() {
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
		aux    *seriesAux
		k      key
		kind   obs.Kind
	}
	s.mu.RLock()
	s.scrapeStart() // the series are read outside s.mu
	defer s.scrapeEnd()
	all := make([]entry, 0, len(s.recs)+len(s.byName))
	s.each(func(sr *series, host, check string) {
		all = append(all, entry{sr: sr, aux: s.auxOf(sr), k: key{host, check}, kind: sr.kind()})
	})
	s.mu.RUnlock()
	for i := range all { // outside the lock: Observe may add series meanwhile
		all[i].labels = s.labelString(all[i].k.host, all[i].k.check, all[i].kind)
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
		counts = sr.counts(ls.aux, counts[:0], len(les))
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
			a := ls.aux
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
