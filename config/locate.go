// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Locate puts "FILE:LINE: " in front of each validation error of err
// (Validate's "key: problem" errors, joined) whose key is set in the file
// at path, so that a bad value names where it is, like a parse error does.
// Errors about keys the file does not set (a flag, a default) and errors
// that already carry a position are returned unchanged; so is err when the
// file cannot be read or parsed.
func Locate(path string, err error) error {
	if err == nil || path == "" {
		return err
	}
	b, rerr := os.ReadFile(path)
	if rerr != nil {
		return err
	}
	lines := keyLines(b)
	if lines == nil {
		return err
	}
	var out []error
	for _, e := range flatten(err) {
		var pe *PosError
		key, _, ok := strings.Cut(e.Error(), ": ")
		if ln, found := lines[key]; ok && found && !errors.As(e, &pe) {
			e = fmt.Errorf("%s:%d: %w", path, ln, e)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// flatten lists the leaves of joined errors.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// keyLines maps each dotted key the TOML document b sets ("rate_limit",
// "push.interval") to its line; nil when b does not parse. Keys inside
// arrays of tables map to the line of their first occurrence.
func keyLines(b []byte) map[string]int {
	out := map[string]int{}
	var p unstable.Parser
	p.Reset(b)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		k, line := exprKey(&p, e)
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = k
			if _, ok := out[k]; !ok {
				out[k] = line
			}
		case unstable.KeyValue:
			if table != "" {
				k = table + "." + k
			}
			if _, ok := out[k]; !ok {
				out[k] = line
			}
		}
	}
	if p.Error() != nil {
		return nil
	}
	return out
}

// exprKey is the dotted key of the TOML expression e and the line where
// the key starts.
func exprKey(p *unstable.Parser, e *unstable.Node) (key string, line int) {
	var parts []string
	it := e.Key()
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
	}
	return strings.Join(parts, "."), line
}
