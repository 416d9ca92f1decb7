// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

// pairOf returns the (ChaCha20-Poly1305 key, 12-byte nonce) pair that
// sealed blob b under master, following docs/wire.md §3 written out by hand
// (HKDF sealing key, HChaCha20 subkey over the boot id, inner nonce
// 00000000 ‖ generation ‖ low 4 bytes of collected-at), and checks that
// the blob opens under exactly that pair.
func pairOf(t testing.TB, master, b []byte) [44]byte {
	t.Helper()
	sk, err := hkdf.Key(sha256.New, master, nil, "hb seal v2", 32)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := chacha20.HChaCha20(sk, b[8:24])
	if err != nil {
		t.Fatal(err)
	}
	var inner [12]byte
	copy(inner[4:8], b[24:28])
	copy(inner[8:12], b[32:36])
	aead, err := chacha20poly1305.New(sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aead.Open(nil, inner[:], b[36:180], b[:36]); err != nil {
		t.Fatalf("blob does not open under the documented construction: %v", err)
	}
	var p [44]byte
	copy(p[:32], sub)
	copy(p[32:], inner[:])
	return p
}

// restarts simulates n responder starts under one master key, each
// publishing perRun blobs through a fresh Sealer drawing from random, and
// returns how many (key, nonce) pairs repeated. Every sample is collected
// at the same instant, so only the boot id and the generation can keep the
// nonces apart.
func restarts(t testing.TB, n, perRun int, random func() io.Reader) int {
	t.Helper()
	master := make([]byte, KeyLen)
	for i := range master {
		master[i] = byte(i)
	}
	k, err := NewKey(1, master)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[[44]byte]struct{}, n*perRun)
	repeats := 0
	b := make([]byte, BlobSize)
	for range n {
		s, err := NewSealer(k, random())
		if err != nil {
			t.Fatal(err)
		}
		for range perRun {
			h := sampleHealth(0)
			if err := s.Encode(b, &h); err != nil {
				t.Fatal(err)
			}
			p := pairOf(t, master, b)
			if _, dup := seen[p]; dup {
				repeats++
			}
			seen[p] = struct{}{}
		}
	}
	return repeats
}

// TestNonceUniqueAcrossRestarts: 10^5 simulated restarts with the same
// master key, three blobs each, produce no repeated (key, nonce) pair.
func TestNonceUniqueAcrossRestarts(t *testing.T) {
	if r := restarts(t, 100_000, 3, func() io.Reader { return rand.Reader }); r != 0 {
		t.Fatalf("%d (key, nonce) pairs repeated across 10^5 restarts", r)
	}
	// The check can fail: a responder that drew the same boot id at every
	// start (a broken random source) repeats on the second start.
	zero := func() io.Reader { return bytes.NewReader(make([]byte, BootIDLen)) }
	if r := restarts(t, 3, 2, zero); r != 4 {
		t.Fatalf("constant boot id: %d repeats, want 4", r)
	}
}

// TestSealerNumbersAndRotates: generations run 1, 2, … under one boot id;
// at MaxGeneration the Sealer draws a fresh boot id and restarts at 1; a
// failed encode consumes no generation; a failing random source is an
// error, not a reused id.
func TestSealerNumbersAndRotates(t *testing.T) {
	k := testKey(t)
	s, err := NewSealer(k, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, BlobSize)
	first := s.BootID()
	for want := uint64(1); want <= 3; want++ {
		h := sampleHealth(0)
		if err := s.Encode(b, &h); err != nil || h.Generation != want || h.BootID != first {
			t.Fatalf("blob %d: gen %d id %x, %v", want, h.Generation, h.BootID, err)
		}
		var got Health
		if err := DecodeBlob(b, k, &got); err != nil || got.Generation != want || got.BootID != first {
			t.Fatalf("decode %d: %+v %v", want, got, err)
		}
	}
	// A failed encode (here: a too-short buffer) consumes no generation.
	bad := sampleHealth(0)
	if err := s.Encode(b[:10], &bad); !errors.Is(err, ErrShort) {
		t.Fatalf("short buffer: %v", err)
	}
	h := sampleHealth(0)
	if err := s.Encode(b, &h); err != nil || h.Generation != 4 {
		t.Fatalf("after a failed encode: gen %d, %v", h.Generation, err)
	}
	s.ctr.n = MaxGeneration - 1
	if err := s.Encode(b, &h); err != nil || h.Generation != MaxGeneration || h.BootID != first {
		t.Fatalf("last generation: %d %x %v", h.Generation, h.BootID, err)
	}
	if err := s.Encode(b, &h); err != nil || h.Generation != 1 || h.BootID == first {
		t.Fatalf("after the last generation: gen %d, id %x (was %x), %v", h.Generation, h.BootID, first, err)
	}
	// A random source that runs dry is an error at creation and at rotation.
	if _, err := NewSealer(k, bytes.NewReader(make([]byte, 5))); err == nil {
		t.Fatal("short random source accepted")
	}
	s2, _ := NewSealer(k, bytes.NewReader(make([]byte, BootIDLen)))
	s2.ctr.n = MaxGeneration
	if err := s2.Encode(b, &h); err == nil {
		t.Fatal("rotation without randomness succeeded")
	}
}

func TestEncodeBlobRange(t *testing.T) {
	for name, f := range map[string]func(h *Health){
		"generation 0":    func(h *Health) { h.Generation = 0 },
		"generation 2^32": func(h *Health) { h.Generation = MaxGeneration + 1 },
	} {
		h := sampleHealth(1)
		f(&h)
		if err := EncodeBlob(make([]byte, BlobSize), &h, nil); !errors.Is(err, ErrRange) {
			t.Errorf("%s: %v, want ErrRange", name, err)
		}
	}
	h := sampleHealth(MaxGeneration)
	h.BootTime, h.Uptime = 1<<32-1, 1<<32-1
	b := make([]byte, BlobSize)
	var got Health
	if err := EncodeBlob(b, &h, nil); err != nil || DecodeBlob(b, nil, &got) != nil || got != h {
		t.Fatalf("largest values: %+v %v", got, err)
	}
}

// TestDecodeBlobStrict: DecodeBlob refuses what the encoder cannot produce,
// even when the CRC (clear) or the seal (sealed, resealed by the key
// holder) is valid.
func TestDecodeBlobStrict(t *testing.T) {
	k := testKey(t)
	clearWith := func(f func(b []byte)) []byte {
		h := sampleHealth(7)
		b := make([]byte, BlobSize)
		_ = EncodeBlob(b, &h, nil)
		f(b)
		binary.BigEndian.PutUint32(b[offBCRC:], crc32.ChecksumIEEE(b[:offBCRC]))
		return b
	}
	// sealedWith seals a header/body the encoder would not write, the way
	// the key holder could: through the AEAD directly.
	sealedWith := func(f func(b []byte)) []byte {
		h := sampleHealth(7)
		b := make([]byte, BlobSize)
		_ = EncodeBlob(b, &h, nil)
		b[offBFlags], b[offBKeyID] = BlobFlagSealed, k.ID
		clear(b[offBTag:])
		f(b)
		var n [24]byte
		nonce(&n, b)
		body := b[offBBody:offBTag]
		k.aead.Seal(body[:0], n[:], body, b[:BlobHeaderLen])
		return b
	}
	ok := func(b []byte) {}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"clear as encoded":        {clearWith(ok), nil},
		"sealed as encoded":       {sealedWith(ok), nil},
		"clear flag bit 1":        {clearWith(func(b []byte) { b[offBFlags] = 2 }), ErrMalformed},
		"clear flags 0x80":        {clearWith(func(b []byte) { b[offBFlags] = 0x80 }), ErrMalformed},
		"sealed flag bit 1":       {sealedWith(func(b []byte) { b[offBFlags] = 3 }), ErrMalformed},
		"clear with key id":       {clearWith(func(b []byte) { b[offBKeyID] = 1 }), ErrMalformed},
		"sealed with key id 0":    {sealedWith(func(b []byte) { b[offBKeyID] = 0 }), ErrMalformed},
		"clear reserved byte":     {clearWith(func(b []byte) { b[offBReserved] = 1 }), ErrMalformed},
		"sealed reserved byte":    {sealedWith(func(b []byte) { b[offBReserved] = 1 }), ErrMalformed},
		"clear generation 0":      {clearWith(func(b []byte) { clear(b[offBGeneration : offBGeneration+4]) }), ErrMalformed},
		"sealed generation 0":     {sealedWith(func(b []byte) { clear(b[offBGeneration : offBGeneration+4]) }), ErrMalformed},
		"clear body reserved":     {clearWith(func(b []byte) { b[offBReserved2+1] = 1 }), ErrMalformed},
		"sealed body reserved":    {sealedWith(func(b []byte) { b[offBReserved2] = 1 }), ErrMalformed},
		"clear padding":           {clearWith(func(b []byte) { b[offBTag+5] = 1 }), ErrMalformed},
		"clear longer buffer ok":  {append(clearWith(ok), 0, 0, 0, 0), nil},
		"sealed under another id": {sealedWith(func(b []byte) { b[offBKeyID] = 2 }), ErrNoKey},
	} {
		t.Run(name, func(t *testing.T) {
			var h Health
			if err := DecodeBlob(tc.b, k, &h); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
