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
			for _, known := range []error{ErrShort, ErrMagic, ErrVersion, ErrMalformed, ErrChecksum, ErrNoKey, ErrSeal} {
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
		encoded := enc
		var h2 Health
		if err := DecodeBlob(enc[:], key, &h2); err != nil || h2 != h {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, h, h2)
		}
		// What decodes is byte for byte what the encoder writes (a sealed
		// blob re-encrypts to the same bytes: the nonce is in the header).
		{
			if !bytes.Equal(encoded[:], b[:BlobSize]) {
				t.Fatalf("decoded a blob the encoder would not write:\n got %x\nenc %x", b[:BlobSize], encoded)
			}
		}
	})
}

// FuzzBlobHeader replaces the 36-byte header of a valid blob. A sealed blob
// decodes only with its own header (it is the additional data, and the
// nonce comes from it); a clear one only with a header the encoder writes.
func FuzzBlobHeader(f *testing.F) {
	k := testKey(f)
	h := sampleHealth(42)
	var clearB, sealedB [BlobSize]byte
	if err := EncodeBlob(clearB[:], &h, nil); err != nil {
		f.Fatal(err)
	}
	if err := EncodeBlob(sealedB[:], &h, k); err != nil {
		f.Fatal(err)
	}
	f.Add(clearB[:BlobHeaderLen], false)
	f.Add(sealedB[:BlobHeaderLen], true)
	f.Fuzz(func(t *testing.T, hdr []byte, sealed bool) {
		if len(hdr) != BlobHeaderLen {
			return
		}
		orig := clearB
		if sealed {
			orig = sealedB
		}
		b := orig
		copy(b[:], hdr)
		var got Health
		err := DecodeBlob(b[:], k, &got)
		if err != nil {
			return
		}
		if sealed && !bytes.Equal(hdr, orig[:BlobHeaderLen]) {
			t.Fatalf("sealed blob opened under a changed header %x", hdr)
		}
		if got.Flags&^BlobFlagSealed != 0 || got.Generation == 0 || (got.KeyID == 0) == got.Sealed() {
			t.Fatalf("decoded a header the encoder cannot write: %+v", got)
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
