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

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/bpf"
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
func udpProbe(ns *testutil.Netns, dst netip.Addr, port uint16, payload []byte) ([]byte, error) {
	var out []byte
	err := ns.Do(func() error {
		c, err := net.ListenPacket("udp", ":0")
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
		rep, err := echo(p.b, dst, healthRequest(key.Token(time.Now().UnixNano()), key.ID))
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
	}
	c, _ := p.objs.Counters()
	if c.Denied != 2 || c.Answered != 2 {
		t.Fatalf("counters %+v, want 2 answered, 2 denied", c)
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
	var conn net.PacketConn
	if err := a.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp", fmt.Sprintf(":%d", wire.DefaultUDPPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	u := &UDPResponder{Conn: conn, Key: key, Blob: ag.Blob}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Serve(ctx) }()
	defer func() { cancel(); <-done; conn.Close() }()
	for _, dst := range []netip.Addr{hostA4.Addr(), hostA6.Addr()} {
		rep, err := udpProbe(b, dst, wire.DefaultUDPPort, healthRequest(key.Token(time.Now().UnixNano()), key.ID))
		if err != nil {
			t.Fatal(err)
		}
		checkHealth(t, "userspace udp", rep, key)
		bad := healthRequest(wire.Token{}, key.ID)
		rep, err = udpProbe(b, dst, wire.DefaultUDPPort, bad)
		if err != nil || !bytes.Equal(rep, bad) {
			t.Fatalf("bad token: %v, reply %q…, want the request echoed", err, rep[:min(8, len(rep))])
		}
	}
	if c := u.Counters(); c.Answered != 2 || c.Echoed != 2 {
		t.Fatalf("counters %+v", c)
	}
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
	bin := t.TempDir() + "/hb-responder"
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/hbmon/hb/cmd/hb-responder").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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
