// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/responder"
	"github.com/hbmon/hb/wire"
	"golang.org/x/sys/unix"
)

// TestUDPSourcePortNotResponderPort: a responder never answers a datagram
// from its own port (no loops between responders), so the prober's UDP
// socket must never send from the responder port. The prober namespace's
// ephemeral range is narrowed to the responder port and one other: a
// socket left to the kernel's choice would send from 50003 half of the
// time and lose every probe (the flake of TestFleetUDPHealth, 1 start in
// ~28,000 with the default range); each of several engines in a row must
// get its replies. With the responder port alone in the range, New fails
// with an error saying why instead of starting a prober that never hears
// back.
func TestUDPSourcePortNotResponderPort(t *testing.T) {
	f := testutil.NewFleet(t, testutil.DefaultFleet)
	host := testutil.FleetAddrs(t, testutil.DefaultFleet.Local[0], 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var pc *net.UDPConn
	if err := f.Hosts.Do(func() error {
		var err error
		pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(host, wire.DefaultUDPPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := &responder.UDPResponder{Conn: pc, Judge: responder.Judge{Port: wire.DefaultUDPPort}, Blob: func() []byte { return nil }}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("responder stopped: %v", err)
		}
		pc.Close()
	})

	other := wire.DefaultUDPPort + 1
	f.Prober.Sysctl(t, "net.ipv4.ip_local_port_range", strconv.Itoa(wire.DefaultUDPPort)+" "+strconv.Itoa(other))
	cfg := Config{Proto: ProtoUDP, Timeout: 2 * time.Second, IPv4: true}
	for i := range 8 {
		var e *Engine
		if err := f.Prober.Do(func() error {
			var err error
			e, err = New(cfg)
			return err
		}); err != nil {
			testutil.SkipIfPermission(t, "open the prober's UDP socket", err)
		}
		port := localUDPPort(t, e)
		sums, err := e.Once(ctx, targetsOf([]netip.Addr{host}), OnceOptions{Count: 1})
		e.Close() // frees its port for the next engine
		if err != nil {
			t.Fatal(err)
		}
		if port != other {
			t.Errorf("engine %d: UDP source port %d, want %d (the only ephemeral port that is not the responder's)", i, port, other)
		}
		if s := sums[0]; s.Received != 1 || s.Last().Outcome != OutcomeOK {
			t.Fatalf("engine %d (source port %d): received %d, outcome %v; responder %+v", i, port, s.Received, s.Last().Outcome, r.Counters())
		}
	}
	if c := r.Counters(); c.Reachable != 8 || c.Dropped != 0 {
		t.Errorf("responder counted %+v, want 8 answered without health and none dropped", c)
	}

	f.Prober.Sysctl(t, "net.ipv4.ip_local_port_range", strconv.Itoa(wire.DefaultUDPPort)+" "+strconv.Itoa(wire.DefaultUDPPort))
	err := f.Prober.Do(func() error {
		e, err := New(cfg)
		if err == nil {
			e.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "responder port "+strconv.Itoa(wire.DefaultUDPPort)) || !strings.Contains(err.Error(), "ip_local_port_range") {
		t.Errorf("New with the responder port as the only ephemeral port: %v, want an error naming the port and net.ipv4.ip_local_port_range", err)
	}
}

// localUDPPort is the port e's IPv4 UDP socket is bound to.
func localUDPPort(t *testing.T, e *Engine) int {
	t.Helper()
	c := e.conns[0]
	if c == nil || c.socket != SocketUDP {
		t.Fatalf("no IPv4 UDP socket: mode %v", e.Mode())
	}
	fd, ok := c.sk.(fdSock)
	if !ok {
		t.Fatalf("IPv4 socket is a %T", c.sk)
	}
	sa, err := unix.Getsockname(int(fd))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		t.Fatalf("getsockname: %T", sa)
	}
	return a.Port
}
