// SPDX-License-Identifier: MIT

package oneshot

import (
	"os"
	"runtime"
	"runtime/debug"
)

// PauseGC turns the collector off for a one-shot sweep and its output,
// and returns what restores it. The sweep allocates its live set (the
// summaries, the in-flight tables) up front and little garbage after, so
// cycles during it only rescan that live set, their idle mark workers
// burning the CPUs the sweep leaves free: about a tenth of the CPU of a
// 65,536-target sweep (docs/benchmarks.md). A soft memory limit sized for
// n targets still has the collector run if the heap grows past it; GOGC
// or GOMEMLIMIT in the environment keep the runtime's own policy. --once
// and the fping personality both use it.
func PauseGC(n int) (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	limit := debug.SetMemoryLimit(int64(2*ms.HeapAlloc) + int64(n)<<10 + 128<<20)
	pct := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	}
}
