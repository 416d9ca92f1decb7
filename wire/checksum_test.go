// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// checksumRef is RFC 1071's sum 16 bits at a time (Checksum before it
// summed 64-bit words).
func checksumRef(b []byte, initial uint32) uint16 {
	s := initial
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumMatchesRef(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(b []byte, init uint32) {
		t.Helper()
		if got, want := Checksum(b, init), checksumRef(b, init); got != want {
			t.Fatalf("len %d initial %#x: %04x, want %04x", len(b), init, got, want)
		}
	}
	for n := range 600 {
		b := make([]byte, n)
		for range 20 {
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			check(b, 0)
			check(b, r.Uint32N(1<<20))
		}
		// The carries' edge cases: all ones, all zeros, a single one.
		check(bytes.Repeat([]byte{0xff}, n), 0)
		check(bytes.Repeat([]byte{0xff}, n), 0xffff)
		check(bytes.Repeat([]byte{0xff}, n), 1<<20)
		check(make([]byte, n), 0)
		check(make([]byte, n), 0xffff)
		if n > 0 {
			z := make([]byte, n)
			z[n-1] = 1
			check(z, 0)
			z[0] = 0x80
			check(z, 0xfffe)
		}
	}
}

func BenchmarkChecksumProbe(b *testing.B) {
	p := make([]byte, 8+RequestLen)
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Checksum(p, 0)
	}
}
