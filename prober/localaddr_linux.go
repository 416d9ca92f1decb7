// SPDX-License-Identifier: MIT

package prober

import (
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// localAddrs is the set of this host's addresses of one family, which a
// receive ring checks each packet's IP destination against: a packet
// socket sees every frame whose link-layer destination is this host,
// including packets the host forwards for others (a router, a container
// host), which a raw socket never sees. The set comes from an rtnetlink
// address dump (RTM_GETADDR) and is reloaded when a netlink socket
// subscribed to address changes reports one: looked at on every packet
// whose destination is not in the set (an address just added) and at
// most once per localRecheck otherwise (one removed). Both netlink
// sockets are opened in the namespace the ring is opened in.
type localAddrs struct {
	v6     bool
	nl     *rtnetlink.Conn
	mon    int // netlink socket told of address changes; -1 without
	buf    []byte
	set    map[netip.Addr]struct{}
	polled int64 // receive stamp (unix ns) of the last look at mon
}

// localRecheck is how often, at most, the set is checked for changes
// while every packet goes to an address in it (receive stamps, ns).
const localRecheck = int64(1e9)

func newLocalAddrs(v6 bool) (*localAddrs, error) {
	l := &localAddrs{v6: v6, mon: -1}
	// Subscribe before the dump, so no change in between is missed.
	if mon, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err == nil {
		group := uint32(unix.RTMGRP_IPV4_IFADDR)
		if v6 {
			group = unix.RTMGRP_IPV6_IFADDR
		}
		if unix.Bind(mon, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: group}) == nil {
			l.mon, l.buf = mon, make([]byte, 16<<10)
		} else {
			unix.Close(mon)
		}
	}
	if l.mon < 0 {
		return nil, fmt.Errorf("rtnetlink: cannot subscribe to address changes")
	}
	var err error
	if l.nl, err = rtnetlink.Dial(nil); err != nil {
		l.close()
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	if err := l.load(); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// load replaces the set with the kernel's addresses of the family.
func (l *localAddrs) load() error {
	as, err := l.nl.Address.List()
	if err != nil {
		return fmt.Errorf("rtnetlink addresses: %w", err)
	}
	fam := uint8(unix.AF_INET)
	if l.v6 {
		fam = unix.AF_INET6
	}
	set := make(map[netip.Addr]struct{}, len(as))
	for _, a := range as {
		if a.Family != fam || a.Attributes == nil {
			continue
		}
		for _, ip := range [][]byte{a.Attributes.Local, a.Attributes.Address} {
			if x, ok := netip.AddrFromSlice(ip); ok {
				set[x.Unmap()] = struct{}{}
			}
		}
	}
	l.set = set
	return nil
}

// changed drains the change notifications and says whether there were any.
func (l *localAddrs) changed() bool {
	seen := false
	for range 64 {
		n, err := recvfromNow(l.mon, l.buf, 0)
		if err == unix.ENOBUFS { // notifications lost: reload to be sure
			seen = true
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		seen = true
	}
	return seen
}

// local says whether a (a packet's IP destination, received at ts) is one
// of this host's addresses. A loopback address always is (no interface
// but lo may receive one).
func (l *localAddrs) local(a netip.Addr, ts int64) bool {
	if a.IsLoopback() {
		return true
	}
	_, ok := l.set[a]
	if ok && ts-l.polled < localRecheck && ts >= l.polled {
		return true
	}
	l.polled = ts
	if l.changed() && l.load() == nil {
		_, ok = l.set[a]
	}
	return ok
}

func (l *localAddrs) close() {
	if l.mon >= 0 {
		unix.Close(l.mon)
		l.mon = -1
	}
	if l.nl != nil {
		l.nl.Close()
		l.nl = nil
	}
}
