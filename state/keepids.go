// SPDX-License-Identifier: MIT

package state

// KeepsIDs reports whether the first n checks of view v are the checks of
// the same ids in old (same host and check names) wherever live(id) says
// a sink holds data for the id: a sink's per-check data indexed by id can
// then stay in place across the new generation (hosts were appended).
func KeepsIDs(old, v *View, n int, live func(id int) bool) bool {
	if n > v.NumChecks() || n > old.NumChecks() {
		return false
	}
	for i := range n {
		if live(i) && !SameCheck(old.Check(i), v.Check(i)) {
			return false
		}
	}
	return true
}

// SameCheck reports whether a and b have the same host and check names.
func SameCheck(a, b *Check) bool {
	return a.Name() == b.Name() && a.Host().Name() == b.Host().Name()
}
