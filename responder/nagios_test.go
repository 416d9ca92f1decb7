// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/wire"
)

func TestParseNagiosOutput(t *testing.T) {
	text, perf := ParseNagiosOutput([]byte("DISK WARNING - free space: / 2000 MB (18%); | /=8000MB;7000;9000;0;10000 'inode use'=12.5%;;;0;100 bad=x time=0.05s\nsecond line | x=1\n"))
	if text != "DISK WARNING - free space: / 2000 MB (18%);" {
		t.Fatalf("text %q", text)
	}
	if len(perf) != 3 {
		t.Fatalf("perf %+v", perf)
	}
	if p := perf[0]; p.Label != "/" || p.Value != 8000 || p.Unit != "MB" || p.Warn != 7000 || p.Crit != 9000 {
		t.Fatalf("perf 0 %+v", p)
	}
	if p := perf[1]; p.Label != "inode use" || p.Value != 12.5 || p.Unit != "%" || !math.IsNaN(p.Warn) {
		t.Fatalf("perf 1 %+v", p)
	}
	if p := perf[2]; p.Label != "time" || p.Value != 0.05 || p.Unit != "s" {
		t.Fatalf("perf 2 %+v", p)
	}
	if text, perf := ParseNagiosOutput(nil); text != "" || perf != nil {
		t.Fatal("empty output")
	}
}

// TestRunNagiosPlugin runs a real plugin-style script: each exit code,
// its perfdata, a timeout (the script's child is killed with it), and a
// command that is not allowed.
func TestRunNagiosPlugin(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check_test")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
  sleep) sleep 30; echo never;;
  *) echo "STATE $1 - value is $2 | value=$2;5;10;0; 'the label'=3s"; echo "long text"; exit "$1";;
esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	for code, name := range []string{"ok", "warning", "critical", "unknown"} {
		c := NagiosCheck{Name: "t", Command: []string{script, string(rune('0' + code)), "7"}}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		r := RunNagios(context.Background(), c, time.Now)
		if wire.CheckStatusName(r.Status) != name || r.Text != "STATE "+string(rune('0'+code))+" - value is 7" {
			t.Fatalf("exit %d: %+v", code, r)
		}
		if len(r.Perf) != 2 || r.Perf[0].Value != 7 || r.Perf[0].Warn != 5 || r.Perf[0].Crit != 10 || r.Perf[1].Label != "the label" {
			t.Fatalf("perf %+v", r.Perf)
		}
	}
	r := RunNagios(context.Background(), NagiosCheck{Name: "t", Command: []string{script, "7", "1"}, Timeout: config.Duration(5 * time.Second)}, time.Now)
	if r.Status != wire.CheckUnknown {
		t.Fatalf("exit 7: %+v", r)
	}
	start := time.Now()
	r = RunNagios(context.Background(), NagiosCheck{Name: "t", Command: []string{script, "sleep"}, Timeout: config.Duration(300 * time.Millisecond)}, time.Now)
	if r.Status != wire.CheckUnknown || !strings.Contains(r.Text, "timed out") {
		t.Fatalf("timeout: %+v", r)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("the plugin's child kept the check waiting (process group not killed)")
	}
	r = RunNagios(context.Background(), NagiosCheck{Name: "t", Command: []string{filepath.Join(dir, "missing")}, Timeout: config.Duration(time.Second)}, time.Now)
	if r.Status != wire.CheckUnknown {
		t.Fatalf("missing: %+v", r)
	}
	for _, c := range []NagiosCheck{
		{Name: "rel", Command: []string{"check_disk"}},
		{Name: "", Command: []string{script}},
		{Name: "to", Command: []string{script}, Interval: config.Duration(time.Second), Timeout: config.Duration(2 * time.Second)},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := NewNagiosRunner([]NagiosCheck{{Name: "a", Command: []string{script}}, {Name: "a", Command: []string{script}}}); err == nil {
		t.Error("duplicate names accepted")
	}
}

func TestNagiosRunner(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check_ok")
	os.WriteFile(script, []byte("#!/bin/sh\necho 'OK - fine | x=1'\n"), 0o755)
	n, err := NewNagiosRunner([]NagiosCheck{{Name: "ok", Command: []string{script}, Interval: config.Duration(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	for len(n.Results()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if r := n.Results(); r[0].Status != wire.CheckOK || r[0].Text != "OK - fine" {
		t.Fatalf("%+v", r)
	}
}
