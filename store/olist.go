// SPDX-License-Identifier: MIT

package store

import (
	"unsafe"

	"github.com/hbmon/hb/internal/offheap"
)

// offMin is the least size (bytes) an olist keeps outside the Go heap:
// smaller ones stay on the heap, where a few kilobytes cost less than a
// mapping.
const offMin = 64 << 10

// olist is a growable list of pointer-free values (T must hold none:
// offheap.Make panics otherwise) kept outside the Go heap once it is
// large (offMin bytes): the aggregator's rollup rows and health sums
// and the SQL goroutine's backlog. At 100k checks those are megabytes
// made and dropped every minute; on the heap they would be counted live
// by a collection that runs while a minute is being written and so
// raise the heap's goal (GOGC: twice what was live), pages the process
// keeps after. Here they are mapped when needed and unmapped by release.
//
// The zero value is an empty list. An olist is not copied while it
// holds a mapping, except to move it (the old copy then dropped).
type olist[T any] struct {
	s    []T
	free func() // frees s (a mapping); nil when s is on the heap or nil
}

// makeOff returns room for n values of T: outside the Go heap when it
// is offMin bytes or more (with the function that frees it), else on the
// heap (nil function).
func makeOff[T any](n int) ([]T, func()) {
	var zero T
	if n*int(unsafe.Sizeof(zero)) < offMin {
		return make([]T, 0, n), nil
	}
	r, free := offheap.Make[T](n)
	return r[:0], free
}

// reserve makes room for n more values, in a new place of at least
// twice the old size when it must move.
func (l *olist[T]) reserve(n int) {
	need := len(l.s) + n
	if need <= cap(l.s) {
		return
	}
	ns, free := makeOff[T](max(need, 2*cap(l.s), 16))
	ns = append(ns, l.s...)
	l.release()
	l.s, l.free = ns, free
}

// add appends v.
func (l *olist[T]) add(v T) {
	if len(l.s) == cap(l.s) {
		l.reserve(1)
	}
	l.s = append(l.s, v)
}

// release frees the list's memory and empties it.
func (l *olist[T]) release() {
	if l.free != nil {
		l.free()
	}
	l.s, l.free = nil, nil
}

// take moves o's contents to l (whose own are freed), leaving o empty.
func (l *olist[T]) take(o *olist[T]) {
	l.release()
	*l, *o = *o, olist[T]{}
}
