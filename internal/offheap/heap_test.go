// SPDX-License-Identifier: MIT

//go:build race || !linux

package offheap

const mappedPath = false
