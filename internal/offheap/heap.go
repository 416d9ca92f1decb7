// SPDX-License-Identifier: MIT

//go:build race || !linux

package offheap

import "unsafe"

// alloc returns size zeroed bytes on the Go heap: race-detector builds
// (the detector watches the heap only) and systems without the mapping
// path. Nothing is counted in Bytes.
func alloc(size int) (unsafe.Pointer, func()) {
	b := make([]uint64, (size+7)/8) // 8-aligned for any field
	return unsafe.Pointer(&b[0]), func() {}
}
