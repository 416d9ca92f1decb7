// SPDX-License-Identifier: MIT

// Package keyfile is hb's one key loader: hb-responder and hb-probe read
// the same key files (the 32-byte master secret as 64 hex digits, as
// base64, or as 32 raw bytes; surrounding whitespace ignored; parsed by
// wire.ParseSecret) and derive their keys from them here. The secret is
// never logged or put in an error.
//
// Like ssh with a private key, the loader refuses a key file that group or
// others may read, write or execute, for both binaries: the secret seals
// every host's health, makes every host's tokens and authenticates push
// heartbeats. The file must be mode 0600 (or stricter), owned by the user
// the service runs as (docs/packaging.md).
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/hbmon/hb/wire"
)

// ErrMode is returned (wrapped, with the file's name, mode and the chmod
// that fixes it) for a key file group or others may access.
var ErrMode = errors.New("key file is accessible by group or others")

// maxFile bounds what is read: a key file is at most 64 hex digits and
// some whitespace, so anything much larger is not one.
const maxFile = 4096

// Secret reads the master secret from path. It refuses anything but a
// regular file of mode 0600 or stricter (checked on the opened file, so a
// swap between check and read cannot slip a different file in).
func Secret(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; make it readable by its owner only: chmod 600 %s (owned by the user the service runs as)",
			ErrMode, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("key file %s: %w: longer than %d bytes", path, wire.ErrKey, maxFile)
	}
	secret, err := wire.ParseSecret(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return secret, nil
}

// Key reads path and derives the probe/reply key with id (1–255).
func Key(path string, id uint8) (*wire.Key, error) {
	secret, err := Secret(path)
	if err != nil {
		return nil, err
	}
	k, err := wire.NewKey(id, secret)
	if err != nil {
		return nil, fmt.Errorf("key file %s (key id %d): %w", path, id, err)
	}
	return k, nil
}

// PushKey reads path and derives the push-heartbeat key with id.
func PushKey(path string, id uint8) (*wire.PushKey, error) {
	secret, err := Secret(path)
	if err != nil {
		return nil, err
	}
	k, err := wire.NewPushKey(id, secret)
	if err != nil {
		return nil, fmt.Errorf("key file %s (key id %d): %w", path, id, err)
	}
	return k, nil
}

// Text reads a one-line secret that is not a key — the API's bearer token
// (api.token_file), the watchtower password (push.watchtower_password_file),
// a notification channel's URL (url_file) — with surrounding whitespace
// removed. An empty file is an error, never "no secret": a password file
// emptied by mistake must not turn authentication off. The content is
// never put in an error.
func Text(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxText+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxText {
		return "", fmt.Errorf("%s: longer than %d bytes", path, maxText)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// maxText bounds a Text file: tokens, passwords and URLs are short.
const maxText = 64 << 10
