// SPDX-License-Identifier: MIT

package testutil

import (
	"net/netip"
	"os"
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
