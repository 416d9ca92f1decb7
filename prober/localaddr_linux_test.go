// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"golang.org/x/sys/unix"
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
			ev := newAddrEvents(t, p, fam.v6)
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
			ev.wait(t, unix.RTM_NEWADDR, fam.add)
			if !is(fam.add) {
				t.Errorf("%s added, not local", fam.add)
			}
			p.MustIP(t, "addr", "del", fam.addPrefix, "dev", "hbl0")
			ev.wait(t, unix.RTM_DELADDR, fam.add)
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

// addrEvents is a second subscriber to a namespace's address changes. The
// kernel may announce a change after the command making it has returned
// (IPv6 sends RTM_NEWADDR from its address-configuration work queue, even
// with nodad), and netlink delivers an announcement to every subscriber at
// once: once this socket has it, so has the set's.
type addrEvents struct{ fd int }

func newAddrEvents(t *testing.T, ns *testutil.Netns, v6 bool) *addrEvents {
	t.Helper()
	group := uint32(unix.RTMGRP_IPV4_IFADDR)
	if v6 {
		group = unix.RTMGRP_IPV6_IFADDR
	}
	e := &addrEvents{fd: -1}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		e.fd = fd
		return os.NewSyscallError("bind", unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: group}))
	})
	if e.fd >= 0 {
		t.Cleanup(func() { unix.Close(e.fd) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wait reads announcements until one of type typ (RTM_NEWADDR or
// RTM_DELADDR) for address a, failing t after 5 s.
func (e *addrEvents) wait(t *testing.T, typ uint16, a string) {
	t.Helper()
	want := netip.MustParseAddr(a).AsSlice()
	buf := make([]byte, 16<<10)
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no address announcement %d for %s within 5 s", typ, a)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(e.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(os.NewSyscallError("setsockopt SO_RCVTIMEO", err))
		}
		n, _, err := unix.Recvfrom(e.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(os.NewSyscallError("recvfrom", err))
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			if msgs[i].Header.Type != typ {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range attrs {
				if (at.Attr.Type == unix.IFA_ADDRESS || at.Attr.Type == unix.IFA_LOCAL) && bytes.Equal(at.Value, want) {
					return
				}
			}
		}
	}
}
