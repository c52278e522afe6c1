// Package console is otos's web console: server-rendered pages over the
// administration service (otos.Admin), for operators who want to look
// rather than read JSON. It is one more adapter: every page reads and
// changes through the core, under the principal of the admin token the
// operator logged in with, with the core's scopes, audit and lock-out.
//
// Everything it serves is in the binary (html/template pages, plain CSS and
// one small script, embedded); nothing is fetched from elsewhere. The pages
// work without JavaScript, except the live chart and the copy buttons.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// Prefix is where the console is mounted on the HTTP port.
const Prefix = "/console"

// Session lifetimes: a session ends after IdleTimeout without a request, and
// after MaxAge in any case.
const (
	IdleTimeout = 30 * time.Minute
	MaxAge      = 12 * time.Hour
)

//go:embed ui
var ui embed.FS

// Config holds the console's dependencies.
type Config struct {
	Admin otos.Admin
	// ClientOf returns the client of a request (trusted proxies applied),
	// for the lock-out and the audit.
	ClientOf func(*http.Request) otos.Client
	// OverTLS reports whether a request reached otos over TLS (directly or
	// through a trusted proxy): its cookies are then Secure. Nil: r.TLS.
	OverTLS func(*http.Request) bool
	// Now is the clock of sessions; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	cfg      Config
	pages    map[string]*template.Template
	sessions *sessions
	static   http.Handler
}

// New returns a Console.
func New(cfg Config) *Console {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OverTLS == nil {
		cfg.OverTLS = func(r *http.Request) bool { return r.TLS != nil }
	}
	if cfg.ClientOf == nil {
		cfg.ClientOf = func(r *http.Request) otos.Client { return otos.ClientOfRemote(r.RemoteAddr) }
	}
	static, _ := fs.Sub(ui, "ui/static")
	return &Console{cfg: cfg, pages: parsePages(), sessions: newSessions(cfg.Now),
		static: http.StripPrefix(Prefix+"/static/", http.FileServerFS(static))}
}

// Handler returns the console's routes, to mount at Prefix+"/".
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"/static/", c.static)
	mux.HandleFunc("GET "+Prefix+"/login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"/login", c.login)
	mux.HandleFunc("POST "+Prefix+"/logout", c.logout)
	for _, rt := range c.routes() {
		mux.Handle(rt.pattern, c.authed(rt.action, rt.h))
	}
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", nil, pageData{Title: "Not found", Error: "There is no such page."})
	})
	return secure(mux)
}

// secure sets the headers of every console answer: a strict content
// security policy (no inline script or style, nothing from elsewhere), no
// framing, no caching of pages that may hold a secret.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, Prefix+"/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// handler serves one page for the principal of the session.
type handler func(w http.ResponseWriter, r *http.Request, s *session, p *otos.Principal)

// route is one page: its pattern, the core's action of the change it makes
// ("" for a read), and its handler.
type route struct {
	pattern, action string
	h               handler
}

// authed runs h for a logged-in operator. The session's token is checked
// by the core at every request (a revoked token ends the session); a change
// needs the session's CSRF token and a principal that may write. A body is
// bounded before anything reads it.
func (c *Console) authed(action string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		upload := strings.HasSuffix(r.URL.Path, "/allowlist/preview") // checks its CSRF token after a bounded parse
		limit := int64(maxForm)
		if upload {
			limit = maxUpload
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		// The live chart's polls are not the operator's activity: an open
		// overview does not keep an idle session alive.
		s := c.sessions.get(r, !strings.HasSuffix(r.URL.Path, "/live"))
		if s == nil {
			if safe {
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", nil, pageData{Title: "Logged out",
				Error: "Your session has ended: log in again."})
			return
		}
		if !safe && !upload && !s.checkCSRF(r) {
			c.cfg.Logger.Warn("console: change without a valid CSRF token", "path", r.URL.Path)
			c.render(w, r, http.StatusForbidden, "error", s, pageData{Title: "Refused",
				Error: "This change did not come from a console page (its form token is missing or stale). Reload the page and try again."})
			return
		}
		change := otos.Change{}
		if action != "" {
			change = otos.Change{Action: action, Target: r.PathValue("id")}
		}
		p, err := c.cfg.Admin.Authenticate(r.Context(), c.cfg.ClientOf(r), s.token, change)
		if otos.ErrorCode(err) == otos.EUNAUTHORIZED {
			c.sessions.end(s)
			c.clearCookie(w, r)
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		p.Via = "console"
		h(w, r, s, p)
	})
}

// randomToken returns n random bytes, URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error()) // the kernel's random source does not fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// context of a page's reads.
func readCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
