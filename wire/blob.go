// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Health blob HBH1 (docs/wire.md §3). Fixed size, clear or sealed.
const (
	BlobMagic = "HBH1"
	// BlobVersion 2: per-run boot id and sealing with XChaCha20-Poly1305.
	// Version 1 (a 32-bit random and AES-GCM under one fleet-wide key) is
	// no longer read: see docs/wire.md §3.
	BlobVersion = 2
	BlobSize    = 180

	// BlobHeaderLen bytes lead the blob in clear; when sealed they are the
	// AEAD's additional data.
	BlobHeaderLen = 36
	// BlobBodyLen is the metrics body that follows the header (encrypted
	// when sealed).
	BlobBodyLen = 128

	BlobFlagSealed = 1 << 0

	HostnameLen = 32
	// BootIDLen is the length of a responder run's random boot id.
	BootIDLen = 16

	offBMagic      = 0
	offBVersion    = 4
	offBFlags      = 5
	offBKeyID      = 6
	offBReserved   = 7
	offBBootID     = 8
	offBGeneration = 24
	offBCollected  = 28
	offBBody       = BlobHeaderLen

	offBBootTime  = 36
	offBUptime    = 40
	offBCPU       = 44
	offBNumCPU    = 46
	offBFullest   = 48
	offBReserved2 = 50
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

	offBTag = BlobHeaderLen + BlobBodyLen // 164: AEAD tag, or 12 zero bytes then the CRC
	offBCRC = BlobSize - 4                // 176: clear blobs only

	// MaxGeneration is the largest generation a blob carries (32 bits); a
	// Sealer moves to a fresh boot id before it would pass it.
	MaxGeneration = math.MaxUint32
)

// BootID identifies one responder run (one Sealer): 128 random bits. With
// the generation it makes every sealing nonce unique (docs/wire.md §3).
type BootID [BootIDLen]byte

// Health is one host-health sample, the decoded form of a blob.
type Health struct {
	Flags        uint8  // BlobFlagSealed when it arrived sealed
	KeyID        uint8  // key that sealed it; 0 when clear
	BootID       BootID // random per responder run (per Sealer)
	CPUBusy      uint16 // ‰ of all CPUs busy since the previous sample
	NumCPU       uint16
	FullestMount uint16 // ‰ used of the fullest real mount
	Generation   uint64 // 1, 2, … within one boot id; at most MaxGeneration
	CollectedAt  int64  // unix ns, responder's clock

	BootTime     uint32 // unix seconds
	Uptime       uint32 // seconds
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
// master secret it derives, with HKDF-SHA256, a sealing key
// (XChaCha20-Poly1305) and a token key (HMAC-SHA256), so the two uses never
// share key material.
type Key struct {
	ID       uint8
	tokenKey []byte
	aead     cipher.AEAD // XChaCha20-Poly1305 under the sealing key
	macs     sync.Pool   // of hash.Hash: HMAC-SHA256 under tokenKey (token.go)
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
	sk, err := hkdf.Key(sha256.New, master, nil, "hb seal v2", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	tk, err := hkdf.Key(sha256.New, master, nil, "hb token v1", 32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(sk)
	if err != nil {
		return nil, err
	}
	k := &Key{ID: id, tokenKey: tk, aead: aead}
	k.macs.New = func() any { return hmac.New(sha256.New, tk) }
	return k, nil
}

// Sealer numbers and encodes the blobs of one responder run. Its
// BootCounter (the same one push heartbeats use) draws a random 128-bit
// boot id when the Sealer is created and gives every blob the next
// generation (1, 2, …); before the generation would pass MaxGeneration it
// draws a fresh boot id and starts again at 1. So a Sealer never seals two
// blobs with the same (boot id, generation), and two Sealers share a boot
// id only by a 128-bit collision: no sealing nonce repeats (docs/wire.md
// §3). It is safe for concurrent use.
type Sealer struct {
	key *Key
	ctr *BootCounter
}

// NewSealer returns a Sealer that seals with k (nil: clear blobs, still
// numbered) and draws boot ids from random (crypto/rand.Reader in
// production).
func NewSealer(k *Key, random io.Reader) (*Sealer, error) {
	c, err := NewBootCounter(random, MaxGeneration)
	if err != nil {
		return nil, err
	}
	return &Sealer{key: k, ctr: c}, nil
}

// BootID returns the current boot id.
func (s *Sealer) BootID() BootID { return s.ctr.BootID() }

// Encode sets h.BootID and h.Generation to the next pair and encodes h into
// dst[:BlobSize] (sealed when the Sealer has a key). A dst too short is
// ErrShort and consumes no generation.
func (s *Sealer) Encode(dst []byte, h *Health) error {
	if len(dst) < BlobSize {
		return ErrShort
	}
	id, gen, err := s.ctr.Next()
	if err != nil {
		return err
	}
	h.BootID, h.Generation = id, gen
	return EncodeBlob(dst, h, s.key)
}

// nonces recycles nonce buffers: a buffer on the stack would escape through
// the cipher.AEAD interface call and cost an allocation per blob.
var nonces = sync.Pool{New: func() any { return new([chacha20poly1305.NonceSizeX]byte) }}

// nonce fills n with the 24-byte XChaCha20-Poly1305 nonce of a blob
// header: boot id ‖ generation ‖ the low 32 bits of collected-at.
func nonce(n *[chacha20poly1305.NonceSizeX]byte, hdr []byte) {
	copy(n[:20], hdr[offBBootID:offBGeneration+4])
	copy(n[20:], hdr[offBCollected+4:offBCollected+8])
}

// EncodeBlob writes h into dst[:BlobSize]: clear with a CRC32 when k is
// nil, else sealed with k (h.Flags and h.KeyID are set from k). dst must
// hold BlobSize bytes. The nonce is derived from h.BootID and h.Generation:
// responders use a Sealer, which never repeats a pair; EncodeBlob itself
// trusts its caller (tests, benchmarks, and Sealer).
//
// ErrRange: generation 0 or past MaxGeneration.
func EncodeBlob(dst []byte, h *Health, k *Key) error {
	if len(dst) < BlobSize {
		return ErrShort
	}
	if h.Generation == 0 || h.Generation > MaxGeneration {
		return ErrRange
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
	copy(b[offBBootID:], h.BootID[:])
	be.PutUint32(b[offBGeneration:], uint32(h.Generation))
	be.PutUint64(b[offBCollected:], uint64(h.CollectedAt))
	be.PutUint32(b[offBBootTime:], h.BootTime)
	be.PutUint32(b[offBUptime:], h.Uptime)
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
	n := nonces.Get().(*[chacha20poly1305.NonceSizeX]byte)
	nonce(n, b)
	body := b[offBBody : offBBody+BlobBodyLen]
	k.aead.Seal(body[:0], n[:], body, b[:BlobHeaderLen])
	nonces.Put(n)
	return nil
}

// IsClearBlob reports whether b starts with an HBH1 header that says the
// blob is clear (not sealed), whatever the rest holds: what a prober with
// a key refuses as a downgrade before spending a decode on it.
func IsClearBlob(b []byte) bool {
	return len(b) >= BlobHeaderLen && string(b[:4]) == BlobMagic && b[offBFlags]&BlobFlagSealed == 0
}

// DecodeBlob decodes a blob into h. A sealed blob is opened with k (which
// must have the blob's key id) and is decrypted in place: b's body is
// overwritten. A clear blob is accepted whatever k is; callers that require
// sealing check h.Sealed(). It allocates nothing.
//
// It accepts only what EncodeBlob produces. Errors: ErrShort (truncated),
// ErrMagic, ErrVersion (any version but BlobVersion, including 1),
// ErrMalformed (reserved bits or bytes set, a key id on a clear blob or
// none on a sealed one, generation 0), ErrChecksum (clear blob tampered or
// torn), ErrNoKey, ErrSeal (sealed blob tampered, torn or under another
// key).
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
	flags, keyID := b[offBFlags], b[offBKeyID]
	sealed := flags == BlobFlagSealed
	switch {
	case flags&^BlobFlagSealed != 0, b[offBReserved] != 0, be.Uint32(b[offBGeneration:]) == 0:
		return ErrMalformed
	case sealed != (keyID != 0):
		return ErrMalformed
	}
	if !sealed {
		if be.Uint32(b[offBCRC:]) != crc32.ChecksumIEEE(b[:offBCRC]) {
			return ErrChecksum
		}
		for _, c := range b[offBTag:offBCRC] {
			if c != 0 {
				return ErrMalformed
			}
		}
	} else {
		if k == nil || k.ID != keyID {
			return ErrNoKey
		}
		n := nonces.Get().(*[chacha20poly1305.NonceSizeX]byte)
		nonce(n, b)
		ct := b[offBBody:]
		_, err := k.aead.Open(ct[:0], n[:], ct, b[:BlobHeaderLen])
		nonces.Put(n)
		if err != nil {
			return ErrSeal
		}
	}
	if be.Uint16(b[offBReserved2:]) != 0 {
		return ErrMalformed
	}
	*h = Health{
		Flags:        flags,
		KeyID:        keyID,
		BootID:       BootID(b[offBBootID : offBBootID+BootIDLen]),
		Generation:   uint64(be.Uint32(b[offBGeneration:])),
		CollectedAt:  int64(be.Uint64(b[offBCollected:])),
		BootTime:     be.Uint32(b[offBBootTime:]),
		Uptime:       be.Uint32(b[offBUptime:]),
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
