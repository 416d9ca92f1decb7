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
	"syscall"
	"testing"

	"github.com/hbmon/hb/wire"
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

// TestModeRefused: both binaries load keys here, so a key file group or
// others may read, write or execute is refused for every derived key, with
// the file and the chmod that fixes it named; 0600 and 0400 load.
func TestModeRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hb.key")
	if err := os.WriteFile(path, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := map[string]func() error{
		"Secret":  func() error { _, err := Secret(path); return err },
		"Key":     func() error { _, err := Key(path, 1); return err },
		"PushKey": func() error { _, err := PushKey(path, 1); return err },
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o644, 0o660, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		for name, f := range load {
			err := f()
			if !errors.Is(err, ErrMode) || !strings.Contains(err.Error(), path+" has mode") ||
				!strings.Contains(err.Error(), "chmod 600 "+path) || strings.Contains(err.Error(), "abab") {
				t.Errorf("%s, mode %04o: %v; want ErrMode naming the file and chmod 600, never the secret", name, mode, err)
			}
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		for name, f := range load {
			if err := f(); err != nil {
				t.Errorf("%s, mode %04o: %v", name, mode, err)
			}
		}
	}
	// Not a regular file: a directory (mode 0700) and a FIFO (0600), which
	// must not block the loader.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "fifo")} {
		if _, err := Secret(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v; want not a regular file", p, err)
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 8192), 0o600)
	if _, err := Secret(big); !errors.Is(err, wire.ErrKey) {
		t.Errorf("8 KiB file: %v", err)
	}
}

func TestText(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if s, err := Text(write("ok", "  s3cret pass\n\n")); err != nil || s != "s3cret pass" {
		t.Errorf("Text = %q, %v; want the trimmed line", s, err)
	}
	// An empty or blank file must not read as "no password".
	for _, blank := range []string{"", " \n\t\n"} {
		if s, err := Text(write("blank", blank)); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("blank file %q: %q, %v; want an error", blank, s, err)
		}
	}
	if _, err := Text(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := write("big", strings.Repeat("x", maxText+1))
	if _, err := Text(big); err == nil {
		t.Error("oversized file accepted")
	}
	// The content never appears in an error.
	p := write("long", strings.Repeat("y", maxText+1))
	if _, err := Text(p); err == nil || strings.Contains(err.Error(), "yyyy") {
		t.Errorf("error leaks content: %v", err)
	}
}
