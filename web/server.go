// SPDX-License-Identifier: MIT

package web

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/state"
)

// AlertSource is what the dashboard needs of the alert engine
// (*alert.Engine).
type AlertSource interface {
	List(f alert.Filter) []alert.Alert
	Ack(id uint64, by, comment string, now time.Time) (alert.Alert, error)
	AddSilence(s alert.Silence, now time.Time) (alert.Silence, error)
	Silences(now time.Time, all bool) []alert.Silence
	UpdateSilence(id int64, u alert.SilenceUpdate, now time.Time) (alert.Silence, error)
	DeleteSilence(id int64) error
}

// EventSource is what the dashboard needs of the event log
// (*push.EventLog, through event.LogFilter/LogEntry).
type EventSource interface {
	Query(ctx context.Context, f event.LogFilter) ([]event.LogEntry, error)
}

// Options are the dashboard's parts. Table is required; the others may be
// nil (their pages then say so).
type Options struct {
	Config       config.Web
	Users        []config.User
	DefaultOwner string // alerts.default_owner: owns hosts without an owner label
	Listen       string // the API listener's address (loopback check)
	APIToken     string // the API's bearer token ("" none): accepted as an admin
	// DB keeps the sessions (table web_sessions) so that logins survive a
	// restart; nil keeps them in memory only. The daemon passes its
	// history database, read-only (query_only), with DBWriter.
	DB *sql.DB
	// DBWriter makes every write of the sessions' table: the history
	// store's one writer (store.Store) in the daemon. nil: DB writes on
	// its own (a database of its own, tests).
	DBWriter Writer

	Table    *state.Table
	Hub      *Hub // nil: a hub of its own, fed by nobody (tests call Add)
	History  api.HistorySource
	Alerts   AlertSource
	Events   EventSource
	Settings func() any // the effective configuration, secrets redacted

	Log *slog.Logger
	Now func() time.Time
}

// ErrOpenNonLoopback is New's error for a dashboard without users on an
// address other than loopback, unless web.allow_open is set.
var ErrOpenNonLoopback = errors.New("web: refusing to serve the dashboard without logins on a non-loopback address: add [[users]] (hb-probe passwd USER), set web.allow_open = true, or web.enabled = false")

// users is one generation of the configured users.
type users struct {
	byName       map[string]*config.User
	byToken      map[string]*config.User // by TokenHash
	defaultOwner string
}

// Server serves the dashboard and its endpoints.
type Server struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	hub      *Hub
	sessions *Sessions
	users    atomic.Pointer[users]
	tls      atomic.Bool
	limiter  loginLimiter
	epoch    string // stream ids are EPOCH.SEQ: a restart is a reset

	logins, loginFails atomic.Uint64
}

// New checks the options and returns the server.
func New(o Options) (*Server, error) {
	if o.Table == nil {
		return nil, errors.New("web: nil table")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{opts: o, log: o.Log, now: o.Now, hub: o.Hub,
		sessions: &Sessions{TTL: o.Config.SessionTTL.D(), Now: o.Now, DB: o.DB, W: o.DBWriter},
		epoch:    fmt.Sprintf("%x", o.Now().UnixNano())}
	if s.sessions.TTL <= 0 {
		s.sessions.TTL = 24 * time.Hour
	}
	if s.hub == nil {
		s.hub = NewHub()
	}
	s.limiter = loginLimiter{perMin: max(o.Config.LoginRate, 1), now: o.Now}
	lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := s.sessions.Load(lctx)
	cancel()
	if err != nil {
		return nil, err
	}
	s.tls.Store(o.Config.TLS())
	if err := s.SetUsers(o.Users, o.DefaultOwner); err != nil {
		return nil, err
	}
	if len(o.Users) == 0 && !o.Config.AllowOpen && !IsLoopback(o.Listen) {
		return nil, ErrOpenNonLoopback
	}
	return s, nil
}

// IsLoopback reports whether the listen address host:port binds loopback
// only.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// SetUsers replaces the users (SIGHUP); sessions of removed users, and of
// users whose password changed, end.
func (s *Server) SetUsers(us []config.User, defaultOwner string) error {
	u := &users{byName: map[string]*config.User{}, byToken: map[string]*config.User{}, defaultOwner: defaultOwner}
	for i := range us {
		p := &us[i]
		u.byName[p.Name] = p
		for _, t := range p.Tokens {
			u.byToken[t] = p
		}
	}
	s.users.Store(u)
	// principal refuses such sessions anyway; this frees them.
	if err := s.sessions.DropUser(func(n, tag string) bool { return sessionUserOK(u.byName[n], tag) }); err != nil {
		s.log.Error("dashboard: ending sessions of removed users", "err", err)
	}
	return nil
}

// Open reports whether no users are configured (everyone is admin).
func (s *Server) Open() bool { return len(s.users.Load().byName) == 0 }

// Hub is the stream hub.
func (s *Server) Hub() *Hub { return s.hub }

// SetTLS says whether the listener speaks TLS (cookies get Secure).
func (s *Server) SetTLS(on bool) { s.tls.Store(on) }

const (
	cookieName = "hb_session"
	csrfHeader = "X-CSRF-Token"
)

// principal authenticates ctx: the session cookie, a user's API token, or
// the API's bearer token. sess is set for a session login.
func (s *Server) principal(ctx *fasthttp.RequestCtx) (p Principal, sess *Session, ok bool) {
	u := s.users.Load()
	if len(u.byName) == 0 {
		return Principal{Open: true, Admin: true}, nil, true
	}
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 7 && strings.EqualFold(string(h[:7]), "bearer ") {
		tok := string(h[7:])
		if usr := u.byToken[TokenHash(tok)]; usr != nil {
			return Principal{Name: usr.Name, Admin: usr.Admin, Token: true}, nil, true
		}
		if s.opts.APIToken != "" && subtle.ConstantTimeCompare([]byte(TokenHash(tok)), []byte(TokenHash(s.opts.APIToken))) == 1 {
			return Principal{Name: "api", Admin: true, Token: true, Machine: true}, nil, true
		}
		return Principal{}, nil, false
	}
	id := string(ctx.Request.Header.Cookie(cookieName))
	se, err := s.sessions.Get(id)
	if err != nil {
		return Principal{}, nil, false
	}
	usr := u.byName[se.User]
	if !sessionUserOK(usr, se.PwTag) {
		return Principal{}, nil, false
	}
	return Principal{Name: usr.Name, Admin: usr.Admin}, &se, true
}

// sessionUserOK reports whether a session with password tag tag may act
// as usr: the user still exists, may log in, and has the password they
// logged in with.
func sessionUserOK(usr *config.User, tag string) bool {
	return usr != nil && usr.Password != "" && PasswordTag(usr.Password) == tag
}

// stateChanging reports whether the request's method changes state.
func stateChanging(ctx *fasthttp.RequestCtx) bool {
	return !ctx.IsGet() && !ctx.IsHead() && !ctx.IsOptions()
}

// csrfOK guards state-changing requests made with ambient credentials (a
// session cookie, or none in open mode): a session must send its CSRF
// token in X-CSRF-Token; every such request must be JSON (a cross-site
// form cannot send that without a CORS preflight) and, when the browser
// says where it comes from, come from this origin. A request with a
// bearer token (p.Token) needs none of this: no browser adds that header
// to a cross-site request, so it may be a form post (hbd's clients).
func (s *Server) csrfOK(ctx *fasthttp.RequestCtx, p Principal, sess *Session) bool {
	if !stateChanging(ctx) || p.Token {
		return true
	}
	if o := ctx.Request.Header.Peek("Origin"); len(o) > 0 {
		origin := string(o)
		if i := strings.Index(origin, "://"); i >= 0 {
			origin = origin[i+3:]
		}
		if origin != string(ctx.Host()) {
			return false
		}
	}
	if len(ctx.PostBody()) > 0 && !strings.HasPrefix(string(ctx.Request.Header.ContentType()), "application/json") {
		return false
	}
	if sess != nil {
		return CSRFOK(*sess, string(ctx.Request.Header.Peek(csrfHeader)))
	}
	return true
}

// Authorize is the API server's further credentials (api.Config.Authorize):
// an admin's session (with its CSRF token on state-changing requests) or
// an admin's API token. Non-admins use the dashboard's endpoints, which
// show them their hosts only. nil when no users are configured.
func (s *Server) Authorize() func(ctx *fasthttp.RequestCtx) bool {
	if s.Open() {
		return nil
	}
	return func(ctx *fasthttp.RequestCtx) bool {
		p, sess, ok := s.principal(ctx)
		return ok && p.Admin && s.csrfOK(ctx, p, sess)
	}
}

// AlertAccess authenticates the alert API's requests (alert.Engine.Routes:
// /api/v1/alerts, /api/v1/silences, /api/v1/notifications, /api/0/alerts,
// /api/0/alert_summary) as the dashboard does — a session with its CSRF
// token on writes, a user's API token, the API's own token — and gives
// the engine the caller's roles: admins and the API token may do
// everything; other users see the alerts and silences of their hosts and
// acknowledge and silence where they are manager or owner. Acks and
// silences are recorded under the user's name. nil when no users are
// configured: the API's bearer token alone guards those routes then.
func (s *Server) AlertAccess() alert.Access {
	if s.Open() {
		return nil
	}
	return func(ctx *fasthttp.RequestCtx) (alert.Caller, bool) {
		p, sess, ok := s.principal(ctx)
		if !ok {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="hb-probe"`)
			writeErr(ctx, fasthttp.StatusUnauthorized, "log in, or send a user's or the API's bearer token")
			return alert.Caller{}, false
		}
		if !s.csrfOK(ctx, p, sess) {
			writeErr(ctx, fasthttp.StatusForbidden, "missing or wrong CSRF token")
			return alert.Caller{}, false
		}
		c := alert.Caller{User: p.Name, All: p.Admin}
		if p.Machine {
			c.User = "" // the API token: the request says who acknowledges
		}
		if !p.Admin {
			v := s.opts.Table.View()
			c.View = func(h string) bool { return s.roleOnName(p, v, h).Can(ActView) }
			c.Act = func(h string) bool { return s.roleOnName(p, v, h).Can(ActAck) }
		}
		return c, true
	}
}

// role is p's role on host h.
func (s *Server) role(p Principal, h *state.Host) Role {
	return RoleOn(p, h.Spec().Labels, s.users.Load().defaultOwner)
}

// roleOnName is p's role on the host named name in v (none when unknown).
func (s *Server) roleOnName(p Principal, v *state.View, name string) Role {
	if p.Admin {
		return RoleAdmin
	}
	h := v.Lookup(name)
	if h == nil {
		return RoleNone
	}
	return s.role(p, h)
}

// Routes are the dashboard's routes on the API listener. They do their
// own authentication (sessions, users' tokens, the API token), so they
// are open to the API server.
func (s *Server) Routes() []api.Route {
	if !s.opts.Config.Enabled {
		return nil
	}
	return []api.Route{
		{Prefix: "/ui", Open: true, Handler: s.serveUI},
		{Prefix: "/api/0/hosts", Open: true, Handler: s.hbdHosts},
		{Prefix: "/api/0/messages", Open: true, Handler: s.hbdMessages},
		{Prefix: "/api/0/auth", Open: true, Handler: s.hbdAuth},
		{Prefix: "/api/0/users/me", Open: true, Handler: s.hbdMe},
	}
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = fasthttp.StatusInternalServerError, []byte(`{"error":"encoding"}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(append(b, '\n'))
}

func writeErr(ctx *fasthttp.RequestCtx, status int, msg string) {
	writeJSON(ctx, status, map[string]string{"error": msg})
}

// loginLimiter bounds failed logins per client address per minute.
type loginLimiter struct {
	perMin int
	now    func() time.Time
	mu     sync.Mutex // guards the fields below
	minute int64
	fails  map[string]int
}

func (l *loginLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.now().Unix() / 60
	if m != l.minute || l.fails == nil {
		l.minute, l.fails = m, map[string]int{}
	}
	return l.fails[addr] < l.perMin
}

func (l *loginLimiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails != nil && len(l.fails) < 100000 {
		l.fails[addr]++
	}
}

func clientAddr(ctx *fasthttp.RequestCtx) string {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ctx.RemoteAddr().String()
}

// login checks user and password and starts a session; ok false means
// wrong credentials or too many attempts (msg says which).
func (s *Server) login(ctx *fasthttp.RequestCtx, user, password string) (Session, bool, string) {
	addr := clientAddr(ctx)
	if !s.limiter.allow(addr) {
		s.loginFails.Add(1)
		return Session{}, false, "too many failed logins; try again in a minute"
	}
	u := s.users.Load().byName[user]
	// Check a hash even for an unknown user, so timing does not tell.
	hash := dummyHash()
	if u != nil && u.Password != "" {
		hash = u.Password
	}
	if !CheckPassword(hash, password) || u == nil || u.Password == "" {
		s.limiter.fail(addr)
		s.loginFails.Add(1)
		s.log.Warn("login failed", "user", clip(user, 64), "from", addr)
		return Session{}, false, "wrong user or password"
	}
	id, sess, err := s.sessions.New(u.Name, PasswordTag(u.Password))
	if errors.Is(err, ErrSessionsFull) {
		s.log.Warn("login refused: every session slot is held, one per user", "user", u.Name, "from", addr)
		return Session{}, false, errSessionsFull
	}
	if err != nil {
		s.log.Error("login: session not stored", "user", u.Name, "err", err)
		return Session{}, false, errSessionStore
	}
	s.setCookie(ctx, id, sess.Expires)
	s.logins.Add(1)
	s.log.Info("login", "user", u.Name, "from", addr)
	return sess, true, ""
}

// errSessionStore is login's message when the session could not be stored.
const errSessionStore = "the session could not be stored; try again"

// errSessionsFull is login's message when Sessions.New refused with
// ErrSessionsFull (503, as errSessionStore).
const errSessionsFull = "the dashboard holds all the sessions it keeps; try again later"

// loginRefusal is the HTTP status for a refused login's message: 429 for
// the rate limit, 503 when the session could not be kept, else 401.
func loginRefusal(msg string) int {
	switch {
	case strings.HasPrefix(msg, "too many"):
		return fasthttp.StatusTooManyRequests
	case msg == errSessionStore || msg == errSessionsFull:
		return fasthttp.StatusServiceUnavailable
	}
	return fasthttp.StatusUnauthorized
}

// dummyHash is checked for unknown users (a hash of a random password).
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashWith(randomString(16), "dummysaltdummysa", Iterations)
	return h
})

func (s *Server) setCookie(ctx *fasthttp.RequestCtx, id string, exp time.Time) {
	var c fasthttp.Cookie
	c.SetKey(cookieName)
	c.SetValue(id)
	c.SetPath("/")
	c.SetHTTPOnly(true)
	c.SetSecure(s.tls.Load())
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	if id == "" {
		c.SetExpire(fasthttp.CookieExpireDelete)
	} else {
		c.SetExpire(exp)
	}
	ctx.Response.Header.SetCookie(&c)
}

// logout ends the request's session; false (and 500 written) when it
// could not be deleted from the database.
func (s *Server) logout(ctx *fasthttp.RequestCtx) bool {
	if id := string(ctx.Request.Header.Cookie(cookieName)); id != "" {
		if err := s.sessions.Delete(id); err != nil {
			s.log.Error("logout: session not deleted", "err", err)
			writeErr(ctx, fasthttp.StatusInternalServerError, "the session could not be ended; try again")
			return false
		}
	}
	s.setCookie(ctx, "", time.Time{})
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
