// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestSetDaemonGC: the daemon runs the collector at daemonGCPercent unless
// GOGC is in its environment, which then stands.
func TestSetDaemonGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if pct, set := setDaemonGC(); !set || pct != daemonGCPercent {
		t.Errorf("without GOGC: %d, set %v", pct, set)
	}
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Errorf("runtime GC percent %d, want %d", got, daemonGCPercent)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	if _, set := setDaemonGC(); set {
		t.Error("GOGC=200 in the environment was overridden")
	}
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("runtime GC percent %d with GOGC=200", got)
	}
}
