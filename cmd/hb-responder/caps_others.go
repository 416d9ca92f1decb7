// SPDX-License-Identifier: MIT

//go:build !linux

package main

import "runtime"

func capabilityHint() string {
	return "eBPF needs Linux; this is " + runtime.GOOS + ": run with --userspace-only\n"
}
