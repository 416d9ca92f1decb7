// SPDX-License-Identifier: MIT

package alert

import (
	"fmt"
	"strconv"
	"strings"
)

// Template is a parsed display template: literal text with {name}
// placeholders.
type Template struct {
	parts []tplPart
}

type tplPart struct {
	lit string
	key string // placeholder when lit == "" (and key != "")
}

// ParseTemplate parses "text {name} text".
func ParseTemplate(s string) (Template, error) {
	var t Template
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return t, fmt.Errorf("template: unmatched }")
			}
			t.parts = append(t.parts, tplPart{lit: s})
			break
		}
		if i > 0 {
			if strings.IndexByte(s[:i], '}') >= 0 {
				return t, fmt.Errorf("template: unmatched }")
			}
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("template: unclosed {")
		}
		key := strings.TrimSpace(s[i+1 : i+j])
		if key == "" || strings.ContainsAny(key, "{") {
			return t, fmt.Errorf("template: bad placeholder %q", s[i:i+j+1])
		}
		t.parts = append(t.parts, tplPart{key: key})
		s = s[i+j+1:]
	}
	return t, nil
}

// Render writes the template, asking lookup for each placeholder; an
// unknown one is written as is.
func (t Template) Render(lookup func(key string) (string, bool)) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.key == "" {
			b.WriteString(p.lit)
			continue
		}
		if v, ok := lookup(p.key); ok {
			b.WriteString(v)
		} else {
			b.WriteString("{" + p.key + "}")
		}
	}
	return b.String()
}

// FormatValue prints a number the way messages show it: up to four
// significant digits, no exponent for everyday magnitudes.
func FormatValue(v float64) string {
	if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
