// SPDX-License-Identifier: MIT

//go:build linux && !race

package offheap

const mappedPath = true
