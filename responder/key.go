// SPDX-License-Identifier: MIT

package responder

import (
	"github.com/hbmon/hb/internal/keyfile"
	"github.com/hbmon/hb/wire"
)

// LoadKey reads a key file with internal/keyfile, the one loader both
// binaries use (it refuses a file group or others may access, like ssh
// with a private key), and derives the key with the given id (1–255).
func LoadKey(path string, id uint8) (*wire.Key, error) {
	return keyfile.Key(path, id)
}
