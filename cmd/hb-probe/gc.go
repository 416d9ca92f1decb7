// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"runtime/debug"
)

// daemonGCPercent is the daemon's GC percent unless GOGC is in its
// environment. The process's RSS follows the collector's heap goal, the
// live heap × (1 + percent/100), plus ~35 MiB outside the heap. With the
// runtime's 100 that doubles the live heap; once the state table stopped
// allocating per result (its records off the heap), 50 cost about half a
// percent of a core more GC work at 100k targets every 10 s and took
// ~30 MiB off the RSS; 25 another ~40 MiB for ~2.5 % of a core (GOGC=25
// gives it). docs/benchmarks.md has the figures.
const daemonGCPercent = 50

// setDaemonGC sets the GC percent to daemonGCPercent unless GOGC is set in
// the environment (then the runtime's own reading of it stands), and
// returns the percent and whether it set it.
func setDaemonGC() (int, bool) {
	if os.Getenv("GOGC") != "" {
		return 0, false
	}
	debug.SetGCPercent(daemonGCPercent)
	return daemonGCPercent, true
}
