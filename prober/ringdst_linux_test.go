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
// while B's real replies, addressed to the prober, still match.
func TestRxRingDropsForwardedReplies(t *testing.T) {
	p, a, b := testutil.NewNetns(t), testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, p, "hbpa", netip.MustParsePrefix("198.18.210.1/24"), a, "hbap", netip.MustParsePrefix("198.18.210.2/24"))
	testutil.NewVeth(t, p, "hbpb", netip.MustParsePrefix("198.18.211.1/24"), b, "hbbp", netip.MustParsePrefix("198.18.211.2/24"))
	p.Sysctl(t, "net.ipv4.ip_forward", "1")
	a.AddAddr(t, "hbap", netip.MustParsePrefix("198.18.210.3/24"))
	a.MustIP(t, "route", "add", "198.18.211.0/24", "via", "198.18.210.1")
	b.MustIP(t, "route", "add", "default", "via", "198.18.211.1")
	a.Sysctl(t, "net.ipv4.icmp_echo_ignore_all", "1") // only the attacker answers T
	legacy, hostB := netip.MustParseAddr("198.18.210.3"), netip.MustParseAddr("198.18.211.2")

	var in, out int
	err := a.Do(func() error {
		var err error
		if in, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50_000}
		if err := unix.SetsockoptTimeval(in, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		if out, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err != nil {
			return err
		}
		return unix.Bind(out, &unix.SockaddrInet4{Addr: legacy.As4()})
	})
	if err != nil {
		testutil.SkipIfPermission(t, "open raw sockets in the attacker's namespace", err)
	}
	t.Cleanup(func() { unix.Close(in); unix.Close(out) })
	hbm2 := wire.AppendHBM2(nil, wire.HBM2{Timestamp: float64(time.Now().Unix()), CPUPercent: 99, MemPercent: 1, MemAvailMB: 1, DiskPercent: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan int)
	go func() {
		sent := 0
		defer func() { done <- sent }()
		buf := make([]byte, 2048)
		to := &unix.SockaddrInet4{Addr: hostB.As4()}
		for ctx.Err() == nil {
			n, _, err := unix.Recvfrom(in, buf, 0)
			if err != nil || n < 28 {
				continue
			}
			ihl := int(buf[0]&0xf) * 4
			if n < ihl+icmpHdrLen || buf[ihl] != icmp4Echo || netip.AddrFrom4([4]byte(buf[16:20])) != legacy {
				continue
			}
			req := buf[ihl:n]
			for _, payload := range [][]byte{hbm2, req[icmpHdrLen:], nil} {
				rep := make([]byte, icmpHdrLen+len(payload))
				rep[0] = icmp4EchoReply
				copy(rep[4:8], req[4:8]) // the probe's id and sequence
				copy(rep[icmpHdrLen:], payload)
				binary.BigEndian.PutUint16(rep[2:], wire.Checksum(rep, 0))
				if unix.Sendto(out, rep, 0, to) == nil {
					sent++
				}
			}
		}
	}()
	sent := -1
	t.Cleanup(func() {
		cancel()
		if sent < 0 {
			<-done
		}
	})

	ts := targetsOf([]netip.Addr{hostB, legacy})
	ts[1].Legacy = true
	var e *Engine
	err = p.Do(func() error {
		var err error
		e, err = New(Config{Socket: SocketRaw, RX: RXRing, IPv4: true, Timeout: 300 * time.Millisecond})
		return err
	})
	if err != nil {
		testutil.SkipIfPermission(t, "open the prober sockets", err)
	}
	t.Cleanup(func() { e.Close() })
	const count = 3
	sums, err := e.Once(ctx, ts, OnceOptions{Count: count, Period: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the last forged replies
	cancel()
	sent = <-done
	st := e.Stats()
	t.Logf("forged %d replies; stats: %+v", sent, st)
	if sent != 3*count {
		t.Fatalf("the attacker forged %d replies, want %d (did the probes to T reach it?)", sent, 3*count)
	}
	if s := sums[0]; s.Received != count {
		t.Errorf("host B (%v): %d of %d real replies matched", hostB, s.Received, count)
	}
	if s := sums[1]; s.Received != 0 {
		t.Errorf("legacy target (%v): %d replies routed to another host counted as answers (health %v)", legacy, s.Received, s.Last.HealthKind)
	}
	// The Once above ends when the last probe to T times out; the forged
	// replies to the last probe may still be in flight: wait for them.
	deadline := time.Now().Add(5 * time.Second)
	for st.RxRingNotLocal < uint64(sent) && time.Now().Before(deadline) {
		e.Once(context.Background(), nil, OnceOptions{})
		st = e.Stats()
	}
	if st.RxRingNotLocal != uint64(sent) {
		t.Errorf("not local: %d, want %d (every forwarded reply)", st.RxRingNotLocal, sent)
	}
	if st.Matched != count || st.NoCookie != 0 || st.HBM2Refused != 0 || st.BadCookie != 0 || st.WrongSrc != 0 {
		t.Errorf("matched %d (want %d), refused: no cookie %d, hbm2 %d, bad cookie %d, wrong source %d (want 0)",
			st.Matched, count, st.NoCookie, st.HBM2Refused, st.BadCookie, st.WrongSrc)
	}
}
