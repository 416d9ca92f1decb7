// SPDX-License-Identifier: MIT

package prober

import (
	"net/netip"
	"testing"

	"github.com/hbmon/hb/internal/testutil"
)

// TestLocalAddrs: the ring's address set holds the namespace's addresses
// and loopback, not a routed one; an address added is local on the first
// packet to it (a miss looks at the change notifications); one removed
// stops being local by the next recheck (localRecheck later by receive
// stamp), IPv4 and IPv6.
func TestLocalAddrs(t *testing.T) {
	p, q := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, p, "hbl0", netip.MustParsePrefix("198.18.212.1/24"), q, "hbl1", netip.MustParsePrefix("198.18.212.2/24"))
	p.AddAddr(t, "hbl0", netip.MustParsePrefix("2001:2:ffd4::1/64"))
	for _, fam := range []struct {
		name                string
		v6                  bool
		have, peer, add, lo string
		addPrefix, wrongFam string
	}{
		{"IPv4", false, "198.18.212.1", "198.18.212.2", "198.18.212.7", "127.0.0.1", "198.18.212.7/24", "2001:2:ffd4::1"},
		{"IPv6", true, "2001:2:ffd4::1", "2001:2:ffd4::2", "2001:2:ffd4::7", "::1", "2001:2:ffd4::7/64", "198.18.212.1"},
	} {
		t.Run(fam.name, func(t *testing.T) {
			var l *localAddrs
			err := p.Do(func() error {
				var err error
				l, err = newLocalAddrs(fam.v6)
				return err
			})
			if err != nil {
				testutil.SkipIfPermission(t, "open rtnetlink sockets", err)
				t.Fatal(err)
			}
			defer l.close()
			ts := int64(1e12)
			is := func(a string) bool {
				ts += 1000
				return l.local(netip.MustParseAddr(a), ts)
			}
			if !is(fam.have) || !is(fam.lo) {
				t.Errorf("%s or %s not local", fam.have, fam.lo)
			}
			if is(fam.peer) || is(fam.add) || is(fam.wrongFam) {
				t.Errorf("%s, %s or %s (other family) local", fam.peer, fam.add, fam.wrongFam)
			}
			p.AddAddr(t, "hbl0", netip.MustParsePrefix(fam.addPrefix))
			if !is(fam.add) {
				t.Errorf("%s added, not local", fam.add)
			}
			p.MustIP(t, "addr", "del", fam.addPrefix, "dev", "hbl0")
			// A hit within localRecheck does not look at the changes.
			if !is(fam.add) {
				t.Errorf("%s gone before the recheck: a hit reloaded the set", fam.add)
			}
			ts += localRecheck
			if is(fam.add) {
				t.Errorf("%s removed, still local after the recheck", fam.add)
			}
			if !is(fam.have) {
				t.Errorf("%s no longer local", fam.have)
			}
		})
	}
}
