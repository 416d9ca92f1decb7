// SPDX-License-Identifier: MIT

//go:build !linux

package cmsg

// TimestampNS returns 0: kernel receive timestamps are read on Linux only.
func TimestampNS([]byte) int64 { return 0 }
