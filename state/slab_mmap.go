// SPDX-License-Identifier: MIT

//go:build linux && !race

package state

// slabMapped: internal/offheap maps the records outside the Go heap (or,
// should the kernel refuse the mapping, falls back to the heap: then
// RecordBytes and MappedBytes overstate what is outside it).
const slabMapped = true
