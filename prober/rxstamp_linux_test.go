// SPDX-License-Identifier: MIT

package prober

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdRxTimestamps makes software RX timestamps live for the rest of the
// test, and waits until they are.
//
// The kernel stamps received packets only while some socket anywhere
// wants RX timestamps (netstamp_needed_key, one switch for all network
// namespaces), and it turns that switch on from a workqueue, after the
// setsockopt(SO_TIMESTAMPING) that asked for it has returned; when the
// last such socket closes, it turns it off the same way. A test that
// opens an engine and sweeps at once, with no other timestamping socket
// on the machine (CI), can so send its whole sweep before the worker has
// run on a loaded CPU: every reply arrives unstamped and is timed by the
// process clock (TSUser), which the engine handles, but which the tests
// asserting kernel RTTs reject. Seen as 1 run in 30 of
// TestFleetPingSockets with all 128 targets TSUser and TxStamps 130.
//
// This socket keeps the switch on until the test ends and proves it is on
// with a datagram to itself over loopback that comes back stamped.
func holdRxTimestamps(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	flags := unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags); err != nil {
		t.Skipf("no SO_TIMESTAMPING: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Skipf("no loopback in the test's namespace: %v", err)
	}
	self, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 8), make([]byte, 256)
	deadline := time.Now().Add(10 * time.Second)
	for tries := 1; ; tries++ {
		if err := unix.Sendto(fd, []byte("ts?"), 0, self); err != nil {
			t.Fatal(err)
		}
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING {
				if tries > 1 {
					t.Logf("kernel RX timestamps live after %d datagrams", tries)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel RX timestamps not live after %d datagrams in 10s", tries)
		}
		time.Sleep(time.Millisecond)
	}
}
