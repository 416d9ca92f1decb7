// SPDX-License-Identifier: MIT

package web

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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

// Session is one login.
type Session struct {
	User    string
	CSRF    string // sent back in X-CSRF-Token on state-changing requests
	Expires time.Time
}

// Sessions are the logins, in memory: a restart logs everyone out. The
// cookie holds a random id; the table is keyed by its SHA-256 so a memory
// dump does not hand out live cookies.
type Sessions struct {
	TTL time.Duration
	Now func() time.Time // the clock (tests pass a fake)
	Max int              // logins kept at most; the oldest go first

	mu sync.Mutex // guards m
	m  map[[32]byte]*Session
}

// ErrNoSession is returned for a missing, unknown or expired session.
var ErrNoSession = errors.New("web: no such session")

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// New starts a session for user and returns the cookie value.
func (s *Sessions) New(user string) (id string, sess Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[[32]byte]*Session)
	}
	now := s.now()
	max := s.Max
	if max <= 0 {
		max = 10000
	}
	if len(s.m) >= max {
		s.sweepLocked(now)
		for k := range s.m { // still full: drop an arbitrary one
			if len(s.m) < max {
				break
			}
			delete(s.m, k)
		}
	}
	id = randomString(32)
	sess = Session{User: user, CSRF: randomString(24), Expires: now.Add(s.TTL)}
	s.m[sha256.Sum256([]byte(id))] = &sess
	return id, sess
}

// Get returns the live session with cookie value id.
func (s *Sessions) Get(id string) (Session, error) {
	if id == "" {
		return Session{}, ErrNoSession
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.m[k]
	if p == nil {
		return Session{}, ErrNoSession
	}
	if !s.now().Before(p.Expires) {
		delete(s.m, k)
		return Session{}, ErrNoSession
	}
	return *p, nil
}

// Delete ends the session with cookie value id.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// DropUser ends every session of users not in keep (after a reload removed
// them).
func (s *Sessions) DropUser(keep func(user string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if !keep(v.User) {
			delete(s.m, k)
		}
	}
}

// Len is how many sessions are live or not yet swept.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Sessions) sweepLocked(now time.Time) {
	for k, v := range s.m {
		if !now.Before(v.Expires) {
			delete(s.m, k)
		}
	}
}

// CSRFOK reports whether the token sent with a state-changing request
// matches the session's.
func CSRFOK(sess Session, sent string) bool {
	return sent != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(sent)) == 1
}
