// SPDX-License-Identifier: MIT

package promtext

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// ProtoContentType is the Content-Type of the delimited protobuf
// exposition (io.prometheus.client.MetricFamily messages, each preceded by
// its varint length), the one format that carries native histograms.
const ProtoContentType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

// WantsProto reports whether an Accept header negotiates the delimited
// protobuf exposition (expfmt.Negotiate's rules: the first acceptable
// type in the client's order of preference wins; Prometheus asks for it
// first when native histograms are on).
func WantsProto(accept string) bool {
	if !strings.Contains(accept, "application/vnd.google.protobuf") {
		return false // the common case, without parsing
	}
	f := expfmt.Negotiate(map[string][]string{"Accept": {accept}})
	return f.FormatType() == expfmt.TypeProtoDelim
}

// ErrText marks ToProto's errors that come from the text it read (a bug in
// whatever wrote it), as opposed to failed writes.
var ErrText = errors.New("promtext: bad text exposition")

// maxLine bounds one line of the text read by ToProto.
const maxLine = 1 << 20

// ToProto reads a text exposition (format 0.0.4) from r and writes the
// same families to w in the delimited protobuf exposition. A family is
// its # HELP and # TYPE and the samples that follow with its name, or
// _bucket, _sum, _count for a histogram or summary. A gauge, counter or
// untyped sample line is one metric, encoded as it is read (encodeSample).
// Histograms and summaries are parsed by expfmt's text parser, at most
// chunkLines lines at a time (cut between series), into a
// dto.MetricFamily, which edit may change (nil: none; it sees only these
// families), and their metrics are encoded at once and the dto objects
// dropped. So memory is the largest family's encoded size plus one
// chunk's objects, not the whole exposition's. Families come out in the
// order they were written.
func ToProto(r io.Reader, w io.Writer, edit func(*dto.MetricFamily)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		head, chunk  bytes.Buffer // the family's # lines; samples not parsed yet
		lines        int
		cur, curType string
		parser       = expfmt.NewTextParser(model.LegacyValidation)
		fam          *dto.MetricFamily // name, help, type of the family being encoded
		metrics      []byte            // its metrics, encoded (field 4)
		out          []byte
		help         *string // the family's # HELP text, unescaped
		fast         bool    // the family's samples are encoded by encodeSample
		scratch      sampleScratch
	)
	writeFamily := func(mf *dto.MetricFamily, enc []byte) error {
		out = out[:0]
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendString(out, mf.GetName())
		if mf.Help != nil {
			out = protowire.AppendTag(out, 2, protowire.BytesType)
			out = protowire.AppendString(out, mf.GetHelp())
		}
		out = protowire.AppendTag(out, 3, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(mf.GetType()))
		var pre [binary.MaxVarintLen64]byte
		n := binary.PutUvarint(pre[:], uint64(len(out)+len(enc)))
		if _, err := w.Write(pre[:n]); err != nil {
			return fmt.Errorf("promtext: writing %s: %w", mf.GetName(), err)
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("promtext: writing %s: %w", mf.GetName(), err)
		}
		if _, err := w.Write(enc); err != nil {
			return fmt.Errorf("promtext: writing %s: %w", mf.GetName(), err)
		}
		return nil
	}
	encode := func(dst []byte, mf *dto.MetricFamily) ([]byte, error) {
		var err error
		for _, m := range mf.Metric {
			dst = protowire.AppendTag(dst, 4, protowire.BytesType)
			dst = protowire.AppendVarint(dst, uint64(proto.Size(m)))
			if dst, err = (proto.MarshalOptions{}).MarshalAppend(dst, m); err != nil {
				return dst, fmt.Errorf("promtext: encoding %s: %w", mf.GetName(), err)
			}
		}
		return dst, nil
	}
	// parse parses the pending samples (with the family's # lines) and
	// encodes their metrics.
	parse := func() error {
		if lines == 0 {
			return nil
		}
		fams, err := parser.TextToMetricFamilies(io.MultiReader(bytes.NewReader(head.Bytes()), &chunk))
		chunk.Reset()
		lines = 0
		if err != nil {
			return fmt.Errorf("%w: family %s: %w", ErrText, cur, err)
		}
		names := make([]string, 0, len(fams))
		for n := range fams {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			mf := fams[n]
			if edit != nil {
				edit(mf)
			}
			if n != cur || (fam != nil && fam.GetType() != mf.GetType()) {
				// Samples that are not the family's (untyped lines named
				// otherwise): a family of their own.
				enc, err := encode(nil, mf)
				if err == nil && len(enc) > 0 {
					err = writeFamily(mf, enc)
				}
				if err != nil {
					return err
				}
				continue
			}
			if fam == nil {
				fam = &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type}
			}
			if metrics, err = encode(metrics, mf); err != nil {
				return err
			}
		}
		return nil
	}
	// flush ends the family.
	flush := func() error {
		if err := parse(); err != nil {
			return err
		}
		var err error
		if fast && len(metrics) > 0 {
			fam = &dto.MetricFamily{Name: &cur, Help: help, Type: fastType(curType).Enum()}
		}
		if fam != nil && len(metrics) > 0 {
			err = writeFamily(fam, metrics)
		}
		fam, metrics, help, fast = nil, metrics[:0], nil, false
		head.Reset()
		return err
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var name string
		meta := false
		if line[0] == '#' {
			f := strings.Fields(string(line))
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			name, meta = f[2], true
		} else {
			end := bytes.IndexAny(line, "{ \t")
			if end < 0 {
				end = len(line)
			}
			if string(line[:end]) == cur { // no allocation
				name = cur
			} else {
				name = string(line[:end])
			}
		}
		if !sameFamily(name, meta, cur, curType) {
			if err := flush(); err != nil {
				return err
			}
			cur, curType = name, ""
		}
		if meta {
			if f := strings.Fields(string(line)); f[1] == "TYPE" && len(f) > 3 {
				curType = f[3]
			} else if f[1] == "HELP" {
				h := unescapeHelp(strings.TrimPrefix(string(line), "# HELP "+name+" "))
				help = &h
			}
			head.Write(line)
			head.WriteByte('\n')
			continue
		}
		if curType != "histogram" && curType != "summary" {
			// One line, one metric: encoded directly, no dto objects.
			var err error
			if metrics, err = encodeSample(metrics, line, fastType(curType), &scratch); err != nil {
				return fmt.Errorf("%w: family %s: %w", ErrText, cur, err)
			}
			fast = true
			continue
		}
		chunk.Write(line)
		chunk.WriteByte('\n')
		lines++
		// Cut between series: after a histogram's or summary's _count
		// line (written last), after any line otherwise.
		if lines >= chunkLines && ((curType != "histogram" && curType != "summary") || strings.HasSuffix(name, "_count")) {
			if err := parse(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrText, err)
	}
	return flush()
}

// chunkLines is how many sample lines ToProto parses at once.
const chunkLines = 4096

// sameFamily reports whether a line naming name belongs to the family cur
// of type typ.
func sameFamily(name string, meta bool, cur, typ string) bool {
	if name == cur {
		return true
	}
	if meta || (typ != "histogram" && typ != "summary") {
		return false
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok && b == cur && (suf != "_bucket" || typ == "histogram") {
			return true
		}
	}
	return false
}

// fastType is the dto type of a family encoded line by line.
func fastType(typ string) dto.MetricType {
	switch typ {
	case "gauge":
		return dto.MetricType_GAUGE
	case "counter":
		return dto.MetricType_COUNTER
	}
	return dto.MetricType_UNTYPED
}

// unescapeHelp undoes the text format's escapes in a # HELP text: \\ and \n.
func unescapeHelp(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '\\':
				sb.WriteByte('\\')
				i++
				continue
			case 'n':
				sb.WriteByte('\n')
				i++
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// sampleScratch are encodeSample's buffers, kept between calls.
type sampleScratch struct{ m, val []byte }

// encodeSample appends one sample line, name{l="v",…} value [timestamp],
// as a Metric (field 4 of MetricFamily) of type typ to dst.
//
// scratch is reused for the message being built (the caller keeps it).
func encodeSample(dst, line []byte, typ dto.MetricType, scratch *sampleScratch) ([]byte, error) {
	m := scratch.m[:0] // the Metric message
	defer func() { scratch.m = m }()
	i := bytes.IndexAny(line, "{ \t")
	if i < 0 {
		return dst, errors.New("no value")
	}
	if line[i] == '{' {
		i++
		val := scratch.val[:0]
		defer func() { scratch.val = val }()
		for {
			for i < len(line) && (line[i] == ' ' || line[i] == ',') {
				i++
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			eq := bytes.IndexByte(line[i:], '=')
			if eq <= 0 || i+eq+1 >= len(line) || line[i+eq+1] != '"' {
				return dst, fmt.Errorf("bad label at byte %d", i)
			}
			lname := line[i : i+eq]
			i += eq + 2
			val = val[:0]
			closed := false
			for ; i < len(line); i++ {
				c := line[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(line) {
					i++
					switch line[i] {
					case 'n':
						c = '\n'
					default:
						c = line[i] // \\ and \"
					}
				}
				val = append(val, c)
			}
			if !closed {
				return dst, errors.New("unterminated label value")
			}
			// LabelPair{name: 1, value: 2}, its size known up front.
			m = protowire.AppendTag(m, 1, protowire.BytesType)
			m = protowire.AppendVarint(m, uint64(1+protowire.SizeBytes(len(lname))+1+protowire.SizeBytes(len(val))))
			m = protowire.AppendTag(m, 1, protowire.BytesType)
			m = protowire.AppendBytes(m, lname)
			m = protowire.AppendTag(m, 2, protowire.BytesType)
			m = protowire.AppendBytes(m, val)
		}
	}
	// The value, then at most a timestamp (no bytes.Fields: no allocation).
	rest := bytes.TrimLeft(line[i:], " \t")
	valTok, tsTok := rest, []byte(nil)
	if sp := bytes.IndexAny(rest, " \t"); sp >= 0 {
		valTok, tsTok = rest[:sp], bytes.TrimSpace(rest[sp:])
	}
	if len(valTok) == 0 || bytes.ContainsAny(tsTok, " \t") {
		return dst, errors.New("want a value and at most a timestamp")
	}
	v, err := strconv.ParseFloat(string(valTok), 64)
	if err != nil {
		return dst, fmt.Errorf("value: %w", err)
	}
	field := protowire.Number(5) // untyped
	switch typ {
	case dto.MetricType_GAUGE:
		field = 2
	case dto.MetricType_COUNTER:
		field = 3
	}
	m = protowire.AppendTag(m, field, protowire.BytesType)
	m = protowire.AppendVarint(m, 9)
	m = protowire.AppendTag(m, 1, protowire.Fixed64Type)
	m = protowire.AppendFixed64(m, math.Float64bits(v))
	if len(tsTok) > 0 {
		ts, err := strconv.ParseInt(string(tsTok), 10, 64)
		if err != nil {
			return dst, fmt.Errorf("timestamp: %w", err)
		}
		m = protowire.AppendTag(m, 6, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(ts))
	}
	dst = protowire.AppendTag(dst, 4, protowire.BytesType)
	return protowire.AppendBytes(dst, m), nil
}
