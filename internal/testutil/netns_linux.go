// SPDX-License-Identifier: MIT

package testutil

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a named network namespace created for one test and deleted by
// the test's cleanup, whatever the test's outcome.
type Netns struct {
	Name string
	Path string // /run/netns/Name
}

var (
	nsSeq   atomic.Uint32
	nsSweep sync.Once
)

// sweepStale deletes the namespaces an earlier test process left behind
// when it died before its cleanups ran (a go test -timeout panic or a
// kill skips t.Cleanup): hbt-PID-N whose PID no longer runs and which no
// process is still inside.
func sweepStale() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		var pid, seq int
		if _, err := fmt.Sscanf(e.Name(), "hbt-%d-%d", &pid, &seq); err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "pids", e.Name()).Output(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			continue
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// NewNetns creates a fresh network namespace with lo up, and deletes it in
// t's cleanup. It skips t when namespaces cannot be created here.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	Privileged(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2's ip is not installed (apt-get install iproute2)")
	}
	nsSweep.Do(sweepStale)
	name := fmt.Sprintf("hbt-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		SkipIfPermission(t, "ip netns add", fmt.Errorf("%v: %s", err, out))
	}
	n := &Netns{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.MustIP(t, "link", "set", "lo", "up")
	return n
}

// IP runs `ip -n NAME args…` and returns its combined output.
func (n *Netns) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustIP is IP that fails t on error.
func (n *Netns) MustIP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Command returns a command that runs inside the namespace
// (`ip netns exec NAME name args…`).
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Sysctl sets a sysctl inside the namespace (key like "net.ipv4.ip_forward").
func (n *Netns) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if out, err := n.Command("sysctl", "-qw", key+"="+value).CombinedOutput(); err != nil {
		t.Fatalf("sysctl %s=%s in %s: %v: %s", key, value, n.Name, err, out)
	}
}

// Do runs fn on a locked OS thread switched into the namespace, then
// switches back. Sockets fn opens stay in the namespace after it returns;
// goroutines fn starts do not run inside it.
func (n *Netns) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(n.Path)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return os.NewSyscallError("setns", err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine
		// rather than reuse a thread in the wrong namespace.
		return errors.Join(fnErr, os.NewSyscallError("setns back", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// Veth is one veth pair between two namespaces.
type Veth struct {
	A, B         *Netns
	AName, BName string
	AAddr, BAddr netip.Prefix
}

// NewVeth creates a veth pair with end aName in a and bName in b, assigns
// the addresses (IPv6 ones with nodad) and brings both ends up. The pair
// goes away with its namespaces.
func NewVeth(t testing.TB, a *Netns, aName string, aAddr netip.Prefix, b *Netns, bName string, bAddr netip.Prefix) *Veth {
	t.Helper()
	if out, err := exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name).CombinedOutput(); err != nil {
		SkipIfPermission(t, "ip link add veth", fmt.Errorf("%v: %s", err, out))
	}
	v := &Veth{A: a, B: b, AName: aName, BName: bName, AAddr: aAddr, BAddr: bAddr}
	v.A.AddAddr(t, aName, aAddr)
	v.B.AddAddr(t, bName, bAddr)
	a.MustIP(t, "link", "set", aName, "up")
	b.MustIP(t, "link", "set", bName, "up")
	a.WaitUp(t, aName)
	b.WaitUp(t, bName)
	return v
}

// WaitUp waits until dev's operational state is UP. A link set up has
// carrier at once, but the kernel's linkwatch work activates its queueing
// discipline (and sets the operstate) only later, up to a second on a
// busy machine; until then every frame sent on it, ARP requests included,
// is dropped, so a test that sends at once can lose its whole first burst.
func (n *Netns) WaitUp(t testing.TB, dev string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := n.IP("-o", "link", "show", "dev", dev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, " state UP ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s not operationally up after 5 s: %s", dev, n.Name, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AddAddr adds p to dev inside the namespace (IPv6 without duplicate
// address detection, so it is usable at once).
func (n *Netns) AddAddr(t testing.TB, dev string, p netip.Prefix) {
	t.Helper()
	if !p.IsValid() {
		return
	}
	args := []string{"addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	n.MustIP(t, args...)
}

// Resolve makes sure the namespace has a link-layer address for addr
// before a test counts datagrams: it sends one UDP datagram to addr's
// discard port (nothing in the tests listens there) and waits until the
// neighbour entry is usable. Without it the first datagrams of a burst
// wait for ARP, and those beyond the kernel's small unresolved queue are
// dropped; a lost ARP request is retried only after a second.
func (n *Netns) Resolve(t testing.TB, addr netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := n.Do(func() error {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 9)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("hb neighbour warm-up"))
			return err
		}); err != nil {
			t.Fatalf("resolve %s in %s: %v", addr, n.Name, err)
		}
		out, err := n.IP("neigh", "show", "to", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "REACHABLE") || strings.Contains(out, "PERMANENT") || strings.Contains(out, "NOARP") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s: no neighbour entry after 5 s: %q", addr, n.Name, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
