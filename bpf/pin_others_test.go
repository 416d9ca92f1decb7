// SPDX-License-Identifier: MIT

//go:build !linux

package bpf

import "testing"

func pinCPU(t *testing.T, cpu int) { t.Skip("pinning to a CPU needs Linux") }
