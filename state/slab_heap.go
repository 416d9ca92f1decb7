// SPDX-License-Identifier: MIT

//go:build race || !linux

package state

// slabMapped: internal/offheap puts the records on the Go heap in these
// builds. Race-detector builds use this: the detector watches the Go
// heap, not memory mapped by hand, so tests under -race check the
// records' sequence lock on the same code with the slab where it can see
// every access.
const slabMapped = false
