// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Legacy hbd datagrams (docs/wire.md §9): what hbc, hbc_mini.py and
// hbc_mini.c send to UDP port 50003.
//
//	"!" ID ": " zlib( key "=" value { ";" key "=" value } [";"] )
//
// Values are numbers (floats printed with 5 decimals), "1"/"0" booleans,
// "@"-prefixed JSON for lists and dicts, or plain text. ID is HTB
// (heartbeat) or PLG (plugin results). The server answers "ACK".
//
// CMD and UPD datagrams (remote command execution and self-update in
// hbd) are refused by design: DecodeHBD returns ErrRefused for them and
// hb never sends them.
const (
	HBDMaxPlain = 64 << 10 // decompressed size limit (zlib bombs)
	HBDAck      = "ACK"
)

// HBD datagram kinds hb accepts.
const (
	HBDHeartbeat = "HTB"
	HBDPlugin    = "PLG"
)

var (
	// ErrRefused: a CMD or UPD datagram (remote execution, self-update):
	// never acted on, never answered.
	ErrRefused = errors.New("wire: hbd CMD/UPD refused by design")
	// ErrHBD: a datagram that is not a well-formed hbd message.
	ErrHBD = errors.New("wire: malformed hbd datagram")
)

// HBDValueKind says how a value was written.
type HBDValueKind uint8

const (
	HBDText   HBDValueKind = iota + 1 // plain text
	HBDNumber                         // a decimal number (Num)
	HBDBool                           // "1" or "0" (Num 1 or 0; also a number)
	HBDJSON                           // "@" + JSON (Raw is the JSON)
)

// HBDField is one key=value pair.
type HBDField struct {
	Key  string
	Kind HBDValueKind
	Num  float64 // HBDNumber, HBDBool
	Text string  // the value as written (without "@" for JSON)
}

// HBD is a decoded hbd datagram.
type HBD struct {
	ID     string // HBDHeartbeat or HBDPlugin
	Fields []HBDField
}

// Get returns the field named key.
func (m *HBD) Get(key string) (HBDField, bool) {
	for _, f := range m.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return HBDField{}, false
}

// IsHBD reports whether b starts like an hbd datagram ("!XYZ: ").
func IsHBD(b []byte) bool {
	return len(b) >= 6 && b[0] == '!' && b[4] == ':' && b[5] == ' '
}

// DecodeHBD decodes an hbd datagram. It inflates at most HBDMaxPlain
// bytes; it allocates the fields (this is the compatibility path, not the
// hot one).
func DecodeHBD(b []byte) (HBD, error) {
	if !IsHBD(b) {
		return HBD{}, fmt.Errorf("%w: no \"!ID: \" prefix", ErrHBD)
	}
	id := string(b[1:4])
	switch id {
	case HBDHeartbeat, HBDPlugin:
	case "CMD", "UPD":
		return HBD{}, ErrRefused
	default:
		return HBD{}, fmt.Errorf("%w: unknown id %q", ErrHBD, id)
	}
	zr, err := zlib.NewReader(bytes.NewReader(b[6:]))
	if err != nil {
		return HBD{}, fmt.Errorf("%w: zlib: %w", ErrHBD, err)
	}
	plain, err := io.ReadAll(io.LimitReader(zr, HBDMaxPlain+1))
	if err != nil {
		return HBD{}, fmt.Errorf("%w: zlib: %w", ErrHBD, err)
	}
	if len(plain) > HBDMaxPlain {
		return HBD{}, fmt.Errorf("%w: inflates beyond %d bytes", ErrHBD, HBDMaxPlain)
	}
	fields, err := ParseHBDFields(plain)
	if err != nil {
		return HBD{}, err
	}
	return HBD{ID: id, Fields: fields}, nil
}

// ParseHBDFields parses the inflated "key=value;…" text.
func ParseHBDFields(p []byte) ([]HBDField, error) {
	var fs []HBDField
	for len(p) > 0 {
		if p[0] == ';' || p[0] == '\n' {
			p = p[1:]
			continue
		}
		eq := bytes.IndexByte(p, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: field without key=value at %q", ErrHBD, clip(p))
		}
		key := string(bytes.TrimSpace(p[:eq]))
		if key == "" || strings.ContainsAny(key, ";@") {
			return nil, fmt.Errorf("%w: bad key %q", ErrHBD, clip(p[:eq]))
		}
		p = p[eq+1:]
		f := HBDField{Key: key}
		if len(p) > 0 && p[0] == '@' {
			dec := json.NewDecoder(bytes.NewReader(p[1:]))
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("%w: %s: JSON: %w", ErrHBD, key, err)
			}
			n := 1 + int(dec.InputOffset())
			if n < len(p) && p[n] != ';' && p[n] != '\n' {
				return nil, fmt.Errorf("%w: %s: text after JSON", ErrHBD, key)
			}
			f.Kind, f.Text = HBDJSON, string(raw)
			p = p[n:]
		} else {
			end := bytes.IndexByte(p, ';')
			if end < 0 {
				end = len(p)
			}
			v := string(p[:end])
			p = p[end:]
			f.Text = v
			switch {
			case v == "1" || v == "0":
				f.Kind, f.Num = HBDBool, float64(v[0]-'0')
			default:
				if x, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) && isDecimal(v) {
					f.Kind, f.Num = HBDNumber, x
				} else {
					f.Kind = HBDText
				}
			}
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// isDecimal accepts what a printf("%.5f") or an integer looks like, not
// Go's other float syntaxes ("Inf", "0x1p3", "1_0").
func isDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

func clip(b []byte) string { return string(b[:min(len(b), 24)]) }

// EncodeHBD builds an hbd datagram the way hbc does (for tests and the
// load generator): floats at 5 decimals, bools as 1/0, lists and maps as
// "@"+JSON, fields in the given order.
func EncodeHBD(id string, kv [][2]any) ([]byte, error) {
	var plain bytes.Buffer
	for i, p := range kv {
		if i > 0 {
			plain.WriteByte(';')
		}
		plain.WriteString(fmt.Sprint(p[0]))
		plain.WriteByte('=')
		switch v := p[1].(type) {
		case bool:
			if v {
				plain.WriteByte('1')
			} else {
				plain.WriteByte('0')
			}
		case float64:
			plain.WriteString(strconv.FormatFloat(v, 'f', 5, 64))
		case int:
			plain.WriteString(strconv.Itoa(v))
		case string:
			plain.WriteString(v)
		default:
			j, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			plain.WriteByte('@')
			plain.Write(j)
		}
	}
	var out bytes.Buffer
	out.WriteString("!" + id + ": ")
	zw := zlib.NewWriter(&out)
	zw.Write(plain.Bytes())
	zw.Close()
	return out.Bytes(), nil
}

// HBDValue is one number found in a datagram: a numeric or boolean field,
// or a numeric leaf of a JSON field (named key_sub_sub, lists by index).
type HBDValue struct {
	Name  string
	Value float64
}

// Numbers returns every number in m, names made of the key and, inside
// JSON, the path (non-alphanumerics become "_"; "/" alone becomes
// "root"), sorted by name. At most limit numbers are returned.
func (m *HBD) Numbers(limit int) []HBDValue {
	var out []HBDValue
	for _, f := range m.Fields {
		switch f.Kind {
		case HBDNumber, HBDBool:
			out = append(out, HBDValue{SanitizeName(f.Key), f.Num})
		case HBDJSON:
			var v any
			d := json.NewDecoder(strings.NewReader(f.Text))
			d.UseNumber()
			if d.Decode(&v) == nil {
				out = flattenJSON(out, SanitizeName(f.Key), v, 0)
			}
		}
		if len(out) >= limit {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out[:min(len(out), limit)]
}

func flattenJSON(out []HBDValue, prefix string, v any, depth int) []HBDValue {
	if depth > 4 || len(out) > 1024 {
		return out
	}
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) {
			out = append(out, HBDValue{prefix, f})
		}
	case bool:
		b := 0.0
		if x {
			b = 1
		}
		out = append(out, HBDValue{prefix, b})
	case []any:
		for i, e := range x {
			out = flattenJSON(out, prefix+"_"+strconv.Itoa(i), e, depth+1)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = flattenJSON(out, prefix+"_"+SanitizeName(k), x[k], depth+1)
		}
	}
	return out
}

// SanitizeName turns a key into a snake_case metric name component:
// lower case, runs of other characters as one "_", "/" alone as "root".
func SanitizeName(s string) string {
	if s == "/" {
		return "root"
	}
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}
