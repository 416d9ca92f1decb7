package responder

import (
	"fmt"
	"os"

	"github.com/hbmon/hb/wire"
)

// LoadKey reads a key file: the 32-byte master secret as 64 hex digits,
// as base64, or as 32 raw bytes (surrounding whitespace ignored), and
// derives the key with the given id (1–255). Like ssh with a private key,
// it refuses a file that group or others may read or write: the secret
// seals every host's health and opens every host's tokens.
func LoadKey(path string, id uint8) (*wire.Key, error) {
	f, err := os.Open(path)
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
		return nil, fmt.Errorf("key file %s: mode %04o lets group or others access the shared secret; make it readable by its owner only: chmod 600 %s (owned by the user hb-responder runs as)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
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
