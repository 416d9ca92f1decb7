// SPDX-License-Identifier: MIT

//go:build !linux || race

package store

// offheapMapped: internal/offheap maps its slices outside the Go heap
// (off under the race detector and on other systems, where they are
// heap slices).
const offheapMapped = false
