// SPDX-License-Identifier: MIT

package wire

import "errors"

// Decoding errors. Callers branch on them with errors.Is; each names one
// distinguishable reason a buffer was rejected.
var (
	// ErrShort: the buffer is shorter than the format requires (truncated).
	ErrShort = errors.New("wire: truncated")
	// ErrMagic: the magic bytes are not the expected ones.
	ErrMagic = errors.New("wire: bad magic")
	// ErrVersion: a version this package does not speak.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrChecksum: a clear blob whose CRC32 does not match: tampered with,
	// or torn (read while it was being rewritten).
	ErrChecksum = errors.New("wire: checksum mismatch")
	// ErrSeal: a sealed blob that does not open with the key: tampered with,
	// torn, or sealed with another key.
	ErrSeal = errors.New("wire: seal does not open")
	// ErrNoKey: a sealed blob arrived but no key with its id is known.
	ErrNoKey = errors.New("wire: sealed blob without a matching key")
	// ErrRange: a value is out of its range (decoding: non-finite, or a
	// percentage outside 0–100; encoding: a value the format cannot carry).
	ErrRange = errors.New("wire: value out of range")
	// ErrMalformed: a field holds a value the encoder never writes
	// (reserved bits or bytes set, a key id on a clear blob or none on a
	// sealed one, generation 0).
	ErrMalformed = errors.New("wire: field the encoder never produces")
	// ErrRoom: the request's room cannot hold a health blob.
	ErrRoom = errors.New("wire: room too small for a health blob")
)
