// SPDX-License-Identifier: MIT

package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/internal/sqlitedb"
)

// Session is one login.
type Session struct {
	User    string
	CSRF    string // sent back in X-CSRF-Token on state-changing requests
	Expires time.Time
	// PwTag fingerprints the user's password hash at login (PasswordTag):
	// a session whose user's password changed since is refused.
	PwTag string
}

// Sessions are the logins. The cookie holds 256 random bits; only their
// SHA-256 is kept — in memory and, with a DB, in the web_sessions table —
// so logins survive a restart and neither a memory dump nor a copy of the
// database hands out a live cookie. The CSRF token is an HMAC of the
// cookie, stored nowhere.
//
// The table in memory is the authority while the daemon runs (lookups
// never touch the database, so a flood of forged cookies costs no I/O);
// logins, logouts and expiry are written through before they count. The
// writes go through W (the history store's one writer in the daemon) and
// are waited for without holding the table's lock, so requests keep being
// authenticated while a login or a logout waits for its commit.
type Sessions struct {
	TTL time.Duration
	Now func() time.Time // the clock (tests pass a fake)
	// Max is how many logins are kept at most (0: 10,000). When full, a
	// login ends the oldest session of the user with the most sessions,
	// counting the new login for its user, ties going to that user: so a
	// user never ends another user's session while having as many, and
	// one with a single session is never pushed out. When that user is
	// the one logging in with no session yet (every user holds exactly
	// one), the login is refused: ErrSessionsFull.
	Max int
	// PerUser is how many live logins one user keeps (0:
	// DefaultPerUser); their next login ends their own oldest session.
	PerUser int
	// DB is read when the sessions load; nil: memory only (a restart
	// logs everyone out). With W it may be read-only (query_only).
	DB *sql.DB
	// W makes every write of the table, each in a transaction it commits
	// before Exec returns: the history store (store.Store) in the daemon.
	// nil: DB writes on its own (a file or memory database of its own).
	W Writer

	mu sync.Mutex // guards m
	m  map[[32]byte]*Session

	evicted atomic.Uint64 // sessions ended by PerUser or Max
	full    atomic.Uint64 // logins refused with ErrSessionsFull
}

// Writer makes a database's writes: Exec runs fn in a transaction and
// returns once it is committed, with fn's error or the commit's
// (store.Store.Exec, notify.Writer).
type Writer interface {
	Exec(ctx context.Context, fn func(tx *sql.Tx) error) error
}

// ownWriter writes on the sessions' own connection.
type ownWriter struct{ db *sql.DB }

func (o ownWriter) Exec(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return sqlitedb.InTx(ctx, o.db, fn)
}

// writer is W, or DB's own writer; nil without a DB.
func (s *Sessions) writer() Writer {
	if s.DB == nil {
		return nil
	}
	if s.W != nil {
		return s.W
	}
	return ownWriter{s.DB}
}

// ErrNoSession is returned for a missing, unknown or expired session.
var ErrNoSession = errors.New("web: no such session")

// ErrSessionsFull is New's error when Max sessions are live, held by as
// many users as there are sessions (one each), and the user logging in
// has none: ending someone else's only session is refused (503).
var ErrSessionsFull = errors.New("web: too many sessions")

// DefaultPerUser is a user's live sessions at most (Sessions.PerUser):
// browsers and scripts on several machines, not a flood.
const DefaultPerUser = 20

const sessionSchema = `
CREATE TABLE IF NOT EXISTS web_sessions (
	id_sha256  BLOB PRIMARY KEY, -- SHA-256 of the cookie; the cookie itself is never stored
	user       TEXT NOT NULL,
	pw_tag     TEXT NOT NULL,    -- PasswordTag of the user's hash at login
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions(expires_ns);
`

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sessions) max() int {
	if s.Max <= 0 {
		return 10000
	}
	return s.Max
}

func (s *Sessions) perUser() int {
	if s.PerUser <= 0 {
		return DefaultPerUser
	}
	return s.PerUser
}

// Load creates the table if needed, deletes expired sessions and reads
// the live ones (the newest Max). Without a DB it does nothing.
func (s *Sessions) Load(ctx context.Context) error {
	if s.DB == nil {
		return nil
	}
	now := s.now().UnixNano()
	if err := s.writer().Exec(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, sessionSchema); err != nil {
			return fmt.Errorf("sessions table: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_ns <= ?`, now); err != nil {
			return fmt.Errorf("expiring sessions: %w", err)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id_sha256, user, pw_tag, expires_ns FROM web_sessions ORDER BY expires_ns DESC LIMIT ?`, s.max())
	if err != nil {
		return fmt.Errorf("web: reading sessions: %w", err)
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[[32]byte]*Session)
	}
	per := make(map[string]int) // the newest PerUser of each user load
	for rows.Next() {
		var id []byte
		var exp int64
		sess := &Session{}
		if err := rows.Scan(&id, &sess.User, &sess.PwTag, &exp); err != nil {
			return fmt.Errorf("web: reading sessions: %w", err)
		}
		if len(id) != sha256.Size {
			continue
		}
		if per[sess.User]++; per[sess.User] > s.perUser() {
			continue // not live; the row goes when it expires
		}
		sess.Expires = time.Unix(0, exp)
		s.m[[32]byte(id)] = sess
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("web: reading sessions: %w", err)
	}
	return nil
}

// csrfOf is the CSRF token of the session with cookie value id.
func csrfOf(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("hb csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:32]
}

// PasswordTag fingerprints a password hash, so that sessions end when the
// password changes (the tag alone reveals nothing usable).
func PasswordTag(hash string) string {
	h := sha256.Sum256([]byte("hb session password v1\x00" + hash))
	return hex.EncodeToString(h[:8])
}

// New starts a session for user (pwTag: PasswordTag of their hash) and
// returns the cookie value. A user at PerUser sessions loses their oldest;
// with Max sessions live, the one evicted is chosen by evictLocked (or
// the login refused with ErrSessionsFull). With a DB the session is
// stored first: an error means no session. The table's lock is not held
// while the write waits for its commit, so logins made meanwhile may pass
// Max and PerUser by as many as wait (the login rate limit bounds them).
func (s *Sessions) New(user, pwTag string) (id string, sess Session, err error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[[32]byte]*Session)
	}
	now := s.now()
	var evict [][32]byte
	if own, oldest := s.countLocked(user); own >= s.perUser() {
		delete(s.m, oldest)
		evict = append(evict, oldest)
		s.evicted.Add(1)
	}
	if len(s.m) >= s.max() {
		evict = append(evict, s.sweepLocked(now)...)
	}
	if len(s.m) >= s.max() {
		k, ok := s.evictLocked(user)
		if !ok {
			s.mu.Unlock()
			s.full.Add(1)
			return "", Session{}, ErrSessionsFull
		}
		delete(s.m, k)
		evict = append(evict, k)
		s.evicted.Add(1)
	}
	s.mu.Unlock()
	id = randomString(32)
	k := sha256.Sum256([]byte(id))
	sess = Session{User: user, Expires: now.Add(s.TTL), PwTag: pwTag}
	if w := s.writer(); w != nil {
		if err := storeSession(w, k, sess, now, evict); err != nil {
			return "", Session{}, err
		}
	}
	kept := sess
	s.mu.Lock()
	s.m[k] = &kept
	s.mu.Unlock()
	sess.CSRF = csrfOf(id)
	return id, sess, nil
}

// older orders sessions: the one expiring first (TTL is fixed, so the one
// made first), then by key, so that the choice is deterministic.
func older(ka [32]byte, a *Session, kb [32]byte, b *Session) bool {
	if !a.Expires.Equal(b.Expires) {
		return a.Expires.Before(b.Expires)
	}
	return bytes.Compare(ka[:], kb[:]) < 0
}

// countLocked is how many sessions user holds and the key of the oldest
// (one pass over the table: at most Max, behind a password check that
// costs far more).
func (s *Sessions) countLocked(user string) (n int, oldest [32]byte) {
	var o *Session
	for k, v := range s.m {
		if v.User != user {
			continue
		}
		n++
		if o == nil || older(k, v, oldest, o) {
			o, oldest = v, k
		}
	}
	return n, oldest
}

// evictLocked picks the session a login by user ends when the table is
// full: the oldest of the user with the most sessions, user's count
// including the new login and ties going to user; false when that is
// user and they hold none (every user has one session: the login waits).
func (s *Sessions) evictLocked(user string) ([32]byte, bool) {
	type acct struct {
		n      int
		oldest [32]byte
		o      *Session
	}
	by := make(map[string]*acct)
	for k, v := range s.m {
		a := by[v.User]
		if a == nil {
			a = &acct{}
			by[v.User] = a
		}
		a.n++
		if a.o == nil || older(k, v, a.oldest, a.o) {
			a.o, a.oldest = v, k
		}
	}
	self := by[user]
	selfN := 1
	if self != nil {
		selfN += self.n
	}
	var top *acct
	for u, a := range by {
		if u == user || a.n <= selfN {
			continue
		}
		if top == nil || a.n > top.n || a.n == top.n && older(a.oldest, a.o, top.oldest, top.o) {
			top = a
		}
	}
	if top != nil {
		return top.oldest, true
	}
	if self != nil {
		return self.oldest, true
	}
	return [32]byte{}, false
}

// storeSession writes a new session, deleting the evicted and expired ones in
// the same transaction, and waits for its commit.
func storeSession(w Writer, k [32]byte, sess Session, now time.Time, evict [][32]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := w.Exec(ctx, func(tx *sql.Tx) error {
		for _, e := range evict {
			if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_sha256 = ?`, e[:]); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_ns <= ?`, now.UnixNano()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (id_sha256, user, pw_tag, created_ns, expires_ns) VALUES (?, ?, ?, ?, ?)`,
			k[:], sess.User, sess.PwTag, now.UnixNano(), sess.Expires.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("web: storing the session: %w", err)
	}
	return nil
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
		delete(s.m, k) // the row goes with the next login's sweep or the next Load
		return Session{}, ErrNoSession
	}
	out := *p
	out.CSRF = csrfOf(id)
	return out, nil
}

// Delete ends the session with cookie value id. With a DB the row is
// deleted first and Delete returns once that is committed: on an error
// the session stays live (and the caller says so) rather than coming back
// after a restart.
func (s *Sessions) Delete(id string) error {
	k := sha256.Sum256([]byte(id))
	if w := s.writer(); w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := w.Exec(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_sha256 = ?`, k[:])
			return err
		}); err != nil {
			return fmt.Errorf("web: ending the session: %w", err)
		}
	}
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
	return nil
}

// DropUser ends every session for which keep(user, pwTag) is false
// (after a reload removed the user or changed their password), once
// their rows' deletion is committed.
func (s *Sessions) DropUser(keep func(user, pwTag string) bool) error {
	s.mu.Lock()
	var gone [][32]byte
	for k, v := range s.m {
		if !keep(v.User, v.PwTag) {
			gone = append(gone, k)
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	if w := s.writer(); w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := w.Exec(ctx, func(tx *sql.Tx) error {
			for _, k := range gone {
				if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_sha256 = ?`, k[:]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("web: ending sessions: %w", err)
		}
	}
	s.mu.Lock()
	for _, k := range gone {
		delete(s.m, k)
	}
	s.mu.Unlock()
	return nil
}

// Len is how many sessions are live or not yet swept.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sweepLocked drops expired sessions from memory and returns their keys.
func (s *Sessions) sweepLocked(now time.Time) [][32]byte {
	var out [][32]byte
	for k, v := range s.m {
		if !now.Before(v.Expires) {
			delete(s.m, k)
			out = append(out, k)
		}
	}
	return out
}

// randomString is n random bytes, base64url.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
