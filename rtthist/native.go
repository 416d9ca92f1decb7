// SPDX-License-Identifier: MIT

package rtthist

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync/atomic"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hbmon/hb/internal/promtext"
	"github.com/hbmon/hb/obs"
)

// Native histograms (Prometheus' sparse, exponential buckets): bucket i
// of schema s counts RTTs in (2^((i-1)/2^s), 2^(i/2^s)] seconds. They are
// served only in the protobuf exposition (WriteProto, called by the api's
// protobuf path); the text format keeps the classic buckets alone. They
// are counted from the first WriteProto on (the first scrape that
// negotiates protobuf): until a scraper asks for them no series holds
// any, and that first scrape restarts every series (startNative), so the
// classic buckets, the sum and the native buckets always cover the same
// RTTs.
//
// A series keeps its native counts in chunks of chunkLen adjacent
// buckets, allocated the first time an RTT falls in them, behind a
// directory (natBuckets) that covers the chunks from the lowest to the
// highest one seen. A check's RTTs mostly stay within an octave or two, so
// at schema 3 (8 buckets per octave, the default) a series holds two or
// three chunks. Counts are uint32: a bucket wraps after 2^32 RTTs (136
// years at one RTT a second in the same bucket).
//
// Counting is atomic under Set.mu read-locked, like the classic buckets. A
// new chunk or a wider directory is made under Set.mu write-locked, as a
// new directory holding the same chunk pointers (copy on write), so a
// scrape reading the old directory without the lock sees valid counts and
// no increment is lost.

// chunkLen is the number of native buckets per chunk.
const chunkLen = 8

type natChunk [chunkLen]atomic.Uint32

type natBuckets struct {
	lo     int32       // chunk number of chunks[0] (bucket index >> 3)
	chunks []*natChunk // nil: no RTT there yet
}

// NativeZeroThreshold is the width of the zero bucket: client_golang's
// default (2^-128). RTTs are at least 1 ns, so it never counts; it is
// served because Prometheus takes a histogram with neither spans nor a
// zero bucket for a classic one.
const NativeZeroThreshold = 2.938735877055719e-39

// SchemaForFactor returns the native schema client_golang picks for a
// bucket growth factor (NativeHistogramBucketFactor): the highest
// resolution whose factor 2^(2^-schema) is at most factor, clamped to
// Prometheus' range -4..8. factor must be above 1.
func SchemaForFactor(factor float64) int32 {
	floor := math.Floor(math.Log2(math.Log2(factor)))
	switch {
	case floor <= -8:
		return 8
	case floor >= 4:
		return -4
	}
	return -int32(floor)
}

// nativeBounds[s] are the fractions (in [0.5, 1)) at which schema s's
// buckets start within an octave, for s > 0: 0.5·2^(j/2^s).
var nativeBounds = func() [9][]float64 {
	var b [9][]float64
	for s := 1; s <= 8; s++ {
		n := 1 << s
		b[s] = make([]float64, n)
		for j := range n {
			b[s][j] = 0.5 * math.Exp2(float64(j)/float64(n))
		}
	}
	return b
}()

// NativeIndex is the index of the schema's bucket holding v (v > 0):
// the i with 2^((i-1)/2^schema) < v ≤ 2^(i/2^schema).
func NativeIndex(v float64, schema int32) int32 {
	frac, exp := math.Frexp(v) // v = frac·2^exp, frac in [0.5, 1)
	if schema > 0 {
		b := nativeBounds[schema]
		return int32(sort.SearchFloat64s(b, frac) + (exp-1)*len(b))
	}
	key := int32(exp)
	if frac == 0.5 {
		key-- // an exact power of two is the upper bound of the bucket below
	}
	off := int32(1)<<-schema - 1
	return (key + off) >> -schema
}

// addNative counts one RTT in native bucket i, or returns false when its
// chunk is not there yet. Set.mu held (read or write).
func (s *Set) addNative(sr *series, i int32) bool {
	a := s.auxOf(sr)
	if a == nil {
		return false
	}
	nb := a.nat.Load()
	if nb == nil {
		return false
	}
	c := int(i>>3 - nb.lo)
	if c < 0 || c >= len(nb.chunks) || nb.chunks[c] == nil {
		return false
	}
	nb.chunks[c][i&(chunkLen-1)].Add(1)
	return true
}

// growNative publishes a directory holding the chunk of bucket i. Set.mu
// held (write).
func (s *Set) growNative(sr *series, i int32) {
	ci := i >> 3
	a := s.more(sr)
	old := a.nat.Load()
	if old == nil {
		a.nat.Store(&natBuckets{lo: ci, chunks: []*natChunk{new(natChunk)}})
		return
	}
	lo, hi := min(old.lo, ci), max(old.lo+int32(len(old.chunks))-1, ci)
	nb := &natBuckets{lo: lo, chunks: make([]*natChunk, hi-lo+1)}
	copy(nb.chunks[old.lo-lo:], old.chunks)
	if nb.chunks[ci-lo] == nil {
		nb.chunks[ci-lo] = new(natChunk)
	}
	a.nat.Store(nb)
}

// nativeTo sets h's native fields from the series' counts (schema, zero
// bucket, positive spans and deltas) and returns their total. a is the
// series' seriesAux (may be nil).
func nativeTo(a *seriesAux, h *dto.Histogram, schema int32) uint64 {
	h.Schema = proto.Int32(schema)
	h.ZeroThreshold = proto.Float64(NativeZeroThreshold)
	h.ZeroCount = proto.Uint64(0)
	h.PositiveSpan, h.PositiveDelta = h.PositiveSpan[:0], h.PositiveDelta[:0] // the caller's, reused
	var nb *natBuckets
	if a != nil {
		nb = a.nat.Load()
	}
	if nb == nil {
		// No RTT yet: an empty span keeps the histogram native.
		h.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
		return 0
	}
	var (
		total   uint64
		prev    int64 // previous bucket's count, for the deltas
		last    int32 // index of the last bucket written
		started bool
		span    *dto.BucketSpan
	)
	for c, ch := range nb.chunks {
		if ch == nil {
			continue
		}
		for j := range ch {
			n := ch[j].Load()
			if n == 0 {
				continue
			}
			idx := (nb.lo+int32(c))*chunkLen + int32(j)
			switch {
			case !started:
				span = &dto.BucketSpan{Offset: proto.Int32(idx), Length: proto.Uint32(0)}
				h.PositiveSpan = append(h.PositiveSpan, span)
				started = true
			case idx != last+1:
				span = &dto.BucketSpan{Offset: proto.Int32(idx - last - 1), Length: proto.Uint32(0)}
				h.PositiveSpan = append(h.PositiveSpan, span)
			}
			*span.Length++
			h.PositiveDelta = append(h.PositiveDelta, int64(n)-prev)
			prev, last = int64(n), idx
			total += uint64(n)
		}
	}
	if !started {
		h.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
	}
	return total
}

// startNative turns native counting on, at the first protobuf scrape.
// The classic counts and sums restart from zero at the same instant
// (Set.mu write-locked, so no RTT in flight is counted in one and not the
// other): from then on the classic buckets, the sum and the native
// buckets cover the same RTTs, so a series' count, +Inf bucket and sum
// agree in every answer. To a scraper of either format that is one
// counter reset, which rate() and increase() already handle.
func (s *Set) startNative() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nativeOn.Load() {
		return
	}
	s.each(func(sr *series, _, _ string) {
		for i := range sr.win {
			sr.win[i].Store(0)
		}
		if d := denseCounts(s.auxOf(sr)); d != nil {
			for i := range *d {
				(*d)[i].Store(0)
			}
		}
		sr.sumBits.Store(0)
	})
	s.nativeOn.Store(true)
}

// WriteProto writes the Set's families in the delimited protobuf
// exposition (api.NativeWriter): hb_check_rtt_seconds encoded directly
// from the counts, one series at a time, with the classic buckets (+Inf
// included) and, when on, the native ones; each series' sample count is
// the native buckets' total, which Prometheus requires to match them
// exactly (the classic buckets, read a moment earlier, may lag by an RTT
// in flight). The tcp/http gauges go through the text format
// (promtext.ToProto).
func (s *Set) WriteProto(w io.Writer) error {
	if s.schema != noNative && !s.nativeOn.Load() {
		s.startNative()
	}
	type entry struct {
		k    key
		sr   *series
		aux  *seriesAux
		kind obs.Kind
	}
	s.mu.RLock()
	s.scrapeStart() // the series are read outside s.mu
	defer s.scrapeEnd()
	all := make([]entry, 0, len(s.recs)+len(s.byName))
	s.each(func(sr *series, host, check string) {
		all = append(all, entry{key{host, check}, sr, s.auxOf(sr), sr.kind()})
	})
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].k.host != all[j].k.host {
			return all[i].k.host < all[j].k.host
		}
		return all[i].k.check < all[j].k.check
	})
	nb := len(s.bounds) + 1
	var (
		enc    = make([]byte, 0, len(all)*(64+16*nb)) // the family's metrics (field 4), about sized
		counts = make([]uint64, 0, nb)
		m      dto.Metric
		h      dto.Histogram
		bks    = make([]dto.Bucket, nb)
		bkp    = make([]*dto.Bucket, nb)
		cums   = make([]uint64, nb) // the buckets' counts, pointed to (no allocation per series)
		err    error
		// Scalars and labels pointed to by m and h, reused: each series
		// is encoded before the next is read.
		count  uint64
		sum    float64
		lv     = make([]string, 3+len(s.export))
		lps    = make([]dto.LabelPair, 3+len(s.export))
		lpp    = make([]*dto.LabelPair, 0, 3+len(s.export))
		names  = append([]string{"host", "check", "kind"}, s.export...)
		spans  []*dto.BucketSpan
		deltas []int64
	)
	for i := range lps {
		lps[i].Name, lps[i].Value = &names[i], &lv[i]
	}
	for i := range bks {
		if i < len(s.bounds) {
			bks[i].UpperBound = proto.Float64(s.bounds[i])
		} else {
			bks[i].UpperBound = proto.Float64(math.Inf(1))
		}
		bkp[i] = &bks[i]
	}
	for _, e := range all {
		counts = e.sr.counts(e.aux, counts[:0], nb)
		var cum uint64
		for i, c := range counts {
			cum += c
			cums[i] = cum
			bks[i].CumulativeCount = &cums[i]
		}
		if cum == 0 {
			continue // only metrics so far (a failing check)
		}
		count = cum
		h = dto.Histogram{Bucket: bkp, SampleCount: &count, PositiveSpan: spans[:0], PositiveDelta: deltas[:0]}
		if s.schema != noNative {
			count = nativeTo(e.aux, &h, s.schema)
			spans, deltas = h.PositiveSpan, h.PositiveDelta
		}
		sum = math.Float64frombits(e.sr.sumBits.Load())
		h.SampleSum = &sum
		lv[0], lv[1], lv[2] = e.k.host, e.k.check, e.kind.String()
		lpp = append(lpp[:0], &lps[0], &lps[1], &lps[2])
		if len(s.export) > 0 && s.labels != nil {
			vals := s.labels(e.k.host)
			for i := range s.export {
				if i < len(vals) && vals[i] != "" {
					lv[3+i] = vals[i]
					lpp = append(lpp, &lps[3+i])
				}
			}
		}
		m = dto.Metric{Label: lpp, Histogram: &h}
		enc = protowire.AppendTag(enc, 4, protowire.BytesType)
		enc = protowire.AppendVarint(enc, uint64(proto.Size(&m)))
		if enc, err = (proto.MarshalOptions{}).MarshalAppend(enc, &m); err != nil {
			return fmt.Errorf("rtthist: encoding %s: %w", Name, err)
		}
	}
	if len(enc) > 0 {
		var head []byte
		head = protowire.AppendTag(head, 1, protowire.BytesType)
		head = protowire.AppendString(head, Name)
		head = protowire.AppendTag(head, 2, protowire.BytesType)
		head = protowire.AppendString(head, Help)
		head = protowire.AppendTag(head, 3, protowire.VarintType)
		head = protowire.AppendVarint(head, uint64(dto.MetricType_HISTOGRAM))
		pre := protowire.AppendVarint(nil, uint64(len(head)+len(enc)))
		for _, b := range [][]byte{pre, head, enc} {
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("rtthist: writing %s: %w", Name, err)
			}
		}
	}
	// The gauges, through the text format.
	pr, pw := io.Pipe()
	go func() {
		_, err := s.writeText(pw, false)
		pw.CloseWithError(err)
	}()
	err = promtext.ToProto(pr, w, nil)
	pr.CloseWithError(err)
	return err
}

// Native reports whether the Set keeps native buckets (api.NativeWriter).
func (s *Set) Native() bool { return s.schema != noNative }

// noNative is Set.schema when native buckets are off.
const noNative = math.MinInt32
