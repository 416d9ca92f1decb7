//go:build !linux

package bpf

import "testing"

func pinCPU(t *testing.T) { t.Skip("pinning to a CPU needs Linux") }
