// SPDX-License-Identifier: MIT

package monitor

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/hbmon/hb/state"
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

// startGCPercent is the collector's GOGC while the daemon starts, under
// gc_percent pct: a quarter of it, at least 10. The start-up builds its
// structures (the parsed and resolved targets, the table, the store's
// first rows, the first round's state change of every check through the
// sinks) at several times the steady live heap, and at gc_percent the
// heap grows to twice that before a collection: pages the runtime keeps
// (RSS) long after, and the process's peak (VmHWM, what a MemoryMax
// counts). More collections for the first seconds cost a fraction of a
// second of CPU once. releaseNow puts gc_percent back.
func startGCPercent(pct int) int { return max(10, pct/4) }

// lowerGCForStart sets startGCPercent unless GOGC is in the environment
// (the operator's choice stands, from the start); it reports whether it
// did.
func lowerGCForStart(pct int, log *slog.Logger) bool {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return false
	}
	sp := startGCPercent(pct)
	debug.SetGCPercent(sp)
	log.Info("gc: lower percent until the first round is through", "percent", sp)
	return true
}

// restoreGC puts gc_percent back after the start-up's lower one
// (lowerGCForStart), once. Called with reloadMu held.
func (m *Monitor) restoreGC() {
	if m.startGC {
		m.startGC = false
		debug.SetGCPercent(m.cfg.GCPercent)
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
	m.reloadMu.Lock()
	m.restoreGC() // first: the collection below sets the next goal
	m.reloadMu.Unlock()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	m.log.Info("gc: free heap returned to the system", "released_mib", (int64(after.HeapReleased)-int64(before.HeapReleased))>>20,
		"heap_live_mib", after.HeapAlloc>>20, "heap_mapped_mib", (after.HeapSys-after.HeapReleased)>>20)
	if m.table != nil {
		m.log.Info("hosts by state", hostCounts(m.table.View())...)
	}
}

// hostCounts is the number of v's hosts in each state, as log
// attributes (the first round's results in one line: each check that
// came up logs at debug, see changeLevel).
func hostCounts(v *state.View) []any {
	var n [state.NumStates]int
	for _, h := range v.Hosts() {
		n[h.Status().State]++
	}
	a := make([]any, 0, 2*len(n))
	for s, c := range n {
		a = append(a, state.State(s).String(), c)
	}
	return a
}
