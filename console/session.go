package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// Cookie names: the session's, and the login form's (a double-submitted
// token, so that another site cannot log a browser in to its own account).
const (
	sessionCookie = "otos_console"
	loginCookie   = "otos_console_login"
)

// maxSessions bounds the sessions kept in memory, and maxPerToken those of
// one token: past it, that token's oldest goes; past maxSessions, a new
// login is refused rather than another operator logged out.
const (
	maxSessions = 10_000
	maxPerToken = 20
)

var errTooManySessions = errors.New("too many console sessions")

// session is one logged-in operator. The admin token is kept in this
// process's memory only, so that the core checks it at every request; the
// browser holds only a random session id.
type session struct {
	id, csrf string
	token    otos.Secret
	created  time.Time
	seen     time.Time
	// secrets shown once: a page that showed one sets it, the next read
	// clears it (see flash).
	flash *pageData
	// pending is an allow-list import waiting for its confirmation.
	pending *pendingImport
}

// checkCSRF reports whether r carries the session's CSRF token.
func (s *session) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sessions are the console's sessions, in memory: each node has its own
// (behind a load balancer, keep an operator on one node).
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, now: now}
}

// start opens a session for token.
func (ss *sessions) start(token otos.Secret) (*session, error) {
	now := ss.now()
	s := &session{id: randomToken(32), csrf: randomToken(32), token: token, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweep(now)
	var oldest *session
	mine := 0
	for _, o := range ss.m {
		if subtle.ConstantTimeCompare([]byte(o.token), []byte(token)) == 1 {
			mine++
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
	}
	if mine >= maxPerToken {
		delete(ss.m, oldest.id)
	} else if len(ss.m) >= maxSessions {
		return nil, errTooManySessions
	}
	ss.m[s.id] = s
	return s, nil
}

// get returns the live session of r's cookie, nil if none; with touch, the
// request counts as the operator's activity.
func (ss *sessions) get(r *http.Request, touch bool) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[ck.Value]
	now := ss.now()
	if s == nil || expired(s, now) {
		delete(ss.m, ck.Value)
		return nil
	}
	if touch {
		s.seen = now
	}
	return s
}

func expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= IdleTimeout || now.Sub(s.created) >= MaxAge
}

// sweep drops the expired sessions.
func (ss *sessions) sweep(now time.Time) {
	for id, s := range ss.m {
		if expired(s, now) {
			delete(ss.m, id)
		}
	}
}

// end closes s.
func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s.id)
}

// setCookie sets a cookie of the console's path: HttpOnly, SameSite=Strict,
// and Secure when the request came over TLS.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.cfg.OverTLS(r)})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, r, sessionCookie, "", -1)
}

// loginPage shows the login form.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.sessions.get(r, true) != nil {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	nonce := randomToken(24)
	c.setCookie(w, r, loginCookie, nonce, 600)
	c.render(w, r, http.StatusOK, "login", nil, pageData{Title: "Log in", Values: map[string]string{"login": nonce}})
}

// login checks the token through the core, which counts a wrong one
// toward the client's lock-out, and opens a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || r.PostFormValue("login") == "" ||
		subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("login"))) != 1 {
		c.render(w, r, http.StatusForbidden, "login", nil, pageData{Title: "Log in",
			Error: "This login did not come from the login page. Reload it and try again.", Values: c.loginValues(w, r)})
		return
	}
	token := otos.Secret(r.PostFormValue("token"))
	p, err := c.cfg.Admin.Authenticate(r.Context(), c.cfg.ClientOf(r), token, otos.Change{})
	if err != nil {
		status, msg := http.StatusUnauthorized, "That token is not a valid admin token."
		switch otos.ErrorCode(err) {
		case otos.ELOCKEDOUT:
			status, msg = http.StatusTooManyRequests, "Too many failed attempts from this address: wait a few minutes."
		case otos.EUNAUTHORIZED:
		default:
			status, msg = http.StatusServiceUnavailable, "The server cannot check tokens right now; try again shortly."
		}
		c.cfg.Logger.Info("console: login refused", "client", c.cfg.ClientOf(r).Addr, "code", otos.ErrorCode(err).Number())
		c.render(w, r, status, "login", nil, pageData{Title: "Log in", Error: msg, Values: c.loginValues(w, r)})
		return
	}
	if old := c.sessions.get(r, false); old != nil {
		c.sessions.end(old) // a new login replaces the session it came with
	}
	s, err := c.sessions.start(token)
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "login", nil, pageData{Title: "Log in",
			Error: "The console has too many sessions open; try again later.", Values: c.loginValues(w, r)})
		return
	}
	c.setCookie(w, r, loginCookie, "", -1)
	c.setCookie(w, r, sessionCookie, s.id, int(MaxAge/time.Second))
	c.cfg.Logger.Info("console: logged in", "actor", p.Actor(), "client", p.From.Addr)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// loginValues gives a refreshed login form its new nonce.
func (c *Console) loginValues(w http.ResponseWriter, r *http.Request) map[string]string {
	nonce := randomToken(24)
	c.setCookie(w, r, loginCookie, nonce, 600)
	return map[string]string{"login": nonce}
}

// logout ends the session, server side, with no other check than its CSRF
// token: an operator can always log out, locked-out address or not.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if s := c.sessions.get(r, false); s != nil {
		if !s.checkCSRF(r) {
			c.render(w, r, http.StatusForbidden, "error", s, pageData{Title: "Refused",
				Error: "This logout did not come from a console page. Reload the page and log out again."})
			return
		}
		c.sessions.end(s)
	}
	c.clearCookie(w, r)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}
