// SPDX-License-Identifier: MIT

package responder

import (
	"encoding/binary"
	"errors"
	"os"
	"syscall"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// clsact attachment by rtnetlink (for kernels without TCX): a clsact qdisc
// and a direct-action bpf filter on its ingress hook, at a fixed priority
// and handle so a restart replaces the filter rather than adding another.
const (
	tcHClsact      = 0xfffffff1
	tcHIngress     = 0xfffffff2 // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
	clsactPrio     = 0xfb42     // hb's filter priority
	clsactHandle   = 0x4842     // "HB"
	tcaBPFFD       = 6
	tcaBPFName     = 7
	tcaBPFFlags    = 8
	tcaBPFActDirct = 1
)

type clsactFilter struct{ ifindex int }

func attachClsact(ifindex int, prog *ebpf.Program) (*clsactFilter, error) {
	// The qdisc: EEXIST means one is there already, which is what we want.
	q := tcmsg(ifindex, 0xffff0000, tcHClsact, 0)
	q = attr(q, unix.TCA_KIND, []byte("clsact\x00"))
	if err := rtnl(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL, q); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, os.NewSyscallError("rtnetlink new qdisc clsact", err)
	}
	var opts []byte
	opts = attr(opts, tcaBPFFD, binary.NativeEndian.AppendUint32(nil, uint32(prog.FD())))
	opts = attr(opts, tcaBPFName, []byte("hb_tc\x00"))
	opts = attr(opts, tcaBPFFlags, binary.NativeEndian.AppendUint32(nil, tcaBPFActDirct))
	f := tcmsg(ifindex, clsactHandle, tcHIngress, clsactPrio<<16|uint32(htons(unix.ETH_P_ALL)))
	f = attr(f, unix.TCA_KIND, []byte("bpf\x00"))
	f = attr(f, unix.TCA_OPTIONS|unix.NLA_F_NESTED, opts)
	// NLM_F_CREATE without NLM_F_EXCL: replaces a filter left by a previous
	// run (same priority and handle) instead of failing or duplicating.
	if err := rtnl(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, f); err != nil {
		return nil, os.NewSyscallError("rtnetlink new filter", err)
	}
	return &clsactFilter{ifindex: ifindex}, nil
}

func (c *clsactFilter) del() error {
	f := tcmsg(c.ifindex, clsactHandle, tcHIngress, clsactPrio<<16|uint32(htons(unix.ETH_P_ALL)))
	f = attr(f, unix.TCA_KIND, []byte("bpf\x00"))
	if err := rtnl(unix.RTM_DELTFILTER, 0, f); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return os.NewSyscallError("rtnetlink del filter", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func tcmsg(ifindex int, handle, parent, info uint32) []byte {
	b := make([]byte, 20) // struct tcmsg
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(int32(ifindex)))
	binary.NativeEndian.PutUint32(b[8:], handle)
	binary.NativeEndian.PutUint32(b[12:], parent)
	binary.NativeEndian.PutUint32(b[16:], info)
	return b
}

func attr(b []byte, typ uint16, data []byte) []byte {
	n := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rtnl sends one rtnetlink request and waits for its acknowledgement.
func rtnl(typ uint16, flags uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return unix.Errno(-e)
				}
				return nil
			}
		}
	}
}
