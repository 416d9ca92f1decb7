// SPDX-License-Identifier: MIT

//go:build linux && !race

package offheap

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// alloc maps size zeroed bytes (anonymous private memory: pages never
// written cost nothing) and returns them with their free function, which
// runs once however often it is called; nil if the kernel refuses.
func alloc(size int) (unsafe.Pointer, func()) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil
	}
	if size >= HugeMin {
		_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // best effort: THP off or unsupported is fine
	}
	mapped.Add(int64(size))
	var once sync.Once
	return unsafe.Pointer(&b[0]), func() {
		once.Do(func() {
			unix.Munmap(b)
			mapped.Add(-int64(size))
		})
	}
}
