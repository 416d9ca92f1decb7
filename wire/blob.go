// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
)

// Health blob HBH1 (docs/wire.md §3). Fixed size, clear or sealed.
const (
	BlobMagic   = "HBH1"
	BlobVersion = 1
	BlobSize    = 180

	// BlobHeaderLen bytes lead the blob in clear; when sealed they are the
	// AEAD's additional data.
	BlobHeaderLen = 28
	// BlobBodyLen is the metrics body that follows the header (encrypted
	// when sealed).
	BlobBodyLen = 136

	BlobFlagSealed = 1 << 0

	HostnameLen = 32

	offBMagic      = 0
	offBVersion    = 4
	offBFlags      = 5
	offBKeyID      = 6
	offBNonce      = 8 // boot random (4) ‖ generation (8): the GCM nonce
	offBBootRandom = 8
	offBGeneration = 12
	offBCollected  = 20
	offBBody       = BlobHeaderLen

	offBBootTime  = 28
	offBUptime    = 36
	offBCPU       = 44
	offBNumCPU    = 46
	offBFullest   = 48
	offBLoad1     = 52
	offBLoad5     = 56
	offBLoad15    = 60
	offBProcs     = 64
	offBMemTotal  = 68
	offBMemAvail  = 76
	offBSwapTotal = 84
	offBSwapUsed  = 92
	offBRootTotal = 100
	offBRootUsed  = 108
	offBNetRx     = 116
	offBNetTx     = 124
	offBHostname  = 132

	offBTag = BlobHeaderLen + BlobBodyLen // 164: GCM tag, or 12 zero bytes then the CRC
	offBCRC = BlobSize - 4                // 176: clear blobs only
)

// Health is one host-health sample, the decoded form of a blob.
type Health struct {
	Flags       uint8  // BlobFlagSealed when it arrived sealed
	KeyID       uint8  // key that sealed it; 0 when clear
	BootRandom  uint32 // random per responder start; with Generation, the nonce
	Generation  uint64 // increases with every sample the responder publishes
	CollectedAt int64  // unix ns, responder's clock

	BootTime     int64  // unix seconds
	Uptime       uint64 // seconds
	CPUBusy      uint16 // ‰ of all CPUs busy since the previous sample
	NumCPU       uint16
	FullestMount uint16 // ‰ used of the fullest real mount
	Load1        uint32 // load average × 1000
	Load5        uint32
	Load15       uint32
	Procs        uint32
	MemTotal     uint64 // bytes
	MemAvailable uint64
	SwapTotal    uint64
	SwapUsed     uint64
	RootTotal    uint64 // bytes of the root filesystem
	RootUsed     uint64
	NetRxRate    uint64 // bytes per second, all non-loopback interfaces
	NetTxRate    uint64
	Hostname     [HostnameLen]byte // NUL padded
}

// SetHostname stores name, truncated to HostnameLen bytes.
func (h *Health) SetHostname(name string) {
	clear(h.Hostname[:])
	copy(h.Hostname[:], name)
}

// HostnameString returns the hostname without its NUL padding.
func (h *Health) HostnameString() string {
	n := 0
	for n < len(h.Hostname) && h.Hostname[n] != 0 {
		n++
	}
	return string(h.Hostname[:n])
}

// Sealed reports whether the blob arrived sealed.
func (h *Health) Sealed() bool { return h.Flags&BlobFlagSealed != 0 }

// KeyLen is the length of a key file's secret.
const KeyLen = 32

// Key is a shared secret between responder and prober. From one 32-byte
// master secret it derives, with HKDF-SHA256, a sealing key (AES-256-GCM)
// and a token key (HMAC-SHA256), so the two uses never share key material.
type Key struct {
	ID       uint8
	tokenKey []byte
	aead     cipher.AEAD
}

// ErrKey is returned by NewKey for an unusable key.
var ErrKey = errors.New("wire: key must be 32 bytes with a non-zero id")

// ParseSecret decodes a key file's contents into the 32-byte master
// secret: 64 hex digits, base64, or 32 raw bytes (surrounding white space
// ignored for the text forms). Responder and prober read the same files.
func ParseSecret(b []byte) ([]byte, error) {
	if len(b) == KeyLen {
		return b, nil
	}
	t := bytes.TrimSpace(b)
	if s, err := hex.DecodeString(string(t)); err == nil && len(s) == KeyLen {
		return s, nil
	}
	if s, err := base64.StdEncoding.DecodeString(string(t)); err == nil && len(s) == KeyLen {
		return s, nil
	}
	return nil, fmt.Errorf("%w: want 64 hex digits, base64, or 32 raw bytes; got %d bytes", ErrKey, len(b))
}

// NewKey derives a Key from a 32-byte master secret. id must not be 0
// (0 means "no key" on the wire).
func NewKey(id uint8, master []byte) (*Key, error) {
	if id == 0 || len(master) != KeyLen {
		return nil, ErrKey
	}
	sk, err := hkdf.Key(sha256.New, master, nil, "hb seal v1", 32)
	if err != nil {
		return nil, err
	}
	tk, err := hkdf.Key(sha256.New, master, nil, "hb token v1", 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(sk)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Key{ID: id, tokenKey: tk, aead: aead}, nil
}

// EncodeBlob writes h into dst[:BlobSize]: clear with a CRC32 when k is
// nil, else sealed with k (h.Flags and h.KeyID are set from k). dst must
// hold BlobSize bytes. The nonce is h.BootRandom ‖ h.Generation: a responder
// must never publish two blobs with the same pair under one key.
func EncodeBlob(dst []byte, h *Health, k *Key) error {
	if len(dst) < BlobSize {
		return ErrShort
	}
	b := dst[:BlobSize]
	clear(b)
	copy(b[offBMagic:], BlobMagic)
	b[offBVersion] = BlobVersion
	if k != nil {
		b[offBFlags] = BlobFlagSealed
		b[offBKeyID] = k.ID
	}
	be := binary.BigEndian
	be.PutUint32(b[offBBootRandom:], h.BootRandom)
	be.PutUint64(b[offBGeneration:], h.Generation)
	be.PutUint64(b[offBCollected:], uint64(h.CollectedAt))
	be.PutUint64(b[offBBootTime:], uint64(h.BootTime))
	be.PutUint64(b[offBUptime:], h.Uptime)
	be.PutUint16(b[offBCPU:], h.CPUBusy)
	be.PutUint16(b[offBNumCPU:], h.NumCPU)
	be.PutUint16(b[offBFullest:], h.FullestMount)
	be.PutUint32(b[offBLoad1:], h.Load1)
	be.PutUint32(b[offBLoad5:], h.Load5)
	be.PutUint32(b[offBLoad15:], h.Load15)
	be.PutUint32(b[offBProcs:], h.Procs)
	be.PutUint64(b[offBMemTotal:], h.MemTotal)
	be.PutUint64(b[offBMemAvail:], h.MemAvailable)
	be.PutUint64(b[offBSwapTotal:], h.SwapTotal)
	be.PutUint64(b[offBSwapUsed:], h.SwapUsed)
	be.PutUint64(b[offBRootTotal:], h.RootTotal)
	be.PutUint64(b[offBRootUsed:], h.RootUsed)
	be.PutUint64(b[offBNetRx:], h.NetRxRate)
	be.PutUint64(b[offBNetTx:], h.NetTxRate)
	copy(b[offBHostname:offBHostname+HostnameLen], h.Hostname[:])
	if k == nil {
		be.PutUint32(b[offBCRC:], crc32.ChecksumIEEE(b[:offBCRC]))
		return nil
	}
	body := b[offBBody : offBBody+BlobBodyLen]
	k.aead.Seal(body[:0], b[offBNonce:offBNonce+12], body, b[:BlobHeaderLen])
	return nil
}

// DecodeBlob decodes a blob into h. A sealed blob is opened with k (which
// must have the blob's key id) and is decrypted in place: b's body is
// overwritten. A clear blob is accepted whatever k is; callers that require
// sealing check h.Sealed(). It allocates nothing.
//
// Errors: ErrShort (truncated), ErrMagic, ErrVersion, ErrChecksum (clear
// blob tampered or torn), ErrNoKey, ErrSeal (sealed blob tampered, torn or
// under another key).
func DecodeBlob(b []byte, k *Key, h *Health) error {
	if len(b) < BlobSize {
		return ErrShort
	}
	b = b[:BlobSize]
	if string(b[:4]) != BlobMagic {
		return ErrMagic
	}
	if b[offBVersion] != BlobVersion {
		return ErrVersion
	}
	be := binary.BigEndian
	flags := b[offBFlags]
	if flags&BlobFlagSealed == 0 {
		if be.Uint32(b[offBCRC:]) != crc32.ChecksumIEEE(b[:offBCRC]) {
			return ErrChecksum
		}
	} else {
		if k == nil || k.ID != b[offBKeyID] {
			return ErrNoKey
		}
		ct := b[offBBody:]
		if _, err := k.aead.Open(ct[:0], b[offBNonce:offBNonce+12], ct, b[:BlobHeaderLen]); err != nil {
			return ErrSeal
		}
	}
	*h = Health{
		Flags:        flags,
		KeyID:        b[offBKeyID],
		BootRandom:   be.Uint32(b[offBBootRandom:]),
		Generation:   be.Uint64(b[offBGeneration:]),
		CollectedAt:  int64(be.Uint64(b[offBCollected:])),
		BootTime:     int64(be.Uint64(b[offBBootTime:])),
		Uptime:       be.Uint64(b[offBUptime:]),
		CPUBusy:      be.Uint16(b[offBCPU:]),
		NumCPU:       be.Uint16(b[offBNumCPU:]),
		FullestMount: be.Uint16(b[offBFullest:]),
		Load1:        be.Uint32(b[offBLoad1:]),
		Load5:        be.Uint32(b[offBLoad5:]),
		Load15:       be.Uint32(b[offBLoad15:]),
		Procs:        be.Uint32(b[offBProcs:]),
		MemTotal:     be.Uint64(b[offBMemTotal:]),
		MemAvailable: be.Uint64(b[offBMemAvail:]),
		SwapTotal:    be.Uint64(b[offBSwapTotal:]),
		SwapUsed:     be.Uint64(b[offBSwapUsed:]),
		RootTotal:    be.Uint64(b[offBRootTotal:]),
		RootUsed:     be.Uint64(b[offBRootUsed:]),
		NetRxRate:    be.Uint64(b[offBNetRx:]),
		NetTxRate:    be.Uint64(b[offBNetTx:]),
	}
	copy(h.Hostname[:], b[offBHostname:offBHostname+HostnameLen])
	return nil
}
