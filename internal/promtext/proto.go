// SPDX-License-Identifier: MIT

package promtext

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
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
// same families to w in the delimited protobuf exposition. The lines of a
// family (its # HELP and # TYPE and the samples that follow with its name,
// or _bucket, _sum, _count for a histogram or summary) are parsed by
// expfmt's text parser, at most chunkLines lines at a time (cut between
// series), into a dto.MetricFamily, which edit may change (nil: none);
// its metrics are encoded at once and the dto objects dropped. So memory
// is the largest family's encoded size plus one chunk's objects, not the
// whole exposition's. Families come out in the order they were written.
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
		if fam != nil && len(metrics) > 0 {
			err = writeFamily(fam, metrics)
		}
		fam, metrics = nil, metrics[:0]
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
			if f[1] == "TYPE" && len(f) > 3 && name == cur {
				curType = f[3]
			}
		} else {
			end := bytes.IndexAny(line, "{ \t")
			if end < 0 {
				end = len(line)
			}
			name = string(line[:end])
		}
		if !sameFamily(name, meta, cur, curType) {
			if err := flush(); err != nil {
				return err
			}
			cur, curType = name, ""
			if meta {
				if f := strings.Fields(string(line)); f[1] == "TYPE" && len(f) > 3 {
					curType = f[3]
				}
			}
		}
		if meta {
			head.Write(line)
			head.WriteByte('\n')
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
