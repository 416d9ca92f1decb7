// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyFileModeRefused: hb-probe, like hb-responder, refuses a key file
// group or others may read, in one-shot and daemon mode, exiting 2 with the
// file and the chmod that fixes it; the same file at 0600 is taken.
func TestKeyFileModeRefused(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "hb-probe.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("5a", 32)+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("127.0.0.1\n"), 0o644)
	t.Setenv("HB_CONFIG", "")
	for _, args := range [][]string{
		{"--key", key, "--count", "1", "127.0.0.1"},
		{"--config", "/dev/null", "--key", key, "--targets", targets, "--db", filepath.Join(dir, "hb.db"), "--listen", "127.0.0.1:0"},
	} {
		var out, errb bytes.Buffer
		code := run(args, nil, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), key+" has mode 0640") || !strings.Contains(errb.String(), "chmod 600 "+key) {
			t.Errorf("%q: exit %d, stderr %q; want 2 naming the file and chmod 600", args, code, errb.String())
		}
	}
}
