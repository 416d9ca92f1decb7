// SPDX-License-Identifier: MIT

// Package offheap hands out large slices of pointer-free values in memory
// mapped outside the Go heap. The collector neither scans nor counts them,
// so they are not doubled by its heap goal (GOGC=100 lets the heap grow to
// twice what is live before a cycle; memory mapped by hand costs its size
// once). It is for the daemon's big per-check and per-target arrays, which
// are allocated once per table generation and hold no pointers.
//
// Large slices are advised as transparent huge pages where the kernel
// allows it (THP "madvise" mode): random access over 100k records then
// costs a cache miss, not a cache miss and a page walk.
//
// Race-detector builds and other systems use the Go heap: the detector
// watches only the heap, so tests under -race see every access.
package offheap

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// HugeMin is the least size advised as huge pages (one 2 MiB page: a
// smaller slice would be rounded up to a whole one when touched).
const HugeMin = 2 << 20

var mapped atomic.Int64

// Bytes is how much memory this package has mapped and not yet freed.
func Bytes() int64 { return mapped.Load() }

// Make returns a zeroed slice of n values of T outside the Go heap and the
// function that frees it. T must hold no pointers (no strings, slices,
// maps, interfaces or pointers): Make panics otherwise, since the
// collector would not see what they point to. After free the slice must
// not be used. n == 0 returns nil and a no-op free.
func Make[T any](n int) ([]T, func()) {
	var zero T
	t := reflect.TypeOf(zero)
	if HasPointers(t) {
		panic(fmt.Sprintf("offheap: %v holds pointers", t))
	}
	if n <= 0 {
		return nil, func() {}
	}
	size := int(unsafe.Sizeof(zero)) * n
	if size == 0 {
		return make([]T, n), func() {}
	}
	p, free := alloc(size)
	if p == nil { // the kernel refused: the heap then
		return make([]T, n), func() {}
	}
	return unsafe.Slice((*T)(p), n), free
}

// HasPointers reports whether values of t hold pointers the collector
// must see.
func HasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && HasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if HasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true // pointers, uintptr (may hide one), strings, slices, maps, chans, funcs, interfaces
}
