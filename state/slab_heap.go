// SPDX-License-Identifier: MIT

//go:build race || !linux

package state

// newSlab returns words zeroed words on the Go heap (0 bytes outside it).
// Race-detector builds use this one: the detector watches the Go heap, not
// memory mapped by hand, so tests under -race check the records' sequence
// lock on the same code with the slab where it can see every access.
func newSlab(words int, owner *Check) ([]uint64, int) {
	return make([]uint64, words), 0
}
