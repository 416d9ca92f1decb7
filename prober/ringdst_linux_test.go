// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// On a host that forwards, the receive ring sees echo replies routed
// through it for other machines (their link-layer destination is this
// host: PACKET_HOST). The prober's namespace routes between two veths:
// "a" holds the legacy=hbm2 target T and an attacker that answers each
// probe to T with three echo replies carrying the probe's id and
// sequence, from T's address, but addressed to host B behind the prober:
// an HBM v2 reply (which the matcher would accept for a legacy target:
// no cookie), the probe's own payload (cookie and all) and an empty one.
// None may mark T up; each is counted as not local (not as a refusal),
// while B's real replies, addressed to the prober, still match. IPv4 and
// IPv6.
func TestRxRingDropsForwardedReplies(t *testing.T) {
	p, a, b := testutil.NewNetns(t), testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, p, "hbpa", netip.MustParsePrefix("198.18.210.1/24"), a, "hbap", netip.MustParsePrefix("198.18.210.2/24"))
	testutil.NewVeth(t, p, "hbpb", netip.MustParsePrefix("198.18.211.1/24"), b, "hbbp", netip.MustParsePrefix("198.18.211.2/24"))
	p.AddAddr(t, "hbpa", netip.MustParsePrefix("2001:2:ffd2::1/64"))
	p.AddAddr(t, "hbpb", netip.MustParsePrefix("2001:2:ffd3::1/64"))
	a.AddAddr(t, "hbap", netip.MustParsePrefix("2001:2:ffd2::2/64"))
	b.AddAddr(t, "hbbp", netip.MustParsePrefix("2001:2:ffd3::2/64"))
	p.Sysctl(t, "net.ipv4.ip_forward", "1")
	p.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	a.AddAddr(t, "hbap", netip.MustParsePrefix("198.18.210.3/24"))
	a.AddAddr(t, "hbap", netip.MustParsePrefix("2001:2:ffd2::3/64"))
	a.MustIP(t, "route", "add", "198.18.211.0/24", "via", "198.18.210.1")
	a.MustIP(t, "-6", "route", "add", "2001:2:ffd3::/64", "via", "2001:2:ffd2::1")
	b.MustIP(t, "route", "add", "default", "via", "198.18.211.1")
	b.MustIP(t, "-6", "route", "add", "default", "via", "2001:2:ffd3::1")
	// Only the attacker answers T.
	a.Sysctl(t, "net.ipv4.icmp_echo_ignore_all", "1")
	a.Sysctl(t, "net.ipv6.icmp.echo_ignore_all", "1")

	for _, fam := range []struct {
		name          string
		v6            bool
		legacy, hostB netip.Addr
	}{
		{"IPv4", false, netip.MustParseAddr("198.18.210.3"), netip.MustParseAddr("198.18.211.2")},
		{"IPv6", true, netip.MustParseAddr("2001:2:ffd2::3"), netip.MustParseAddr("2001:2:ffd3::2")},
	} {
		t.Run(fam.name, func(t *testing.T) {
			forwardedReplies(t, p, a, fam.v6, fam.legacy, fam.hostB)
		})
	}
}

func forwardedReplies(t *testing.T, p, a *testutil.Netns, v6 bool, legacy, hostB netip.Addr) {
	af, proto, echo, echoReply := unix.AF_INET, unix.IPPROTO_ICMP, byte(icmp4Echo), byte(icmp4EchoReply)
	var bind, to unix.Sockaddr
	if v6 {
		af, proto, echo, echoReply = unix.AF_INET6, unix.IPPROTO_ICMPV6, icmp6Echo, icmp6EchoReply
		bind, to = &unix.SockaddrInet6{Addr: legacy.As16()}, &unix.SockaddrInet6{Addr: hostB.As16()}
	} else {
		bind, to = &unix.SockaddrInet4{Addr: legacy.As4()}, &unix.SockaddrInet4{Addr: hostB.As4()}
	}
	in, out := -1, -1
	err := a.Do(func() error {
		var err error
		if in, err = unix.Socket(af, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50_000}
		if err := unix.SetsockoptTimeval(in, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		if out, err = unix.Socket(af, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		return unix.Bind(out, bind)
	})
	t.Cleanup(func() {
		for _, fd := range []int{in, out} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	})
	if err != nil {
		testutil.SkipIfPermission(t, "open raw sockets in the attacker's namespace", err)
		t.Fatal(err)
	}
	hbm2 := wire.AppendHBM2(nil, wire.HBM2{Timestamp: float64(time.Now().Unix()), CPUPercent: 99, MemPercent: 1, MemAvailMB: 1, DiskPercent: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan int, 1)
	go func() {
		sent := 0
		defer func() { done <- sent }()
		buf := make([]byte, 2048)
		for ctx.Err() == nil {
			n, _, err := unix.Recvfrom(in, buf, 0)
			if err != nil {
				continue
			}
			req := buf[:n]
			if !v6 { // a raw IPv4 socket shows the IP header
				ihl := int(buf[0]&0xf) * 4
				if n < ihl || netip.AddrFrom4([4]byte(buf[16:20])) != legacy {
					continue
				}
				req = buf[ihl:n]
			} // IPv6: only T is probed in this namespace
			if len(req) < icmpHdrLen || req[0] != echo {
				continue
			}
			for _, payload := range [][]byte{hbm2, req[icmpHdrLen:], nil} {
				rep := make([]byte, icmpHdrLen+len(payload))
				rep[0] = echoReply
				copy(rep[4:8], req[4:8]) // the probe's id and sequence
				copy(rep[icmpHdrLen:], payload)
				if !v6 { // the kernel sums ICMPv6
					binary.BigEndian.PutUint16(rep[2:], wire.Checksum(rep, 0))
				}
				if unix.Sendto(out, rep, 0, to) == nil {
					sent++
				}
			}
		}
	}()
	t.Cleanup(func() { cancel() })

	// Neighbours first: a burst's first probes to an unresolved IPv6
	// neighbour may be lost while the kernel resolves it.
	p.Resolve(t, hostB)
	p.Resolve(t, legacy)
	ts := targetsOf([]netip.Addr{hostB, legacy})
	ts[1].Legacy = true
	var e *Engine
	err = p.Do(func() error {
		var err error
		e, err = New(Config{Socket: SocketRaw, RX: RXRing, IPv4: !v6, IPv6: v6, Timeout: 300 * time.Millisecond})
		return err
	})
	if err != nil {
		testutil.SkipIfPermission(t, "open the prober sockets", err)
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	const count = 3
	sums, err := e.Once(ctx, ts, OnceOptions{Count: count, Period: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Once returns when the last probe to T times out, 300 ms after the
	// attacker's last replies: every one of them has been read.
	cancel()
	sent := <-done
	st := e.Stats()
	t.Logf("forged %d replies; stats: %+v", sent, st)
	if sent != 3*count {
		t.Fatalf("the attacker forged %d replies, want %d (did the probes to T reach it?)", sent, 3*count)
	}
	if s := sums[0]; s.Received != count {
		t.Errorf("host B (%v): %d of %d real replies matched", hostB, s.Received, count)
	}
	if s := sums[1]; s.Received != 0 {
		t.Errorf("legacy target (%v): %d replies routed to another host counted as answers (health %v)", legacy, s.Received, s.Last().HealthKind)
	}
	if st.RxRingNotLocal != uint64(sent) {
		t.Errorf("not local: %d, want %d (every forwarded reply)", st.RxRingNotLocal, sent)
	}
	if st.Matched != count || st.NoCookie != 0 || st.HBM2Refused != 0 || st.BadCookie != 0 || st.WrongSrc != 0 {
		t.Errorf("matched %d (want %d), refused: no cookie %d, hbm2 %d, bad cookie %d, wrong source %d (want 0)",
			st.Matched, count, st.NoCookie, st.HBM2Refused, st.BadCookie, st.WrongSrc)
	}
}
