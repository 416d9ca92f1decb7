package responder

import (
	"fmt"
	"os"

	"github.com/hbmon/hb/wire"
)

// LoadKey reads a key file: the 32-byte master secret as 64 hex digits,
// as base64, or as 32 raw bytes (surrounding whitespace ignored), and
// derives the key with the given id (1–255).
func LoadKey(path string, id uint8) (*wire.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret, err := wire.ParseSecret(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k, err := wire.NewKey(id, secret)
	if err != nil {
		return nil, fmt.Errorf("key file %s (key id %d): %w", path, id, err)
	}
	return k, nil
}
