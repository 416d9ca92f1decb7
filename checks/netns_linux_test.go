// SPDX-License-Identifier: MIT

package checks

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/obs"
)

// TestTCPBlackholedAddress: a TCP check to an address nothing answers for
// times out in the connect phase. Two namespaces joined by a veth pair;
// 198.18.7.2 has a permanent neighbour entry with a MAC nobody owns, so
// its frames reach the peer and are dropped there (not for this host):
// no RST, no ICMP, no ARP failure.
func TestTCPBlackholedAddress(t *testing.T) {
	ns, peer := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, ns, "hbc0", netip.MustParsePrefix("198.18.7.1/24"), peer, "hbc1", netip.MustParsePrefix("198.18.7.3/24"))
	ns.MustIP(t, "neigh", "add", "198.18.7.2", "lladdr", "02:00:00:00:00:99", "dev", "hbc0", "nud", "permanent")
	pr, err := ParseProbe(obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://198.18.7.2:22"}, 400*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	p := NewProber(ProberConfig{})
	var o obs.Observation
	// The TCP check dials from the calling goroutine, so its socket is
	// made inside the namespace.
	if err := ns.Do(func() error { o = p.Run(context.Background(), pr); return nil }); err != nil {
		t.Fatal(err)
	}
	if o.Outcome != obs.Timeout || !strings.Contains(o.Problem, "timeout after 400ms (connect)") {
		t.Fatalf("got %v %q", o.Outcome, o.Problem)
	}
	if d, ok := metric(o, MetricDuration); !ok || d < 0.4 {
		t.Fatalf("gave up after %v", d)
	}
}
