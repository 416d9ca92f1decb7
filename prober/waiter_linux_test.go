// SPDX-License-Identifier: MIT

package prober

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel waiter's nap ends at its deadline or at a wake (also one
// that came before it), and its wait ends at a wake: the loop's
// cancellation, SetTargets and Close reach it either way. (No timing
// is asserted beyond "a 10 s nap or wait did not run its course".)
func TestPollWaiterWake(t *testing.T) {
	w, err := newPollWaiter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	done := make(chan struct{})
	go func() {
		w.nap(time.Millisecond) // runs out
		w.wake()
		w.nap(10 * time.Second) // a wake before the nap ends it
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a nap did not end at its deadline or at an earlier wake")
	}
	for _, sleep := range []func(time.Duration) error{w.nap, w.wait} {
		w.wait(0) // no wake pending
		select {
		case <-w.napc:
		default:
		}
		done := make(chan struct{})
		go func() {
			sleep(10 * time.Second)
			close(done)
		}()
		time.Sleep(20 * time.Millisecond)
		w.wake()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a wake did not end a nap or wait")
		}
	}
}

// TestPollWaiterWakeAfterClose: a wake after close (SetTargetFunc after
// the engine's Close) writes nothing to the eventfd's former number,
// which the process may have reused for another file (here: a new
// eventfd, which takes the lowest free number).
func TestPollWaiterWakeAfterClose(t *testing.T) {
	w, err := newPollWaiter(nil)
	if err != nil {
		t.Fatal(err)
	}
	old := w.efd
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if fd != old {
		t.Skipf("the closed eventfd's number %d went elsewhere (got %d)", old, fd)
	}
	w.wake()
	var b [8]byte
	if n, err := unix.Read(fd, b[:]); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("a wake after close wrote to the file that took its number: read %d bytes %v, err %v", n, b, err)
	}
	if err := w.close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestRecvfromNow: the raw recvfrom never blocks, even on a blocking
// socket (MSG_DONTWAIT is forced), returns the errno as unix.Recvfrom
// did (EAGAIN on an empty socket, comparable with ==), and reads a
// datagram whole.
func TestRecvfromNow(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) // blocking
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	buf := make([]byte, 64)
	done := make(chan error, 1)
	go func() {
		_, err := recvfromNow(fds[0], buf, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if err != unix.EAGAIN {
			t.Fatalf("empty socket: %v, want EAGAIN", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("recvfromNow blocked on an empty blocking socket")
	}
	if _, err := unix.Write(fds[1], []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if n, err := recvfromNow(fds[0], buf, 0); err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	if _, err := recvfromNow(fds[0], nil, 0); err != unix.EINVAL {
		t.Fatalf("empty buffer: %v, want EINVAL", err)
	}
}
