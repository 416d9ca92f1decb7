// SPDX-License-Identifier: MIT

package testutil

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestNetnsVethAndCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		a, b := NewNetns(t), NewNetns(t)
		name = a.Name
		NewVeth(t, a, "hb0", netip.MustParsePrefix("198.18.0.1/30"), b, "hb1", netip.MustParsePrefix("198.18.0.2/30"))
		out := b.MustIP(t, "-br", "addr", "show", "hb1")
		if !strings.Contains(out, "198.18.0.2/30") {
			t.Fatalf("hb1 has no address: %q", out)
		}
		if o, err := a.Command("ping", "-c1", "-W2", "198.18.0.2").CombinedOutput(); err != nil {
			t.Fatalf("ping across the veth pair: %v\n%s", err, o)
		}
		// Do switches this thread into the namespace and back.
		var inside string
		if err := a.Do(func() error {
			l, err := os.Readlink("/proc/thread-self/ns/net")
			inside = l
			return err
		}); err != nil {
			t.Fatal(err)
		}
		outside, _ := os.Readlink("/proc/thread-self/ns/net")
		if inside == outside {
			t.Fatalf("Do ran in the caller's namespace %s", inside)
		}
	})
	if name == "" {
		return // skipped
	}
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Fatalf("namespace %s still exists after the test: %v", name, err)
	}
}

// A namespace left by a test process that died before its cleanups
// (hbt-PID-N, PID gone, nothing inside) is deleted by the next sweep; one
// whose process still runs is kept.
func TestSweepStale(t *testing.T) {
	live := NewNetns(t) // also skips when namespaces cannot be made
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("hbt-%d-1", dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sweepStale()
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s survived the sweep: %v", name, err)
	}
	if _, err := os.Stat(live.Path); err != nil {
		t.Errorf("the sweep deleted the live namespace %s: %v", live.Name, err)
	}
}
