// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

var (
	hostA4 = netip.MustParsePrefix("198.18.0.1/24")
	hostB4 = netip.MustParsePrefix("198.18.0.2/24")
	hostA6 = netip.MustParsePrefix("2001:2::1/64")
	hostB6 = netip.MustParsePrefix("2001:2::2/64")
)

// pair is a responder namespace (a, interface "hba") and a prober
// namespace (b, "hbb") joined by a veth pair with IPv4 and IPv6 addresses.
type pair struct {
	a, b *testutil.Netns
	objs *bpf.Objects
	ag   *Agent
}

func newPair(t *testing.T, key *wire.Key, cfg bpf.Config) *pair {
	t.Helper()
	a, b := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hba", hostA4, b, "hbb", hostB4)
	a.AddAddr(t, "hba", hostA6)
	b.AddAddr(t, "hbb", hostB6)
	objs, err := bpf.Load()
	testutil.SkipIfPermission(t, "load eBPF program", err)
	t.Cleanup(func() { objs.Close() })
	if key != nil {
		cfg.KeyID = key.ID
	}
	cfg.UDPPort = wire.DefaultUDPPort
	if err := objs.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	ag, err := NewAgent(AgentConfig{Key: key, HBM2: cfg.HBM2, Logger: quiet}, objs)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{a: a, b: b, objs: objs, ag: ag}
	p.step(t)
	return p
}

// step samples and publishes inside the responder namespace (the address
// sync reads that namespace's addresses).
func (p *pair) step(t *testing.T) {
	t.Helper()
	if err := p.a.Do(func() error { return p.ag.Step(context.Background(), time.Now()) }); err != nil {
		t.Fatal(err)
	}
}

func attachIn(t *testing.T, ns *testutil.Netns, objs *bpf.Objects, iface string, m Mode) *Attachment {
	t.Helper()
	var at *Attachment
	err := ns.Do(func() error {
		var err error
		at, err = Attach(objs, iface, []Mode{m})
		return err
	})
	testutil.SkipIfPermission(t, "attach "+m.String(), err)
	if at.Mode != m {
		t.Fatalf("attached %s, want %s", at.Mode, m)
	}
	t.Cleanup(func() { at.Close() })
	return at
}

// echo sends one ICMP/ICMPv6 echo request with payload from inside ns to
// dst and returns the matching echo reply's payload.
func echo(ns *testutil.Netns, dst netip.Addr, payload []byte) ([]byte, error) {
	var out []byte
	err := ns.Do(func() error {
		network, laddr, typ, rtyp := "ip4:icmp", "0.0.0.0", byte(8), byte(0)
		if dst.Is6() {
			network, laddr, typ, rtyp = "ip6:ipv6-icmp", "::", 128, 129
		}
		c, err := net.ListenPacket(network, laddr)
		if err != nil {
			return err
		}
		defer c.Close()
		id, seq := uint16(rand.Uint32()), uint16(rand.Uint32())
		msg := make([]byte, 8, 8+len(payload))
		msg[0] = typ
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], seq)
		msg = append(msg, payload...)
		if dst.Is4() { // the kernel fills in ICMPv6 checksums of raw sockets
			binary.BigEndian.PutUint16(msg[2:], wire.Checksum(msg, 0))
		}
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			m := buf[:n]
			if n >= 8 && m[0] == rtyp && binary.BigEndian.Uint16(m[4:]) == id && binary.BigEndian.Uint16(m[6:]) == seq {
				if dst.Is4() && wire.Checksum(m, 0) != 0 {
					return errors.New("echo reply with a bad ICMP checksum")
				}
				out = bytes.Clone(m[8:])
				return nil
			}
		}
	})
	return out, err
}

// udpProbe sends payload to dst:port from inside ns and returns the reply.
// It sends from a port other than port: a responder ignores its own.
func udpProbe(ns *testutil.Netns, dst netip.Addr, port uint16, payload []byte) ([]byte, error) {
	var out []byte
	err := ns.Do(func() error {
		c, err := testutil.ListenUDPClient("udp", port)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port))); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 2048)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		out = bytes.Clone(buf[:n])
		return nil
	})
	return out, err
}

func healthRequest(tok wire.Token, keyID uint8) []byte {
	return wire.AppendRequest(nil, wire.Request{Flags: wire.FlagHealth, KeyID: keyID, Room: wire.BlobSize, Cookie: 42, TxTime: time.Now().UnixNano(), Token: tok})
}

// checkHealth asserts that reply is an HBR1 reply carrying a blob that
// decodes (with key) to a sample not older than maxAge.
func checkHealth(t *testing.T, what string, reply []byte, key *wire.Key) wire.Health {
	t.Helper()
	r, err := wire.ParseReply(reply)
	if err != nil {
		t.Fatalf("%s: not an HBR1 reply: %v (%q)", what, err, reply[:min(8, len(reply))])
	}
	var h wire.Health
	if err := wire.DecodeBlob(r.Blob, key, &h); err != nil {
		t.Fatalf("%s: blob: %v", what, err)
	}
	if age := time.Since(time.Unix(0, h.CollectedAt)); age > 10*time.Second || age < -time.Second {
		t.Fatalf("%s: blob collected %v ago", what, age)
	}
	if h.MemTotal == 0 || h.NumCPU == 0 || h.Uptime == 0 || h.HostnameString() == "" {
		t.Fatalf("%s: implausible health %+v", what, h)
	}
	return h
}

// pingOK runs iputils ping with a payload pattern inside ns: every reply
// must arrive with its data intact.
func pingOK(t *testing.T, ns *testutil.Netns, dst netip.Addr) {
	t.Helper()
	out, err := ns.Command("ping", "-c", "3", "-i", "0.2", "-W", "2", "-p", "a5c3", dst.String()).CombinedOutput()
	s := string(out)
	if err != nil || !strings.Contains(s, "3 received") || strings.Contains(s, "wrong data") || strings.Contains(s, "DUP") {
		t.Fatalf("ping %v: %v\n%s", dst, err, s)
	}
}

func TestAttachModesOnVeth(t *testing.T) {
	for _, m := range []Mode{ModeGeneric, ModeNative, ModeTCX, ModeClsact} {
		t.Run(m.String(), func(t *testing.T) {
			p := newPair(t, nil, bpf.Config{})
			if m == ModeNative {
				// Native XDP_TX on a veth delivers only when the peer has
				// an XDP program: give it the pass-everything one.
				if err := p.b.Do(func() error {
					l, err := AttachXDPPass(p.objs, "hbb")
					if err == nil {
						t.Cleanup(func() { l.Close() })
					}
					return err
				}); err != nil {
					testutil.SkipIfPermission(t, "attach XDP pass program to the peer", err)
				}
				// A local UDP socket's datagrams leave a veth with only the
				// pseudo-header summed (checksum offload); native XDP sees
				// that partial checksum, so the client side computes it in
				// full, as a real NIC's peer would have.
				if err := p.b.Do(func() error { return txChecksumOff("hbb") }); err != nil {
					t.Fatalf("turn off tx checksum offload: %v", err)
				}
			}
			attachIn(t, p.a, p.objs, "hba", m)
			for _, dst := range []netip.Addr{hostA4.Addr(), hostA6.Addr()} {
				rep, err := echo(p.b, dst, healthRequest(wire.Token{}, 0))
				if err != nil {
					t.Fatalf("%v: health probe: %v", dst, err)
				}
				h := checkHealth(t, "icmp "+dst.String(), rep, nil)
				rep, err = udpProbe(p.b, dst, wire.DefaultUDPPort, healthRequest(wire.Token{}, 0))
				if err != nil {
					t.Fatalf("%v: UDP probe: %v", dst, err)
				}
				if h2 := checkHealth(t, "udp "+dst.String(), rep, nil); h2.Generation != h.Generation {
					t.Fatalf("UDP generation %d, ICMP %d", h2.Generation, h.Generation)
				}
				pingOK(t, p.b, dst)
			}
			// A fresh sample is served at once (the double buffer flips).
			before, _ := p.objs.Counters()
			p.step(t)
			rep, err := echo(p.b, hostA4.Addr(), healthRequest(wire.Token{}, 0))
			if err != nil {
				t.Fatal(err)
			}
			if h := checkHealth(t, "after step", rep, nil); h.Generation != 2 {
				t.Fatalf("generation %d after the second sample, want 2", h.Generation)
			}
			after, _ := p.objs.Counters()
			if after.Answered != before.Answered+1 {
				t.Fatalf("answered counter %d → %d", before.Answered, after.Answered)
			}
			t.Logf("%s on veth: counters %+v", m, after)
		})
	}
}

func TestTokenEndToEnd(t *testing.T) {
	key, err := wire.NewKey(9, bytes.Repeat([]byte{0x5a}, wire.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	p := newPair(t, key, bpf.Config{})
	attachIn(t, p.a, p.objs, "hba", ModeGeneric)
	for _, dst := range []netip.Addr{hostA4.Addr(), hostA6.Addr()} {
		rep, err := echo(p.b, dst, healthRequest(key.Token(time.Now().UnixNano(), dst), key.ID))
		if err != nil {
			t.Fatal(err)
		}
		if h := checkHealth(t, "with token", rep, key); !h.Sealed() {
			t.Fatal("blob not sealed")
		}
		req := healthRequest(wire.Token{1, 2, 3}, key.ID)
		rep, err = echo(p.b, dst, req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rep, req) {
			t.Fatalf("%v: wrong token got %q…, want the ordinary echo of the request", dst, rep[:8])
		}
		// A token made for the other address family's address of the
		// same host is refused too (bound to the target), over UDP with
		// the reachability reply.
		other := hostA6.Addr()
		if dst.Is6() {
			other = hostA4.Addr()
		}
		req = healthRequest(key.Token(time.Now().UnixNano(), other), key.ID)
		rep, err = udpProbe(p.b, dst, wire.DefaultUDPPort, req)
		want := bytes.Clone(req)
		wire.MakeReachReply(want)
		if err != nil || !bytes.Equal(rep, want) {
			t.Fatalf("%v: UDP with another address's token: %v, want the reachability reply", dst, err)
		}
	}
	c, _ := p.objs.Counters()
	if c.Denied != 4 || c.Answered != 2 {
		t.Fatalf("counters %+v, want 2 answered, 4 denied", c)
	}
}

func TestHBM2EndToEnd(t *testing.T) {
	p := newPair(t, nil, bpf.Config{HBM2: true})
	attachIn(t, p.a, p.objs, "hba", ModeGeneric)
	for _, dst := range []netip.Addr{hostA4.Addr(), hostA6.Addr()} {
		rep, err := echo(p.b, dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.DecodeHBM2(rep)
		if err != nil || len(rep) != wire.HBM2Len {
			t.Fatalf("%v: HBM v2 reply %x: %v", dst, rep, err)
		}
		if m.MemPercent <= 0 || time.Since(time.Unix(int64(m.Timestamp), 0)) > 10*time.Second {
			t.Fatalf("implausible HBM v2 %+v", m)
		}
		pingOK(t, p.b, dst)
	}
}

// TestLoopback attaches to lo in a fresh namespace: generic XDP, TCX and clsact
// work there (native XDP on lo is not supported by the kernel).
func TestLoopback(t *testing.T) {
	for _, m := range []Mode{ModeGeneric, ModeTCX, ModeClsact, ModeNative} {
		t.Run(m.String(), func(t *testing.T) {
			ns := testutil.NewNetns(t)
			objs, err := bpf.Load()
			testutil.SkipIfPermission(t, "load eBPF program", err)
			defer objs.Close()
			if err := objs.Configure(bpf.Config{UDPPort: wire.DefaultUDPPort}); err != nil {
				t.Fatal(err)
			}
			ag, _ := NewAgent(AgentConfig{Logger: quiet}, objs)
			if err := ns.Do(func() error { return ag.Step(context.Background(), time.Now()) }); err != nil {
				t.Fatal(err)
			}
			var at *Attachment
			err = ns.Do(func() error { at, err = Attach(objs, "lo", []Mode{m}); return err })
			if m == ModeNative {
				if err == nil {
					at.Close()
					t.Fatal("native XDP attached to lo; docs say it is not supported")
				}
				t.Logf("native on lo: %v (expected)", err)
				return
			}
			testutil.SkipIfPermission(t, "attach to lo", err)
			defer at.Close()
			for _, dst := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
				rep, err := echo(ns, dst, healthRequest(wire.Token{}, 0))
				if err != nil {
					t.Fatalf("%v: %v", dst, err)
				}
				checkHealth(t, "lo "+dst.String(), rep, nil)
				rep, err = udpProbe(ns, dst, wire.DefaultUDPPort, healthRequest(wire.Token{}, 0))
				if err != nil {
					t.Fatalf("%v udp: %v", dst, err)
				}
				checkHealth(t, "lo udp "+dst.String(), rep, nil)
				pingOK(t, ns, dst)
			}
		})
	}
}

// TestUserspaceUDP runs the userspace UDP responder alone (no eBPF).
func TestUserspaceUDP(t *testing.T) {
	key, _ := wire.NewKey(4, bytes.Repeat([]byte{1}, wire.KeyLen))
	a, b := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hba", hostA4, b, "hbb", hostB4)
	a.AddAddr(t, "hba", hostA6)
	b.AddAddr(t, "hbb", hostB6)
	ag, err := NewAgent(AgentConfig{Key: key, Logger: quiet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ag.Step(context.Background(), time.Now())
	u := startUDP(t, a, Judge{Key: key, Port: wire.DefaultUDPPort}, ag.Blob, nil)
	for _, dst := range []netip.Addr{hostA4.Addr(), hostA6.Addr()} {
		rep, err := udpProbe(b, dst, wire.DefaultUDPPort, healthRequest(key.Token(time.Now().UnixNano(), dst), key.ID))
		if err != nil {
			t.Fatal(err)
		}
		checkHealth(t, "userspace udp", rep, key)
		bad := healthRequest(wire.Token{}, key.ID)
		rep, err = udpProbe(b, dst, wire.DefaultUDPPort, bad)
		want := bytes.Clone(bad)
		wire.MakeReachReply(want)
		if err != nil || !bytes.Equal(rep, want) {
			t.Fatalf("bad token: %v, reply %q…, want the HBR1 reply without health", err, rep[:min(8, len(rep))])
		}
	}
	if c := u.Counters(); c.Answered != 2 || c.Reachable != 2 {
		t.Fatalf("counters %+v", c)
	}
}

// startUDP runs a userspace UDP responder on the default port inside ns
// until the test ends.
func startUDP(t *testing.T, ns *testutil.Netns, j Judge, blob func() []byte, limit *bucket.Bucket) *UDPResponder {
	t.Helper()
	var conn *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		conn, err = ListenUDP(wire.DefaultUDPPort)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Room for a whole test burst: the rate test counts every datagram.
	if rc, err := conn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) })
	}
	u := &UDPResponder{Conn: conn, Judge: j, Blob: blob, Limit: limit}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	return u
}

// udpStats reads the UDP counters of ns (/proc/net/snmp): datagrams in
// (delivered, to no port, or in error) and out (sent by UDP sockets).
func udpStats(t *testing.T, ns *testutil.Netns) (in, out uint64) {
	t.Helper()
	b, err := ns.Command("cat", "/proc/net/snmp").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, v := range f {
			var n uint64
			fmt.Sscan(v, &n)
			switch names[i] {
			case "InDatagrams", "NoPorts", "InErrors":
				in += n
			case "OutDatagrams":
				out += n
			}
		}
	}
	return in, out
}

// sendSpoofed sends one UDP datagram src -> dst with payload from inside
// ns through a raw socket (IP_HDRINCL): the source address and port are
// whatever the test says, as an attacker's would be.
func sendSpoofed(t *testing.T, ns *testutil.Netns, src, dst netip.AddrPort, payload []byte) {
	t.Helper()
	fr := testutil.Frame{Src: src.Addr(), Dst: dst.Addr(), TTL: 64, UDP: true, SrcPort: src.Port(), DstPort: dst.Port(), Payload: payload}
	b := fr.Bytes()
	p, err := testutil.ParseFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	pkt := b[p.L3:]
	err = ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		defer unix.Close(fd)
		return os.NewSyscallError("sendto", unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.Addr().As4()}))
	})
	testutil.SkipIfPermission(t, "raw socket", err)
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoUDPLoop: two real responders, A and B, on port 50003. Spoofed
// datagrams from A:50003 to B:50003 (an invalid HBQ1 request, a valid one,
// a reply) must not start a loop: B answers none of them (they come from
// its own port), so after the spoofed datagram nothing crosses the link.
// A probe from an ordinary port is still answered exactly once.
func TestNoUDPLoop(t *testing.T) {
	a, b := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hba", hostA4, b, "hbb", hostB4)
	var resp [2]*UDPResponder
	for i, ns := range []*testutil.Netns{a, b} {
		ag, err := NewAgent(AgentConfig{Logger: quiet}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.Do(func() error { return ag.Step(context.Background(), time.Now()) }); err != nil {
			t.Fatal(err)
		}
		resp[i] = startUDP(t, ns, Judge{Port: wire.DefaultUDPPort}, ag.Blob, bucket.New(1000, 100))
	}
	invalid := healthRequest(wire.Token{}, 0)[:100] // HBQ1, room not present
	valid := healthRequest(wire.Token{}, 0)
	reply := bytes.Clone(valid)
	wire.MakeReply(reply, make([]byte, wire.BlobSize))
	from := netip.AddrPortFrom(hostA4.Addr(), wire.DefaultUDPPort)
	to := netip.AddrPortFrom(hostB4.Addr(), wire.DefaultUDPPort)
	for _, tc := range []struct {
		name    string
		src     netip.AddrPort
		payload []byte
		answers uint64
	}{
		{"invalid-from-50003", from, invalid, 0},
		{"valid-from-50003", from, valid, 0},
		{"reply-from-40000", netip.AddrPortFrom(hostA4.Addr(), 40000), reply, 0},
		{"valid-from-port-0", netip.AddrPortFrom(hostA4.Addr(), 0), valid, 0},
		{"valid-from-40000", netip.AddrPortFrom(hostA4.Addr(), 40000), valid, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inA, outA := udpStats(t, a)
			inB, outB := udpStats(t, b)
			before := resp[1].Counters()
			sendSpoofed(t, a, tc.src, to, tc.payload)
			// First what must arrive (B's datagram, A's answer, B's
			// verdict: late on a loaded machine), then 300 ms in which a
			// loop, at >10k datagrams/s, would show thousands.
			waitUntil(func() bool {
				inB2, _ := udpStats(t, b)
				inA2, _ := udpStats(t, a)
				c := resp[1].Counters()
				judged := c.Answered + c.Reachable + c.Dropped + c.RateLimited - before.Answered - before.Reachable - before.Dropped - before.RateLimited
				return inB2-inB >= 1 && inA2-inA >= tc.answers && judged >= 1
			})
			time.Sleep(300 * time.Millisecond)
			inA2, outA2 := udpStats(t, a)
			inB2, outB2 := udpStats(t, b)
			if inB2-inB != 1 || outB2-outB != tc.answers || inA2-inA != tc.answers || outA2 != outA {
				t.Fatalf("B received %d (want the 1 spoofed) and sent %d (want %d); A received %d and sent %d: a loop or a reflection",
					inB2-inB, outB2-outB, tc.answers, inA2-inA, outA2-outA)
			}
			after := resp[1].Counters()
			answered := after.Answered + after.Reachable - before.Answered - before.Reachable
			if answered != tc.answers {
				t.Fatalf("B answered %d, want %d (counters %+v)", answered, tc.answers, after)
			}
		})
	}
	if c := resp[0].Counters(); c != (UDPCounters{}) {
		t.Fatalf("A's responder counted %+v: B sent it nothing", c)
	}
}

// TestUDPRate: a burst of valid UDP probes far above the rate is answered
// at the configured rate (burst + rate × the burst's duration), ±10 %.
func TestUDPRate(t *testing.T) {
	a, b := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hba", hostA4, b, "hbb", hostB4)
	ag, _ := NewAgent(AgentConfig{Logger: quiet}, nil)
	a.Do(func() error { return ag.Step(context.Background(), time.Now()) })
	const rate, burst, n = 1000, 1000, 3000 // a deep bucket: a stalled receiver does not lose tokens to the cap
	u := startUDP(t, a, Judge{Port: wire.DefaultUDPPort}, ag.Blob, bucket.New(rate, burst))
	elapsed := udpBurst(t, b, netip.AddrPortFrom(hostA4.Addr(), wire.DefaultUDPPort), n, []int{0})
	waitUntil(func() bool { c := u.Counters(); return c.Answered+c.Reachable+c.RateLimited+c.Dropped >= n })
	c := u.Counters()
	got := c.Answered + c.Reachable
	want := burst + rate*elapsed.Seconds()
	t.Logf("%d probes in %v: %d answered, %d rate-limited; want %.0f", n, elapsed, got, c.RateLimited, want)
	if c.Answered+c.Reachable+c.RateLimited != n {
		t.Fatalf("counted %+v, want %d datagrams", c, n)
	}
	if float64(got) < 0.9*want || float64(got) > 1.1*want {
		t.Fatalf("answered %d, want %.0f ± 10 %%", got, want)
	}
}

// TestNoUDPLoopKernel: responder B answers in the kernel (generic XDP),
// A in userspace. A spoofed valid request from A:50003 to B:50003 is not
// answered by B's program, and nothing UDP comes back to A.
func TestNoUDPLoopKernel(t *testing.T) {
	p := newPair(t, nil, bpf.Config{}) // a: the kernel responder (hba, 198.18.0.1), b: the other host
	attachIn(t, p.a, p.objs, "hba", ModeGeneric)
	ag, _ := NewAgent(AgentConfig{Logger: quiet}, nil)
	p.b.Do(func() error { return ag.Step(context.Background(), time.Now()) })
	ub := startUDP(t, p.b, Judge{Port: wire.DefaultUDPPort}, ag.Blob, bucket.New(1000, 100))
	from := netip.AddrPortFrom(hostB4.Addr(), wire.DefaultUDPPort)
	to := netip.AddrPortFrom(hostA4.Addr(), wire.DefaultUDPPort)
	inB, _ := udpStats(t, p.b)
	for _, payload := range [][]byte{healthRequest(wire.Token{}, 0), healthRequest(wire.Token{}, 0)[:100]} {
		sendSpoofed(t, p.b, from, to, payload)
	}
	time.Sleep(300 * time.Millisecond)
	inB2, _ := udpStats(t, p.b)
	c, _ := p.objs.Counters()
	if c.Answered+c.Reach != 0 || inB2 != inB || ub.Counters() != (UDPCounters{}) {
		t.Fatalf("kernel answered %d (+%d reach); B received %d UDP datagrams, its responder %+v: want nothing", c.Answered, c.Reach, inB2-inB, ub.Counters())
	}
	// From an ordinary port the kernel answers once.
	sendSpoofed(t, p.b, netip.AddrPortFrom(hostB4.Addr(), 40000), to, healthRequest(wire.Token{}, 0))
	waitUntil(func() bool { c, _ := p.objs.Counters(); return c.Answered >= 1 })
	if c, _ := p.objs.Counters(); c.Answered != 1 {
		t.Fatalf("kernel answered %d, want 1", c.Answered)
	}
}

// TestKernelRateAcrossCPUs: real UDP probes through generic XDP, a burst
// sent from one CPU and the same burst spread over two: answered the same
// number of times (the bucket's burst; the rate is one per 100 s, so time
// adds nothing). With the old per-CPU buckets the spread burst got twice
// as many answers.
func TestKernelRateAcrossCPUs(t *testing.T) {
	if n, err := ebpf.PossibleCPU(); err != nil || n < 2 {
		t.Skipf("needs 2 possible CPUs (have %d, %v)", n, err)
	}
	const burst, n = 100, 400
	p := newPair(t, nil, bpf.Config{Rate: 0.01, Burst: burst})
	attachIn(t, p.a, p.objs, "hba", ModeGeneric)
	dst := netip.AddrPortFrom(hostA4.Addr(), wire.DefaultUDPPort)
	var got []uint64
	for _, cpus := range [][]int{{0}, {0, 1}} {
		if err := p.objs.ResetBuckets(); err != nil {
			t.Fatal(err)
		}
		before, _ := p.objs.Counters()
		udpBurst(t, p.b, dst, n, cpus)
		waitUntil(func() bool {
			c, _ := p.objs.Counters()
			return c.Answered+c.RateLimited-before.Answered-before.RateLimited >= n
		})
		after, _ := p.objs.Counters()
		ans, lim := after.Answered-before.Answered, after.RateLimited-before.RateLimited
		t.Logf("CPUs %v: %d answered, %d rate-limited (dropped)", cpus, ans, lim)
		if ans+lim != n {
			t.Fatalf("CPUs %v: %d answered + %d limited, want %d probes seen", cpus, ans, lim, n)
		}
		got = append(got, ans)
	}
	if got[0] != burst || got[1] != burst {
		t.Fatalf("answered %d on one CPU, %d on two; want %d both", got[0], got[1], burst)
	}
}

// waitUntil polls cond every 10 ms for up to 10 s and reports whether it
// held: counters read right after sending can lag on a loaded machine; the
// assertion that follows says what was missing.
func waitUntil(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// udpBurst sends n valid probes to dst from inside ns, split evenly over
// one sender per CPU in cpus (each pinned there), pausing 10 ms every 100
// datagrams so that it lasts a few hundred ms, and returns the time
// from the first send to the last.
func udpBurst(t *testing.T, ns *testutil.Netns, dst netip.AddrPort, n int, cpus []int) time.Duration {
	t.Helper()
	req := healthRequest(wire.Token{}, 0)
	ns.Resolve(t, dst.Addr())
	start := time.Now()
	errs := make(chan error, len(cpus))
	for _, cpu := range cpus {
		go func() {
			errs <- ns.Do(func() error {
				var old, set unix.CPUSet
				if err := unix.SchedGetaffinity(0, &old); err != nil {
					return os.NewSyscallError("sched_getaffinity", err)
				}
				set.Set(cpu)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					return os.NewSyscallError("sched_setaffinity", err)
				}
				defer unix.SchedSetaffinity(0, &old)
				c, err := testutil.ListenUDPClient("udp", dst.Port()) // a responder ignores its own port
				if err != nil {
					return err
				}
				defer c.Close()
				for i := range n / len(cpus) {
					if i%100 == 99 {
						time.Sleep(10 * time.Millisecond) // spread the burst: the rate, not the burst, dominates
					}
					if _, err := c.WriteToUDPAddrPort(req, dst); err != nil {
						return err
					}
				}
				return nil
			})
		}()
	}
	for range cpus {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

// TestClsactReplacesStale attaches the clsact filter twice without
// detaching (a crashed run leaves its filter behind): the second replaces
// the first, and Close removes it.
func TestClsactReplacesStale(t *testing.T) {
	p := newPair(t, nil, bpf.Config{})
	var first, second *Attachment
	if err := p.a.Do(func() error {
		var err error
		if first, err = Attach(p.objs, "hba", []Mode{ModeClsact}); err != nil {
			return err
		}
		second, err = Attach(p.objs, "hba", []Mode{ModeClsact})
		return err
	}); err != nil {
		testutil.SkipIfPermission(t, "attach clsact", err)
	}
	_ = first
	out, err := p.a.Command("tc", "filter", "show", "dev", "hba", "ingress").CombinedOutput()
	if err != nil {
		t.Skipf("tc not available: %v %s", err, out)
	}
	if n := strings.Count(string(out), "handle 0x4842"); n != 1 {
		t.Fatalf("%d hb_tc filters after two attaches, want 1:\n%s", n, out)
	}
	rep, err := echo(p.b, hostA4.Addr(), healthRequest(wire.Token{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkHealth(t, "clsact", rep, nil)
	if err := p.a.Do(second.Close); err != nil {
		t.Fatal(err)
	}
	out, _ = p.a.Command("tc", "filter", "show", "dev", "hba", "ingress").CombinedOutput()
	if strings.Contains(string(out), "hb_tc") {
		t.Fatalf("filter left after Close:\n%s", out)
	}
}

// TestCrashLeavesNothing: the hb-responder binary is SIGKILLed; its XDP
// link goes with it, and a new run attaches again (no stale program, no
// EBUSY).
func TestCrashLeavesNothing(t *testing.T) {
	testutil.Privileged(t)
	bin := testutil.BuildBinary(t, t.TempDir(), "github.com/hbmon/hb/cmd/hb-responder")
	a, b := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, a, "hba", hostA4, b, "hbb", hostB4)
	status := t.TempDir() + "/status.json"
	start := func() *exec.Cmd {
		cmd := a.Command(bin, "--interfaces", "hba", "--attach", "generic", "--udp-port", "0", "--status-file", status, "--config", "/dev/null")
		var buf bytes.Buffer
		cmd.Stderr = &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if s, err := ReadStatus(status); err == nil && s.Generation > 0 && s.PID != 0 {
				return cmd
			}
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if strings.Contains(buf.String(), "missing capabilities") {
			t.Skipf("hb-responder lacks capabilities here:\n%s", buf.String())
		}
		t.Fatalf("hb-responder did not start:\n%s", buf.String())
		return nil
	}
	cmd := start()
	rep, err := echo(b, hostA4.Addr(), healthRequest(wire.Token{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkHealth(t, "first run", rep, nil)
	cmd.Process.Kill()
	cmd.Wait()
	if out := a.MustIP(t, "-d", "link", "show", "hba"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP program left attached after SIGKILL:\n%s", out)
	}
	req := healthRequest(wire.Token{}, 0)
	if rep, err := echo(b, hostA4.Addr(), req); err != nil || !bytes.Equal(rep, req) {
		t.Fatalf("after the crash: %v; want the kernel's ordinary echo", err)
	}
	os.Remove(status)
	cmd = start()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	rep, err = echo(b, hostA4.Addr(), healthRequest(wire.Token{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkHealth(t, "second run", rep, nil)
	// SIGTERM detaches and removes the status file.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if out := a.MustIP(t, "-d", "link", "show", "hba"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP program left attached after SIGTERM:\n%s", out)
	}
	if _, err := os.Stat(status); !os.IsNotExist(err) {
		t.Fatalf("status file left after SIGTERM: %v", err)
	}
}

// txChecksumOff turns off transmit checksum offload on iface (ethtool -K
// iface tx off, by ioctl: ethtool may not be installed).
func txChecksumOff(iface string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const ethtoolSTXCSUM = 0x17
	val := struct{ cmd, data uint32 }{ethtoolSTXCSUM, 0}
	var ifr [40]byte
	copy(ifr[:unix.IFNAMSIZ-1], iface)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&val))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&val)
	if errno != 0 {
		return os.NewSyscallError("ioctl SIOCETHTOOL", errno)
	}
	return nil
}

var quiet = slog.New(slog.DiscardHandler)
