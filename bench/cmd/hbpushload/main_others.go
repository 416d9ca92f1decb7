// SPDX-License-Identifier: MIT

//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "hbpushload: not supported on %s (needs Linux network namespaces)\n", runtime.GOOS)
	os.Exit(2)
}
