// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

// pushPairOf returns the (ChaCha20-Poly1305 key, 12-byte nonce) pair that
// sealed HBP1 datagram b, following docs/wire.md §8 written out by hand
// (sealing key HKDF(master, "hb push seal v2"), HChaCha20 subkey over the
// boot id, inner nonce 00000000 ‖ sequence), and checks that b opens under
// exactly that pair.
func pushPairOf(t testing.TB, sk, b []byte) [44]byte {
	t.Helper()
	sub, err := chacha20.HChaCha20(sk, b[8:24])
	if err != nil {
		t.Fatal(err)
	}
	var inner [12]byte
	copy(inner[4:], b[24:32])
	aead, err := chacha20poly1305.New(sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aead.Open(nil, inner[:], b[PushHeaderLen:], b[:PushHeaderLen]); err != nil {
		t.Fatalf("datagram does not open under the documented construction: %v", err)
	}
	var p [44]byte
	copy(p[:32], sub)
	copy(p[32:], inner[:])
	return p
}

// pushRestarts simulates n sender starts under one master key, each
// sending perRun sealed heartbeats numbered by a fresh BootCounter (what
// responder.Pusher does), all with the same send time and body, and
// returns how many (key, nonce) pairs repeated.
func pushRestarts(t testing.TB, n, perRun int, random func() io.Reader) int {
	t.Helper()
	master := make([]byte, KeyLen)
	for i := range master {
		master[i] = byte(i)
	}
	k, err := NewPushKey(1, master)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := hkdf.Key(sha256.New, master, nil, "hb push seal v2", 32)
	if err != nil {
		t.Fatal(err)
	}
	body := AppendHost(nil, "web-01")
	seen := make(map[[44]byte]struct{}, n*perRun)
	repeats := 0
	buf := make([]byte, 0, PushMaxLen)
	for range n {
		ids, err := NewBootCounter(random(), MaxPushSeq)
		if err != nil {
			t.Fatal(err)
		}
		for range perRun {
			boot, seq, err := ids.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, err := EncodePush(buf[:0], PushHeader{BootID: boot, Seq: seq, SentAt: 1_700_000_000e9}, body, k, true)
			if err != nil {
				t.Fatal(err)
			}
			p := pushPairOf(t, sk, b)
			if _, dup := seen[p]; dup {
				repeats++
			}
			seen[p] = struct{}{}
		}
	}
	return repeats
}

// TestPushNonceUniqueAcrossRestarts: 10^5 simulated sender restarts under
// one master key, three sealed heartbeats each, produce no repeated (key,
// nonce) pair. (The HBP1 version 1 construction — a 32-bit random boot id
// and a sequence restarting at 1 under one key — repeated with a chance of
// 69 % at this count.)
func TestPushNonceUniqueAcrossRestarts(t *testing.T) {
	n := 100_000
	if testing.Short() && raceEnabled {
		n = 10_000
	}
	if r := pushRestarts(t, n, 3, func() io.Reader { return rand.Reader }); r != 0 {
		t.Fatalf("%d (key, nonce) pairs repeated across %d restarts", r, n)
	}
	// The check can fail: a sender that drew the same boot id at every
	// start (a broken random source) repeats on the second start.
	zero := func() io.Reader { return bytes.NewReader(make([]byte, BootIDLen)) }
	if r := pushRestarts(t, 3, 2, zero); r != 4 {
		t.Fatalf("constant boot id: %d repeats, want 4", r)
	}
}

// TestBootCounter: numbers run 1, 2, … under one boot id; at the limit a
// fresh boot id is drawn and numbering restarts at 1; a random source that
// runs dry is an error, never a reused id.
func TestBootCounter(t *testing.T) {
	c, err := NewBootCounter(rand.Reader, 3)
	if err != nil {
		t.Fatal(err)
	}
	first := c.BootID()
	for want := uint64(1); want <= 3; want++ {
		if id, n, err := c.Next(); err != nil || n != want || id != first {
			t.Fatalf("pair %d: %x %d %v", want, id, n, err)
		}
	}
	if id, n, err := c.Next(); err != nil || n != 1 || id == first || c.BootID() != id {
		t.Fatalf("past the limit: %x %d %v", id, n, err)
	}
	if _, err := NewBootCounter(rand.Reader, 0); !errors.Is(err, ErrRange) {
		t.Fatalf("limit 0: %v", err)
	}
	if _, err := NewBootCounter(bytes.NewReader(make([]byte, 5)), 1); err == nil {
		t.Fatal("short random source accepted")
	}
	dry, _ := NewBootCounter(bytes.NewReader(make([]byte, BootIDLen)), 1)
	dry.Next()
	if _, _, err := dry.Next(); err == nil {
		t.Fatal("rotation without randomness succeeded")
	}
}

// TestPushVersion1Refused: datagrams and ACKs of version 1 (the format
// whose sealing nonces could repeat) are refused as ErrVersion, whatever
// follows, and the current version is what the encoders write.
func TestPushVersion1Refused(t *testing.T) {
	k := testPushKey(t, 1)
	body := samplePushBody(t)
	for _, seal := range []bool{false, true} {
		b, err := EncodePush(nil, sampleHeader, body, k, seal)
		if err != nil || b[offPVersion] != 2 {
			t.Fatalf("version byte %d, %v", b[offPVersion], err)
		}
		b[offPVersion] = 1
		var p Push
		if err := DecodePush(b, k, &p); !errors.Is(err, ErrVersion) {
			t.Fatalf("seal=%v, version 1: %v, want ErrVersion", seal, err)
		}
	}
	a := make([]byte, AckLen)
	if err := EncodeAck(a, Ack{BootID: sampleBoot, Seq: 1}, k); err != nil || a[offAVersion] != 2 {
		t.Fatalf("ack version byte %d, %v", a[offAVersion], err)
	}
	a[offAVersion] = 1
	var got Ack
	if err := DecodeAck(a, k, &got); !errors.Is(err, ErrVersion) {
		t.Fatalf("ack version 1: %v, want ErrVersion", err)
	}
}
