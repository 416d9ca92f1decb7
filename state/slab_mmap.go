// SPDX-License-Identifier: MIT

//go:build linux && !race

package state

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newSlab returns words zeroed words mapped outside the Go heap (anonymous
// private memory: pages never written cost nothing), and their size in
// bytes. The GC neither scans nor counts them, so they are not doubled by
// its heap goal. They are unmapped once owner, the first of the checks
// whose records they hold, is unreachable: every path to a record goes
// through its Check, and the checks of a view are one allocation. If the
// kernel refuses the mapping the slab falls back to the Go heap.
func newSlab(words int, owner *Check) ([]uint64, int) {
	size := words * 8
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]uint64, words), 0
	}
	mappedBytes.Add(int64(size))
	runtime.AddCleanup(owner, func(b []byte) {
		unix.Munmap(b)
		mappedBytes.Add(-int64(len(b)))
	}, b)
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), words), size
}
