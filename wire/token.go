package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
)

// TokenLen is the length of the access token in a request.
const TokenLen = 16

// Token is a request's access token: zeros when no key is configured, else
// the first 16 bytes of HMAC-SHA256(key, epoch minute as a big-endian
// uint64).
type Token [TokenLen]byte

// EpochMinute returns the minute number for a unix time in nanoseconds.
func EpochMinute(unixNano int64) uint64 { return uint64(unixNano / 60e9) }

// MakeToken computes the token for key and the given epoch minute.
func MakeToken(key []byte, minute uint64) Token {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], minute)
	m := hmac.New(sha256.New, key)
	m.Write(msg[:])
	var t Token
	copy(t[:], m.Sum(nil))
	return t
}

// ValidTokens returns the tokens a responder accepts at time now (unix ns):
// the current minute's and the previous minute's, so a request made just
// before a minute boundary still passes.
func ValidTokens(key []byte, unixNano int64) [2]Token {
	m := EpochMinute(unixNano)
	return [2]Token{MakeToken(key, m), MakeToken(key, m-1)}
}

// CheckToken reports, in constant time, whether t is valid for key at time
// unixNano (current or previous minute).
func CheckToken(key []byte, t Token, unixNano int64) bool {
	v := ValidTokens(key, unixNano)
	a := subtle.ConstantTimeCompare(t[:], v[0][:])
	b := subtle.ConstantTimeCompare(t[:], v[1][:])
	return a|b == 1
}
