// SPDX-License-Identifier: MIT

//go:build !race

package prober

// raceBuild: internal/offheap maps its memory (counted in Bytes).
const raceBuild = false
