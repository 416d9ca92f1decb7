// SPDX-License-Identifier: MIT

package web

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/hbmon/hb/config"
)

// Iterations is the PBKDF2 work factor of new password hashes (hbd's).
const Iterations = 260_000

// HashPassword returns "pbkdf2:sha256:ITERATIONS$SALT$HASH" for password
// with a random 16-character salt: the form hbd (werkzeug) writes, so
// hashes move between the two.
func HashPassword(password string) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	return hashWith(password, base64.RawURLEncoding.EncodeToString(b[:]), Iterations)
}

func hashWith(password, salt string, iter int) (string, error) {
	k, err := pbkdf2.Key(sha256.New, password, []byte(salt), iter, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	return "pbkdf2:sha256:" + strconv.Itoa(iter) + "$" + salt + "$" + hex.EncodeToString(k), nil
}

// CheckPassword reports whether password matches hash (a
// "pbkdf2:sha256:ITERATIONS$SALT$HASH"), comparing in constant time.
func CheckPassword(hash, password string) bool {
	if config.CheckPasswordHash(hash) != nil {
		return false
	}
	method, salt, want, _ := config.SplitPasswordHash(hash)
	iter, _ := strconv.Atoi(strings.TrimPrefix(method, "pbkdf2:sha256:"))
	got, err := hashWith(password, salt, iter)
	if err != nil {
		return false
	}
	_, _, gotHash, _ := config.SplitPasswordHash(got)
	return subtle.ConstantTimeCompare([]byte(gotHash), []byte(want)) == 1
}

// NewToken returns a random API token and the "sha256:HEX" form that goes
// in the user's tokens.
func NewToken() (token, stored string, err error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = "hbu_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, TokenHash(token), nil
}

// TokenHash is the stored form of an API token.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:])
}

// CSRFOK reports whether the token sent with a state-changing request
// matches the session's.
func CSRFOK(sess Session, sent string) bool {
	return sent != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(sent)) == 1
}
