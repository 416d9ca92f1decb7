// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPingstateSubcommand: `hb-probe pingstate` takes pingstate's flags
// (the personality itself is tested in package pingstate).
func TestPingstateSubcommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"pingstate", "--help"}, nil, &out, &errb); code != exitOK || !strings.Contains(errb.String(), "no-verify-tls") ||
		!strings.Contains(errb.String(), "hb-probe pingstate") {
		t.Fatalf("--help: %d\n%s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"pingstate", "--protocol", "tcp", "--address", "127.0.0.1"}, nil, &out, &errb); code != exitSetup ||
		!strings.Contains(errb.String(), "--port is required") {
		t.Fatalf("missing port: %d %s", code, errb.String())
	}
	errb.Reset()
	// A port nobody can bind: the API fails to start, non-zero exit.
	if code := run([]string{"pingstate", "--protocol", "tcp", "--address", "127.0.0.1", "--port", "1", "--api-host", "198.51.100.1"}, nil, &out, &errb); code != exitSetup ||
		!strings.Contains(errb.String(), "api:") {
		t.Fatalf("unbindable api: %d %s", code, errb.String())
	}
}
