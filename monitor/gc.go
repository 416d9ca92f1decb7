// SPDX-License-Identifier: MIT

package monitor

import (
	"log/slog"
	"os"
	"runtime/debug"
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
