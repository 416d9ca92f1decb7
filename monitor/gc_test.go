// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
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

// releaseAfter hands the heap's free pages back once, when its delay is
// up (a later call moves it), and logs what it did.
func TestReleaseAfter(t *testing.T) {
	var buf testutil.SyncBuffer
	m := &Monitor{log: slog.New(slog.NewTextHandler(&buf, nil))}
	garbage := make([][]byte, 0, 64)
	for range 64 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage = nil
	m.releaseAfter(time.Hour)
	m.releaseAfter(20 * time.Millisecond) // moved: fires soon, once
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "free heap returned") {
		if time.Now().After(deadline) {
			t.Fatalf("no release logged: %q", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(buf.String(), "free heap returned"); n != 1 {
		t.Fatalf("%d releases logged, want 1: %q", n, buf.String())
	}
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	if st.HeapReleased < 32<<20 {
		t.Fatalf("heap released %d bytes after 64 MiB of garbage, want most of it", st.HeapReleased)
	}
}
