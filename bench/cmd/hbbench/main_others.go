// SPDX-License-Identifier: MIT

//go:build !linux

// Command hbbench runs hb's benchmarks; it needs Linux.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "hbbench: not supported on %s (needs Linux network namespaces and raw sockets)\n", runtime.GOOS)
	os.Exit(2)
}
