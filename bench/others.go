// SPDX-License-Identifier: MIT

//go:build !linux

package bench

import (
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"runtime"
)

var errNotLinux = fmt.Errorf("bench: not supported on %s (needs Linux network namespaces)", runtime.GOOS)

// NewFleet is not supported off Linux.
func NewFleet(FleetConfig) (*Fleet, error) { return nil, errNotLinux }

// Sysctl is not supported off Linux.
func (f *Fleet) Sysctl(ns, key, value string) error { return errNotLinux }

// SteerRx is not supported off Linux.
func (f *Fleet) SteerRx(ns, ifname, mask string) error { return errNotLinux }

// ThreadedNAPI is not supported off Linux.
func (f *Fleet) ThreadedNAPI(ns, ifname string, on bool) ([]int, error) { return nil, errNotLinux }

// PromptNAPI is not supported off Linux.
func PromptNAPI([]int) error { return errNotLinux }

// Command is not supported off Linux; the command fails to start.
func (f *Fleet) Command(ns, name string, args ...string) *exec.Cmd { return exec.Command("false") }

// Close does nothing off Linux.
func (f *Fleet) Close() error { return nil }

// DeleteStale does nothing off Linux.
func DeleteStale(string) error { return nil }

// RunLoad is not supported off Linux.
func RunLoad(LoadConfig) (LoadResult, error) { return LoadResult{}, errNotLinux }

// RunEchoResponder is not supported off Linux.
func RunEchoResponder() error { return errNotLinux }

// BPFResponder is not supported off Linux.
type BPFResponder struct{}

// StartBPFResponder is not supported off Linux.
func StartBPFResponder(string, string, netip.Addr) (*BPFResponder, error) { return nil, errNotLinux }

// StartFleetResponder is not supported off Linux.
func StartFleetResponder(string, string, int) (*BPFResponder, error) { return nil, errNotLinux }

// AttachXDPPass is not supported off Linux.
func AttachXDPPass(string) (io.Closer, error) { return nil, errNotLinux }

// Close does nothing off Linux.
func (r *BPFResponder) Close() error { return nil }
