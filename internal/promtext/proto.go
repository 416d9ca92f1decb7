// SPDX-License-Identifier: MIT

package promtext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protodelim"
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
// same families to w in the delimited protobuf exposition. It works one
// family at a time, so memory is bounded by the largest family rather
// than the whole exposition: the lines of a family (its # HELP and # TYPE
// and the samples that follow with its name, or _bucket, _sum, _count for
// a histogram or summary) are parsed by expfmt's text parser into a
// dto.MetricFamily, which edit may change (nil: none) before it is
// encoded. Families come out in the order they were written.
func ToProto(r io.Reader, w io.Writer, edit func(*dto.MetricFamily)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		chunk        bytes.Buffer
		cur, curType string
		parser       = expfmt.NewTextParser(model.LegacyValidation)
	)
	flush := func() error {
		if chunk.Len() == 0 {
			return nil
		}
		fams, err := parser.TextToMetricFamilies(&chunk)
		chunk.Reset()
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
			if len(mf.Metric) == 0 {
				continue // a header without samples: nothing to send
			}
			if edit != nil {
				edit(mf)
			}
			if _, err := protodelim.MarshalTo(w, mf); err != nil {
				return fmt.Errorf("promtext: writing %s: %w", n, err)
			}
		}
		return nil
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
		chunk.Write(line)
		chunk.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrText, err)
	}
	return flush()
}

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
