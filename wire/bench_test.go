// SPDX-License-Identifier: MIT

package wire

import (
	"net/netip"
	"testing"
)

func BenchmarkDecodeBlobClear(b *testing.B) {
	h := sampleHealth(1)
	buf := make([]byte, BlobSize)
	_ = EncodeBlob(buf, &h, nil)
	var out Health
	b.ReportAllocs()
	b.SetBytes(BlobSize)
	for b.Loop() {
		if err := DecodeBlob(buf, nil, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBlobSealed(b *testing.B) {
	k := testKey(b)
	h := sampleHealth(1)
	sealed := make([]byte, BlobSize)
	_ = EncodeBlob(sealed, &h, k)
	work := make([]byte, BlobSize)
	var out Health
	b.ReportAllocs()
	b.SetBytes(BlobSize)
	for b.Loop() {
		copy(work, sealed)
		if err := DecodeBlob(work, k, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBlobSealed(b *testing.B) {
	k := testKey(b)
	h := sampleHealth(1)
	buf := make([]byte, BlobSize)
	b.ReportAllocs()
	for b.Loop() {
		h.Generation++
		_ = EncodeBlob(buf, &h, k)
	}
}

func BenchmarkCookie(b *testing.B) {
	s := testSecret()
	a := netip.MustParseAddr("198.18.0.1")
	b.ReportAllocs()
	var x uint64
	for i := 0; b.Loop(); i++ {
		x += Cookie(s, a, 1, uint16(i), int64(i))
	}
	_ = x
}

func BenchmarkParseReply(b *testing.B) {
	req := AppendRequest(nil, Request{Flags: FlagHealth, Room: BlobSize})
	_ = MakeReply(req, make([]byte, BlobSize))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseReply(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToken is the prober's per-probe cost of a target-bound token.
func BenchmarkToken(b *testing.B) {
	k, _ := NewKey(1, make([]byte, KeyLen))
	a := netip.MustParseAddr("198.18.0.1")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k.Token(int64(i)*1e9, a)
	}
}
