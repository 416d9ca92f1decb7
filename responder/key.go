// SPDX-License-Identifier: MIT

package responder

import (
	"fmt"
	"os"

	"github.com/hbmon/hb/internal/keyfile"
	"github.com/hbmon/hb/wire"
)

// LoadKey reads a key file (see internal/keyfile: the one loader both
// binaries use) and derives the key with the given id (1–255). Like ssh
// with a private key, the responder refuses a file that group or others
// may read or write: the secret seals every host's health and makes every
// host's tokens.
func LoadKey(path string, id uint8) (*wire.Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %04o lets group or others access the shared secret; make it readable by its owner only: chmod 600 %s (owned by the user hb-responder runs as)", path, perm, path)
	}
	return keyfile.Key(path, id)
}
