// SPDX-License-Identifier: MIT

package responder

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/bpf"
)

// Attachment is the program attached to one interface. XDP and TCX
// attachments are BPF links owned by this process: the kernel removes them
// when the process exits, however it exits, so a crash leaves nothing
// behind. A clsact filter outlives the process; it has a fixed priority and
// handle, so the next start replaces it instead of adding a second one, and
// Close deletes it.
type Attachment struct {
	Iface string
	Index int
	Mode  Mode
	// Skipped lists the better modes that failed, and why.
	Skipped []error

	link   link.Link
	filter *clsactFilter
}

// Close detaches the program.
func (a *Attachment) Close() error {
	switch {
	case a.link != nil:
		return a.link.Close()
	case a.filter != nil:
		return a.filter.del()
	}
	return nil
}

// Attach attaches the program to iface trying modes in order and returns
// the first that works. Native XDP is skipped on a veth unless it is the
// only mode asked for: there XDP_TX delivers only when the peer has an XDP
// program, which this host does not control. Attaching needs CAP_NET_ADMIN
// and CAP_BPF.
func Attach(o *bpf.Objects, iface string, modes []Mode) (*Attachment, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", iface, err)
	}
	if len(modes) == 0 {
		modes = DefaultModes
	}
	a := &Attachment{Iface: iface, Index: ifc.Index}
	for _, m := range modes {
		if m == ModeNative && len(modes) > 1 && driver(iface) == "veth" {
			a.Skipped = append(a.Skipped, fmt.Errorf("native: skipped on veth (XDP_TX needs an XDP program on the peer)"))
			continue
		}
		err := a.try(o, m)
		if err == nil {
			a.Mode = m
			return a, nil
		}
		a.Skipped = append(a.Skipped, fmt.Errorf("%s: %w", m, err))
		if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("attach to %s: %w: %w", iface, bpf.ErrPermission, errors.Join(a.Skipped...))
		}
	}
	return nil, fmt.Errorf("attach to %s: no mode worked: %w", iface, errors.Join(a.Skipped...))
}

func (a *Attachment) try(o *bpf.Objects, m Mode) error {
	var err error
	switch m {
	case ModeNative:
		a.link, err = link.AttachXDP(link.XDPOptions{Program: o.XDP(), Interface: a.Index, Flags: link.XDPDriverMode})
	case ModeGeneric:
		a.link, err = link.AttachXDP(link.XDPOptions{Program: o.XDP(), Interface: a.Index, Flags: link.XDPGenericMode})
	case ModeTCX:
		a.link, err = link.AttachTCX(link.TCXOptions{Program: o.TC(), Interface: a.Index, Attach: ebpf.AttachTCXIngress, Anchor: link.Head()})
	case ModeClsact:
		a.filter, err = attachClsact(a.Index, o.TC())
	default:
		err = fmt.Errorf("cannot attach in mode %s", m)
	}
	return err
}

// AttachXDPPass attaches o's pass-everything XDP program natively to
// iface (the peer of a veth whose other end runs native XDP).
func AttachXDPPass(o *bpf.Objects, iface string) (interface{ Close() error }, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	return link.AttachXDP(link.XDPOptions{Program: o.XDPPass(), Interface: ifc.Index, Flags: link.XDPDriverMode})
}

// driver returns iface's driver name (ethtool), or "".
func driver(iface string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, iface)
	if err != nil {
		return ""
	}
	return unix.ByteSliceToString(info.Driver[:])
}
