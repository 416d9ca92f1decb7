// SPDX-License-Identifier: MIT

package alert

import "fmt"

// Level is an alert's severity. The zero value is OK.
type Level uint8

// The levels, as Nagios numbers them (exit codes 0-3).
const (
	OK Level = iota
	Warning
	Critical
	Unknown
)

var levelNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "INVALID"
}

// rank orders levels by urgency: OK < WARNING < UNKNOWN < CRITICAL.
// Moving up the ranks notifies; moving down (but not to OK) does not.
func (l Level) rank() int {
	switch l {
	case Warning:
		return 1
	case Unknown:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// AtLeast reports whether l is at least as urgent as m.
func (l Level) AtLeast(m Level) bool { return l.rank() >= m.rank() }

// ParseLevel parses "ok", "warning", "critical", "unknown" (any case).
func ParseLevel(s string) (Level, error) {
	switch s {
	case "ok", "OK":
		return OK, nil
	case "warning", "WARNING", "warn":
		return Warning, nil
	case "critical", "CRITICAL":
		return Critical, nil
	case "unknown", "UNKNOWN":
		return Unknown, nil
	}
	return OK, fmt.Errorf("unknown level %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	x, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = x
	return nil
}
