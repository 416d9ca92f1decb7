// SPDX-License-Identifier: MIT

package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"net/netip"
)

// TokenLen is the length of the access token in a request.
const TokenLen = 16

// Token is a request's access token: zeros when no key is configured, else
// the first 16 bytes of HMAC-SHA256(token key, epoch minute as a big-endian
// uint64 ‖ the target address as 16 bytes, IPv4 as ::ffff:a.b.c.d). It is
// bound to the address the request is sent to: a token captured on its way
// to one host is refused by every other (docs/wire.md §1).
type Token [TokenLen]byte

// EpochMinute returns the minute number for a unix time in nanoseconds.
func EpochMinute(unixNano int64) uint64 { return uint64(unixNano / 60e9) }

// MakeToken computes the token for key, epoch minute and target address.
func MakeToken(key []byte, minute uint64, addr netip.Addr) Token {
	return macToken(hmac.New(sha256.New, key), minute, addr)
}

// macToken computes a token with m, an HMAC-SHA256 under the token key
// (reset first: m may come from a pool).
func macToken(m hash.Hash, minute uint64, addr netip.Addr) Token {
	var msg [8 + 16]byte
	binary.BigEndian.PutUint64(msg[:], minute)
	a := addr.Unmap().As16() // IPv4: the mapped form ::ffff:a.b.c.d
	copy(msg[8:], a[:])
	m.Reset()
	m.Write(msg[:])
	var sum [sha256.Size]byte
	var t Token
	copy(t[:], m.Sum(sum[:0]))
	return t
}

// ValidTokens returns the tokens a responder accepts at time unixNano for
// requests to addr: the previous, current and next minute's. The previous
// one lets a request made just before a boundary pass after it; the next
// one lets a prober whose clock runs ahead (or a request sent just after
// the boundary, before the responder's tokens turned over) pass too.
func ValidTokens(key []byte, unixNano int64, addr netip.Addr) [3]Token {
	m := EpochMinute(unixNano)
	return [3]Token{MakeToken(key, m-1, addr), MakeToken(key, m, addr), MakeToken(key, m+1, addr)}
}

// CheckToken reports, in constant time, whether t is valid for key at time
// unixNano for a request sent to addr.
func CheckToken(key []byte, t Token, unixNano int64, addr netip.Addr) bool {
	ok := 0
	for _, v := range ValidTokens(key, unixNano, addr) {
		ok |= subtle.ConstantTimeCompare(t[:], v[:])
	}
	return ok == 1
}

// Token returns the access token for a request sent to addr in the epoch
// minute of unixNano.
// It runs per probe in the prober, so it reuses pooled HMAC states
// instead of rehashing the key.
func (k *Key) Token(unixNano int64, addr netip.Addr) Token {
	m := k.macs.Get().(hash.Hash)
	t := macToken(m, EpochMinute(unixNano), addr)
	k.macs.Put(m)
	return t
}

// ValidTokens returns the previous, current and next minute's tokens for
// requests to addr.
func (k *Key) ValidTokens(unixNano int64, addr netip.Addr) [3]Token {
	return ValidTokens(k.tokenKey, unixNano, addr)
}

// CheckToken reports whether t is valid now for a request sent to addr.
func (k *Key) CheckToken(t Token, unixNano int64, addr netip.Addr) bool {
	return CheckToken(k.tokenKey, t, unixNano, addr)
}
