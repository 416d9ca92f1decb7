// SPDX-License-Identifier: MIT

package bpf

import (
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// fleetAddr is the i-th address of a simulated fleet: 198.18.0.0/15's
// hosts, then 2001:2::/64's (as the bench's fleet hands them out).
func fleetAddr(i int) netip.Addr {
	if i < 1<<17-2 {
		return testutil.SimAddr(i)
	}
	b := [16]byte{0x20, 0x01, 0x00, 0x02}
	v := uint64(i - (1<<17 - 2) + 1)
	for j := 15; j >= 8; j-- {
		b[j] = byte(v)
		v >>= 8
	}
	return netip.AddrFrom16(b)
}

// TestManyAddrs: the default hb_addrs holds DefaultMaxAddrs addresses;
// LoadWith's MaxAddrs makes room for a whole simulated fleet, and the
// program answers for an address far beyond the default's capacity and
// still passes one it was not given. HB_BPF_ADDRS=n sets the fleet's size
// (default 100,000; the bench's 1M row uses 1,000,000); the time SetAddrs
// takes is logged (-v), not asserted.
func TestManyAddrs(t *testing.T) {
	testutil.Privileged(t)
	n := 100_000
	if v := os.Getenv("HB_BPF_ADDRS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= DefaultMaxAddrs {
			t.Fatalf("HB_BPF_ADDRS=%q: want a count above %d", v, DefaultMaxAddrs)
		}
	}
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		addrs[i] = fleetAddr(i)
	}

	small, err := Load()
	testutil.SkipIfPermission(t, "load eBPF program", err)
	defer small.Close()
	if err := small.SetAddrs(addrs[:DefaultMaxAddrs+1]); err == nil {
		t.Fatalf("the default hb_addrs took %d addresses", DefaultMaxAddrs+1)
	}

	o, err := LoadWith(LoadOptions{MaxAddrs: uint32(n)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Configure(Config{}); err != nil {
		t.Fatal(err)
	}
	setIface(t, o, false)
	f := &fixture{o: o}
	f.publish(t, 1)
	t0 := time.Now()
	if err := o.SetAddrs(addrs); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := o.SetAddrs(addrs); err != nil { // unchanged: only the iteration
		t.Fatal(err)
	}
	t.Logf("SetAddrs of %d addresses: %v; again, unchanged: %v", n, t1.Sub(t0), time.Since(t1))

	req := request(wire.BlobSize, 0, wire.Token{}, 0)
	// The prober: outside the fleet (a source the program knows as its
	// own would be refused as spoofed).
	src4, src6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	frame := func(dst netip.Addr) []byte {
		fr := testutil.Frame{DstMAC: macA, SrcMAC: macB, Src: src4, Dst: dst, TTL: 61, ID: 0x4242, Seq: 7, Payload: req}
		if dst.Is6() {
			fr.Src = src6
		}
		return fr.Bytes()
	}
	for _, i := range []int{0, DefaultMaxAddrs, n / 2, n - 1} {
		if v, _ := run(t, o.XDP(), frame(fleetAddr(i))); v != xdpTX {
			t.Errorf("address %d (%v): verdict %d, want %d (reply)", i, fleetAddr(i), v, xdpTX)
		}
	}
	if v, _ := run(t, o.XDP(), frame(fleetAddr(n))); v != xdpPass {
		t.Errorf("address %d (%v), not given: verdict %d, want %d (pass)", n, fleetAddr(n), v, xdpPass)
	}
	c, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Answered != 4 || c.Passed != 1 {
		t.Errorf("counters %+v, want 4 answered, 1 passed", c)
	}
}
