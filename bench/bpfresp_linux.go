// SPDX-License-Identifier: MIT

package bench

import (
	"fmt"
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
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	objs, err := bpf.Load()
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
	if err := objs.SetAddrs([]netip.Addr{addr}); err != nil {
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
