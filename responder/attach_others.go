// SPDX-License-Identifier: MIT

//go:build !linux

package responder

import (
	"fmt"
	"runtime"

	"github.com/hbmon/hb/bpf"
)

// Attachment is the program attached to one interface (Linux only).
type Attachment struct {
	Iface   string
	Index   int
	Mode    Mode
	Skipped []error
}

// Close does nothing off Linux.
func (a *Attachment) Close() error { return nil }

// Attach is not supported off Linux.
func Attach(o *bpf.Objects, iface string, modes []Mode) (*Attachment, error) {
	return nil, fmt.Errorf("attach eBPF program: not supported on %s", runtime.GOOS)
}

// AttachXDPPass is not supported off Linux.
func AttachXDPPass(o *bpf.Objects, iface string) (interface{ Close() error }, error) {
	return nil, fmt.Errorf("attach XDP program: not supported on %s", runtime.GOOS)
}
