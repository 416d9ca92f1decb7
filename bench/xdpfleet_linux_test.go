// SPDX-License-Identifier: MIT

package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// TestXDPFleet builds a fleet, attaches hb's XDP program answering for
// 5,000 simulated hosts (more than the default address map holds) and an
// XDP_PASS program on the prober's veth, and sends hb probes from the
// prober namespace: hosts beyond the default map's capacity answer with the
// published health blob, from the program (its counters), not the kernel's
// echo (which would return the request's empty room).
func TestXDPFleet(t *testing.T) {
	testutil.Privileged(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, eBPF)")
	}
	const n = 5000
	f, err := NewFleet(FleetConfig{Prefix: fmt.Sprintf("hbxt%d", os.Getpid()), Block: testutil.SimPrefix, Block6: netip.MustParsePrefix("2001:2::/64")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	hosts := &testutil.Netns{Name: f.Hosts, Path: "/run/netns/" + f.Hosts}
	prober := &testutil.Netns{Name: f.Prober, Path: "/run/netns/" + f.Prober}
	var r *BPFResponder
	if err := hosts.Do(func() (err error) { r, err = StartFleetResponder("xdp", HostsIf, n); return err }); err != nil {
		testutil.SkipIfPermission(t, "XDP fleet responder", err)
	}
	t.Cleanup(func() { r.Close() })
	var pass io.Closer
	if err := prober.Do(func() (err error) { pass, err = AttachXDPPass(ProberIf); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pass.Close() })

	var fd int
	if err := prober.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	for seq, i := range []int{0, 4096, n - 1} {
		dst := FleetAddr(i)
		pkt := []byte{8, 0, 0, 0, 0x42, 0x42, 0, byte(seq)}
		pkt = wire.AppendRequest(pkt, wire.Request{Flags: wire.FlagHealth, Room: wire.BlobSize, Cookie: uint64(1000 + seq)})
		binary.BigEndian.PutUint16(pkt[2:], wire.Checksum(pkt, 0))
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
			t.Fatalf("send to %v: %v", dst, err)
		}
		// The reply (an ARP exchange and the request itself may precede
		// it on the raw socket).
		buf := make([]byte, 2048)
		for {
			m, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				t.Fatalf("host %d (%v): no reply: %v", i, dst, err)
			}
			b := buf[:m]
			ihl := int(b[0]&0xf) * 4
			if sa, ok := from.(*unix.SockaddrInet4); !ok || netip.AddrFrom4(sa.Addr) != dst || len(b) < ihl+8 || b[ihl] != 0 || b[ihl+7] != byte(seq) {
				continue
			}
			rep, err := wire.ParseReply(b[ihl+8:])
			if err != nil {
				t.Fatalf("host %d: reply: %v", i, err)
			}
			var h wire.Health
			if err := wire.DecodeBlob(rep.Blob, nil, &h); err != nil || h.HostnameString() != "bench" {
				t.Fatalf("host %d: blob in reply: %v %+v", i, err, h)
			}
			break
		}
	}
	c, err := r.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Answered != 3 {
		t.Errorf("XDP counters %+v, want 3 answered", c)
	}
}
