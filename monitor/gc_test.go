// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// The daemon sets the collector's GOGC from gc_percent and says so; GOGC
// in the environment wins (and is what the log names).
func TestApplyGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if env, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", env)
	}
	os.Unsetenv("GOGC")

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	applyGCPercent(60, log, true)
	if got := debug.SetGCPercent(60); got != 60 {
		t.Fatalf("GC percent %d after gc_percent=60", got)
	}
	if !strings.Contains(buf.String(), "msg=gc percent=60 from=gc_percent") {
		t.Fatalf("log %q", buf.String())
	}
	buf.Reset()
	applyGCPercent(60, log, false) // a reload that changes nothing says nothing
	if buf.Len() != 0 {
		t.Fatalf("unchanged reload logged %q", buf.String())
	}

	t.Setenv("GOGC", "300")
	debug.SetGCPercent(300) // as the runtime would have at start
	applyGCPercent(60, log, true)
	if got := debug.SetGCPercent(300); got != 300 {
		t.Fatalf("GC percent %d with GOGC=300 in the environment", got)
	}
	if !strings.Contains(buf.String(), `percent=300 from="GOGC in the environment`) {
		t.Fatalf("log %q", buf.String())
	}
}
