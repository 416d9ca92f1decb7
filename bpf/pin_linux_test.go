// SPDX-License-Identifier: MIT

package bpf

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// pinCPU keeps the test on one CPU so a per-CPU bucket is one bucket.
func pinCPU(t *testing.T, cpu int) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	var set, old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Skip(err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Skipf("pin to CPU %d: %v", cpu, err)
	}
	t.Cleanup(func() { unix.SchedSetaffinity(0, &old) })
}
