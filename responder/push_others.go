// SPDX-License-Identifier: MIT

//go:build !linux

package responder

import "net"

func enableRxTimestamps(*net.UDPConn) {}

func rxTime([]byte) int64 { return 0 }
