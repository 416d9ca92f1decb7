// SPDX-License-Identifier: MIT

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocateNamesFileLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb-responder.toml")
	os.WriteFile(path, []byte("# comment\nudp_port = 50003\nrate_limit = -1\n\n[push]\ninterval = \"1ms\"\n"), 0o644)
	r := DefaultResponder("")
	if err := DecodeStrict(path, &r); err != nil {
		t.Fatal(err)
	}
	r.KeyID = 0 // as if from a flag: not in the file
	err := Locate(path, r.Validate())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	lines := strings.Split(msg, "\n")
	want := []string{"key_id: must be 1-255", path + ":3: rate_limit: ", path + ":6: push.interval: "}
	if len(lines) != len(want) {
		t.Fatalf("error %q: want %d lines", msg, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d %q does not start with %q", i, lines[i], w)
		}
	}
}
