// SPDX-License-Identifier: MIT

package oneshot

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/prober"
)

// TestNetfilterTxRx checks what docs/security.md says of tx and rx
// against real nftables rules (Debian nftables) in the prober's
// namespace, IPv4 and IPv6: AF_PACKET frames (tx = packet, what auto picks
// here) pass an OUTPUT rule dropping echo requests and the receive ring
// (rx = ring) sees replies an INPUT rule drops, where the raw paths obey
// both; and on a stateful INPUT firewall (policy drop, established
// accepted) frames leave no conntrack entry, so rx = raw alone loses
// every reply while tx = raw with rx = raw gets them all back.
func TestNetfilterTxRx(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace fleet and nftables: not with -short")
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft is not installed (Debian nftables; scripts/install-deps.sh installs it)")
	}
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	var targets []prober.Target
	for _, p := range []string{"198.18.0.0/20", "2001:2::/64"} {
		for _, a := range testutil.FleetAddrs(t, netip.MustParsePrefix(p), 8) {
			targets = append(targets, prober.Target{Name: a.String(), Addr: a})
		}
	}
	rules := func(t *testing.T, chain string) {
		t.Helper()
		cmd := f.Prober.Command(nft, "-f", "-")
		cmd.Stdin = strings.NewReader("flush ruleset\n" + chain)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
	}
	// answered probes all targets once with the given paths and returns
	// how many answered.
	answered := func(t *testing.T, tx prober.TX, rx prober.RX) int {
		t.Helper()
		n := 0
		err := f.Prober.Do(func() error {
			e, err := prober.New(prober.Config{Proto: prober.ProtoICMP, Timeout: 300 * time.Millisecond, Rate: -1, TX: tx, RX: rx})
			if err != nil {
				return err
			}
			defer e.Close()
			sums, err := e.Once(context.Background(), targets, prober.OnceOptions{})
			for _, s := range sums {
				if s.Received > 0 {
					n++
				}
			}
			return err
		})
		testutil.SkipIfPermission(t, "probe", err)
		return n
	}
	all := len(targets)
	const (
		dropReplies  = "table inet t {\n chain in {\n  type filter hook input priority 0;\n  icmp type echo-reply drop\n  icmpv6 type echo-reply drop\n }\n}\n"
		dropRequests = "table inet t {\n chain out {\n  type filter hook output priority 0;\n  icmp type echo-request drop\n  icmpv6 type echo-request drop\n }\n}\n"
		stateful     = "table inet t {\n chain in {\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  iif lo accept\n  icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n }\n}\n"
	)
	for _, tc := range []struct {
		name   string
		rules  string
		tx     prober.TX
		rx     prober.RX
		answer int
	}{
		{"no rules, packet/ring", "", prober.TXPacket, prober.RXRing, all},
		{"no rules, raw/raw", "", prober.TXRaw, prober.RXRaw, all},
		{"INPUT drops replies, ring", dropReplies, prober.TXPacket, prober.RXRing, all},
		{"INPUT drops replies, rx raw", dropReplies, prober.TXPacket, prober.RXRaw, 0},
		{"OUTPUT drops requests, packet", dropRequests, prober.TXPacket, prober.RXRing, all},
		{"OUTPUT drops requests, tx raw", dropRequests, prober.TXRaw, prober.RXRing, 0},
		{"stateful INPUT, packet/ring", stateful, prober.TXPacket, prober.RXRing, all},
		{"stateful INPUT, packet, rx raw", stateful, prober.TXPacket, prober.RXRaw, 0},
		{"stateful INPUT, raw/raw", stateful, prober.TXRaw, prober.RXRaw, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules(t, tc.rules)
			if n := answered(t, tc.tx, tc.rx); n != tc.answer {
				t.Errorf("%d of %d targets answered, want %d", n, all, tc.answer)
			}
		})
	}
	rules(t, "")
	if out, _ := f.Prober.Command(nft, "list", "ruleset").CombinedOutput(); len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("rules left: %s", out)
	}
}
