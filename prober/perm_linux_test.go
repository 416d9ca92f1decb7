// SPDX-License-Identifier: MIT

package prober

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// withoutNetRaw runs fn on a thread whose effective capabilities lack
// CAP_NET_RAW (capabilities are per thread on Linux). The thread is locked
// and never unlocked, so it ends with the goroutine instead of carrying
// the reduced set back into the runtime's pool.
func withoutNetRaw(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- "capget: " + err.Error()
			return
		}
		data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- "capset: " + err.Error()
			return
		}
		fn()
		done <- ""
	}()
	if msg := <-done; msg != "" {
		t.Skip("cannot change this thread's capabilities: " + msg)
	}
}

// A refused socket(2) reaches the caller wrapped: errors.Is(err,
// os.ErrPermission) holds, so a main can print the setcap hint.
func TestNewPermissionError(t *testing.T) {
	var err error
	withoutNetRaw(t, func() {
		var e *Engine
		e, err = New(Config{Socket: SocketRaw, IPv4: true})
		if e != nil {
			e.Close()
		}
	})
	if err == nil {
		t.Skip("raw socket opened without CAP_NET_RAW in the effective set (the test cannot take the privilege away here)")
	}
	if !errors.Is(err, os.ErrPermission) || !errors.Is(err, unix.EPERM) {
		t.Fatalf("New without CAP_NET_RAW: %v (%T); want errors.Is(err, os.ErrPermission)", err, err)
	}
	if !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Errorf("error lacks the setcap hint: %v", err)
	}
}
