// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// One name that does not resolve: the others are still probed and
// printed, the name is reported, and the exit code is 2 (as fping's).
func TestOnceUnresolvedNameProbesTheRest(t *testing.T) {
	old := onceLookup
	onceLookup = func(_ context.Context, h string) ([]netip.Addr, error) {
		if h == "localhost" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	t.Cleanup(func() { onceLookup = old })
	var out, errb bytes.Buffer
	// UDP probes need no privilege; nothing listens on the port, so the
	// loopback answers with a port-unreachable error: a row either way.
	code := run([]string{"--once", "--proto", "udp", "--udp-port", "9", "--timeout", "300ms", "localhost", "nope.invalid", "127.0.0.2"}, nil, &out, &errb)
	if code != exitSetup {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitSetup, out.String(), errb.String())
	}
	for _, want := range []string{"localhost (127.0.0.1)", "127.0.0.2"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no row for %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "nope.invalid") || !strings.Contains(errb.String(), "args:2: resolving nope.invalid: no such host") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
}

// The engine opens for IPv4 while the list loads; a list with IPv6
// targets gets an engine with the families it needs (a probe to ::1 is
// answered, by a port-unreachable error, not refused for want of a
// socket).
func TestOnceIPv6TargetsReopen(t *testing.T) {
	for _, args := range [][]string{{"::1"}, {"::1", "127.0.0.1"}} {
		var out, errb bytes.Buffer
		code := run(append([]string{"--once", "--json", "--proto", "udp", "--udp-port", "9", "--timeout", "300ms"}, args...), nil, &out, &errb)
		if code == exitSetup || !strings.Contains(out.String(), `"target":"::1"`) || strings.Contains(out.String(), "no socket") {
			t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
		}
	}
}
