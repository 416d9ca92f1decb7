// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"errors"
	"testing"
)

// Every decoder has a fuzz target. The seed corpus (the golden vectors and
// anything under testdata/fuzz/) runs in every `go test`; `make fuzz` runs
// each for longer.

func FuzzParseRequest(f *testing.F) {
	f.Add(readHex(f, "request.hex"))
	f.Add([]byte("HBQ1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		// What parses re-encodes to the same header, and MakeReply never
		// changes the length.
		again := AppendRequest(nil, r)
		if !bytes.Equal(again[:HeaderLen], b[:HeaderLen]) {
			t.Fatalf("re-encoded header differs:\n%x\n%x", again[:HeaderLen], b[:HeaderLen])
		}
		c := bytes.Clone(b)
		blob := make([]byte, min(int(r.Room), BlobSize))
		if err := MakeReply(c, blob); err != nil {
			t.Fatalf("MakeReply on a parsed request: %v", err)
		}
		if len(c) != len(b) || !IsReply(c) {
			t.Fatal("reply changed length or magic")
		}
	})
}

func FuzzParseReply(f *testing.F) {
	f.Add(readHex(f, "reply.hex"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply(b)
		if err != nil {
			return
		}
		if len(r.Blob) != int(r.Room) || HeaderLen+len(r.Blob) > len(b) {
			t.Fatalf("blob %d bytes for room %d in %d", len(r.Blob), r.Room, len(b))
		}
	})
}

func FuzzDecodeBlob(f *testing.F) {
	f.Add(readHex(f, "blob-clear.hex"), false)
	f.Add(readHex(f, "blob-sealed.hex"), true)
	k := testKey(f)
	f.Fuzz(func(t *testing.T, b []byte, withKey bool) {
		var key *Key
		if withKey {
			key = k
		}
		in := bytes.Clone(b)
		var h Health
		err := DecodeBlob(in, key, &h)
		if err != nil {
			for _, known := range []error{ErrShort, ErrMagic, ErrVersion, ErrChecksum, ErrNoKey, ErrSeal} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("undocumented error %v", err)
		}
		// Decoded values re-encode and decode to themselves.
		var enc [BlobSize]byte
		var encKey *Key
		if h.Sealed() {
			encKey = key
		}
		if err := EncodeBlob(enc[:], &h, encKey); err != nil {
			t.Fatal(err)
		}
		var h2 Health
		if err := DecodeBlob(enc[:], key, &h2); err != nil || h2 != h {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, h, h2)
		}
	})
}

func FuzzDecodeHBM2(f *testing.F) {
	f.Add(readHex(f, "hbm2.hex"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeHBM2(b)
		if err != nil {
			return
		}
		again := AppendHBM2(nil, m)
		if !bytes.Equal(again, b[:HBM2Len]) {
			t.Fatalf("re-encoded %x, was %x", again, b[:HBM2Len])
		}
	})
}
