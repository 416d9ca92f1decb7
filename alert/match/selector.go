// SPDX-License-Identifier: MIT

package match

import (
	"fmt"
	"regexp"
	"strings"
)

// Op is a matcher's comparison.
type Op uint8

// Matcher operators, as Prometheus and Alertmanager spell them.
const (
	OpEq       Op = iota + 1 // key=value   (an absent label reads as "")
	OpNe                     // key!=value
	OpRegex                  // key=~regex  (anchored)
	OpNotRegex               // key!~regex
)

var opText = [...]string{"", "=", "!=", "=~", "!~"}

func (o Op) String() string {
	if int(o) < len(opText) {
		return opText[o]
	}
	return "?"
}

// Matcher is one label comparison.
type Matcher struct {
	Key   string
	Op    Op
	Value string
	re    *regexp.Regexp
}

// Selector is a conjunction of matchers; the empty Selector matches
// everything.
type Selector []Matcher

// Labels looks up a label's value.
type Labels interface {
	Label(key string) (string, bool)
}

// ParseSelector parses comma-separated matchers. Values may be quoted with
// double quotes to hold commas.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	rest := strings.TrimSpace(s)
	for rest != "" {
		var part string
		part, rest = splitMatcher(rest)
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		m, err := ParseMatcher(part)
		if err != nil {
			return nil, err
		}
		sel = append(sel, m)
	}
	return sel, nil
}

// splitMatcher cuts s at the first comma outside double quotes.
func splitMatcher(s string) (string, string) {
	q := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			q = !q
		case '\\':
			if q {
				i++
			}
		case ',':
			if !q {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// ParseMatcher parses one "key OP value".
func ParseMatcher(s string) (Matcher, error) {
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want key=value, key!=value, key=~regex or key!~regex", s)
	}
	key := strings.TrimSpace(s[:i])
	var op Op
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "=~"):
		op, rest = OpRegex, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		op, rest = OpNotRegex, rest[2:]
	case strings.HasPrefix(rest, "!="):
		op, rest = OpNe, rest[2:]
	case strings.HasPrefix(rest, "="):
		op, rest = OpEq, rest[1:]
	default:
		return Matcher{}, fmt.Errorf("matcher %q: want key=value, key!=value, key=~regex or key!~regex", s)
	}
	if !validKey(key) {
		return Matcher{}, fmt.Errorf("matcher %q: bad label name %q", s, key)
	}
	val := strings.TrimSpace(rest)
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = strings.ReplaceAll(strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`), `\\`, `\`)
	}
	m := Matcher{Key: key, Op: op, Value: val}
	if op == OpRegex || op == OpNotRegex {
		re, err := regexp.Compile("^(?:" + val + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: %w", s, err)
		}
		m.re = re
	}
	return m, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Match reports whether the labels satisfy the matcher.
func (m *Matcher) Match(ls Labels) bool {
	v, _ := ls.Label(m.Key)
	switch m.Op {
	case OpEq:
		return v == m.Value
	case OpNe:
		return v != m.Value
	case OpRegex:
		return m.re.MatchString(v)
	case OpNotRegex:
		return !m.re.MatchString(v)
	}
	return false
}

func (m Matcher) String() string { return m.Key + m.Op.String() + m.Value }

// Match reports whether every matcher matches.
func (s Selector) Match(ls Labels) bool {
	for i := range s {
		if !s[i].Match(ls) {
			return false
		}
	}
	return true
}

func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, m := range s {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

// MapLabels adapts a map.
type MapLabels map[string]string

// Label implements Labels.
func (m MapLabels) Label(k string) (string, bool) { v, ok := m[k]; return v, ok }
