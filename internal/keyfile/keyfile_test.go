// SPDX-License-Identifier: MIT

package keyfile

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i*7 + 1)
	}
	files := map[string][]byte{
		"hex":    []byte(hex.EncodeToString(raw) + "\n"),
		"base64": []byte("  " + base64.StdEncoding.EncodeToString(raw) + "\n"),
		"raw":    raw,
	}
	var keys []string
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Secret(p)
		if err != nil || string(s) != string(raw) {
			t.Fatalf("%s: %x, %v", name, s, err)
		}
		k, err := Key(p, 7)
		if err != nil || k.ID != 7 {
			t.Fatalf("%s: Key = %v, %v", name, k, err)
		}
		if _, err := PushKey(p, 7); err != nil {
			t.Fatalf("%s: PushKey: %v", name, err)
		}
		keys = append(keys, name)
	}
	// Same secret, same key, whatever the encoding: the responder and the
	// prober derive the same thing.
	a, _ := Key(filepath.Join(dir, "hex"), 3)
	b, _ := Key(filepath.Join(dir, "base64"), 3)
	// Compare what the keys do (a Key holds a pool, so DeepEqual would
	// compare pool internals): the same token for the same minute and address.
	at, addr := int64(1_700_000_000e9), netip.MustParseAddr("198.18.0.1")
	if a == nil || b == nil || a.ID != b.ID || a.Token(at, addr) != b.Token(at, addr) {
		t.Fatal("hex and base64 files give different keys")
	}

	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not a key, and secret-looking text"), 0o600)
	if _, err := Key(bad, 1); err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "secret-looking") {
		t.Errorf("bad file: %v (must name the file, never echo its contents)", err)
	}
	if _, err := Key(filepath.Join(dir, "hex"), 0); err == nil {
		t.Error("key id 0 accepted")
	}
	if _, err := Key(filepath.Join(dir, "missing"), 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v; want errors.Is(err, fs.ErrNotExist)", err)
	}
}
