// SPDX-License-Identifier: MIT

package monitor

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// applyGCPercent sets the collector's GOGC to the config's gc_percent,
// unless GOGC is set in the environment (an operator's explicit choice,
// which the runtime has already applied). It logs what was chosen and why
// at start, and on a reload when the value changed.
func applyGCPercent(pct int, log *slog.Logger, start bool) {
	if env, ok := os.LookupEnv("GOGC"); ok {
		if start {
			log.Info("gc", "percent", env, "from", "GOGC in the environment (gc_percent ignored)")
		}
		return
	}
	if old := debug.SetGCPercent(pct); start || old != pct {
		log.Info("gc", "percent", pct, "from", "gc_percent")
	}
}

// releaseChanges is how many checks a reload must add or remove to have
// its leftovers handed back (releaseAfter) like the start-up's.
const releaseChanges = 10000

// releaseAfter schedules one return of the heap's free memory to the
// system d from now (a later call moves it). The start-up (parsing and
// resolving the targets, building the table, the first round's state
// change of every check through the sinks) and a large reload leave the
// heap's pages at their peak, ~1.6x the steady RSS at 100k checks; the
// runtime's background scavenger hands them back at its own pace, which
// on a busy or pinned CPU takes minutes. Called with reloadMu held.
func (m *Monitor) releaseAfter(d time.Duration) {
	if m.release == nil {
		m.release = time.AfterFunc(d, m.releaseNow)
		return
	}
	m.release.Reset(d)
}

// releaseNow returns the heap's free pages to the system at once (a
// collection, then the scavenger's whole work) and logs how much.
func (m *Monitor) releaseNow() {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	m.log.Info("gc: free heap returned to the system", "released_mib", (int64(after.HeapReleased)-int64(before.HeapReleased))>>20,
		"heap_live_mib", after.HeapAlloc>>20, "heap_mapped_mib", (after.HeapSys-after.HeapReleased)>>20)
}
