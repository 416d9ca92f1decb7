// SPDX-License-Identifier: MIT

package config

import "flag"

// Visited is the set of flags the user set on the command line. Command line
// values override the file only for these flags; the defaults of flags the
// user did not touch never override a value from the file.
type Visited map[string]bool

// VisitedFlags returns the flags of fs that were set (fs must be parsed).
func VisitedFlags(fs *flag.FlagSet) Visited {
	v := Visited{}
	fs.Visit(func(f *flag.Flag) { v[f.Name] = true })
	return v
}

// Has reports whether the user set the flag called name.
func (v Visited) Has(name string) bool { return v[name] }

// Override sets *dst to val if the user set the flag called name: the
// command line wins over the file, which wins over the defaults already in
// *dst.
func Override[T any](v Visited, name string, dst *T, val T) {
	if v[name] {
		*dst = val
	}
}
