// SPDX-License-Identifier: MIT

package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/wire"
)

// BPFResponder is hb's responder program (package bpf) attached by the
// bench itself, used while the hb-responder command cannot attach in the
// requested mode.
type BPFResponder struct {
	objs *bpf.Objects
	l    link.Link
}

// StartBPFResponder loads the program, publishes a fixed clear health blob,
// makes addr the host's address and attaches to iface in mode "xdp"
// (native), "xdpgeneric" or "tc" (TCX ingress).
func StartBPFResponder(mode, iface string, addr netip.Addr) (*BPFResponder, error) {
	return startBPF(mode, iface, []netip.Addr{addr}, 0)
}

// StartFleetResponder is StartBPFResponder answering for the first n
// fleet addresses (FleetAddr), as hb-responder would on each of n hosts:
// the monitor section's simulated fleet answering hb's probes in the
// kernel by XDP instead of by the kernel's echo path. No rate limit; the
// address map is made large enough (bpf.LoadOptions).
func StartFleetResponder(mode, iface string, n int) (*BPFResponder, error) {
	addrs := make([]netip.Addr, 0, n)
	for i := range n {
		// Beyond 131,068 hosts the list holds the link's addresses: the
		// prober's is not a simulated host (its own kernel answers), and
		// the program must not know it, or it would refuse every probe
		// from it as spoofed.
		if a := FleetAddr(i); a != ProberAddr {
			addrs = append(addrs, a)
		}
	}
	return startBPF(mode, iface, addrs, uint32(max(n, bpf.DefaultMaxAddrs)))
}

func startBPF(mode, iface string, addrs []netip.Addr, maxAddrs uint32) (*BPFResponder, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	objs, err := bpf.LoadWith(bpf.LoadOptions{MaxAddrs: maxAddrs})
	if err != nil {
		return nil, err
	}
	r := &BPFResponder{objs: objs}
	fail := func(err error) (*BPFResponder, error) { r.Close(); return nil, err }
	if err := objs.Configure(bpf.Config{}); err != nil {
		return fail(err)
	}
	h := wire.Health{Generation: 1, CollectedAt: time.Now().UnixNano(), NumCPU: 2, MemTotal: 1 << 30}
	h.SetHostname("bench")
	blob := make([]byte, wire.BlobSize)
	if err := wire.EncodeBlob(blob, &h, nil); err != nil {
		return fail(err)
	}
	if err := objs.Publish(blob, nil); err != nil {
		return fail(err)
	}
	if err := objs.SetAddrs(addrs); err != nil {
		return fail(err)
	}
	// The program answers only frames for the interface's own MAC.
	bi := bpf.Iface{Index: ifc.Index, Loopback: ifc.Flags&net.FlagLoopback != 0}
	copy(bi.MAC[:], ifc.HardwareAddr)
	if err := objs.SetIfaces([]bpf.Iface{bi}); err != nil {
		return fail(err)
	}
	switch mode {
	case "xdp":
		r.l, err = link.AttachXDP(link.XDPOptions{Program: objs.XDP(), Interface: ifc.Index, Flags: link.XDPDriverMode})
	case "xdpgeneric":
		r.l, err = link.AttachXDP(link.XDPOptions{Program: objs.XDP(), Interface: ifc.Index, Flags: link.XDPGenericMode})
	case "tc":
		r.l, err = link.AttachTCX(link.TCXOptions{Program: objs.TC(), Interface: ifc.Index, Attach: ebpf.AttachTCXIngress})
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return fail(fmt.Errorf("attach %s to %s: %w", mode, iface, err))
	}
	return r, nil
}

// AttachXDPPass attaches an XDP_PASS program to iface (native mode): a
// veth delivers its peer's XDP_TX frames only when it runs NAPI, which an
// XDP program on it turns on. Close detaches and unloads.
func AttachXDPPass(iface string) (io.Closer, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	objs, err := bpf.Load()
	if err != nil {
		return nil, err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: objs.XDPPass(), Interface: ifc.Index, Flags: link.XDPDriverMode})
	if err != nil {
		objs.Close()
		return nil, fmt.Errorf("attach XDP_PASS to %s: %w", iface, err)
	}
	return closers{l, objs}, nil
}

type closers []io.Closer

func (c closers) Close() error {
	var errs []error
	for _, x := range c {
		errs = append(errs, x.Close())
	}
	return errors.Join(errs...)
}

// Counters returns the program's counters.
func (r *BPFResponder) Counters() (bpf.Counters, error) { return r.objs.Counters() }

// Close detaches and unloads.
func (r *BPFResponder) Close() error {
	if r.l != nil {
		if err := r.l.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "detach:", err)
		}
	}
	return r.objs.Close()
}
