// SPDX-License-Identifier: MIT

// Package keyfile is hb's one key loader: hb-responder and hb-probe read
// the same key files (the 32-byte master secret as 64 hex digits, as
// base64, or as 32 raw bytes; surrounding whitespace ignored; parsed by
// wire.ParseSecret) and derive their keys from them here. The secret is
// never logged or put in an error.
package keyfile

import (
	"fmt"
	"os"

	"github.com/hbmon/hb/wire"
)

// Secret reads the master secret from path.
func Secret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
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
