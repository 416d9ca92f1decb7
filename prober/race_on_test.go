// SPDX-License-Identifier: MIT

//go:build race

package prober

// raceBuild: internal/offheap uses the Go heap (nothing counted in Bytes).
const raceBuild = true
