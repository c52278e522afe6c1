package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	"github.com/prometheus/client_golang/prometheus"
)

// Config holds the dependencies and settings of a Server.
type Config struct {
	Addr     string // listen address; ":0" picks a free port
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Registrar and Admin are the core's services behind the two APIs;
	// Sessions authenticates gateways by their voucher (their sub-device
	// batches).
	Registrar otos.Registrar
	Admin     otos.Admin
	Sessions  otos.Sessions
	// Ready reports whether the server can serve (GET /readyz); nil: always.
	Ready func(ctx context.Context) error
	// CompatThingsPanel answers every device API request with HTTP 200, the
	// outcome only in the body's code, as ThingsPanel does.
	CompatThingsPanel bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the client
	// (see ParseTrustedProxies); from any other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// Mount adds handlers of other adapters (EMQX's authentication service)
	// by ServeMux pattern; they answer in their own protocol.
	Mount map[string]http.Handler
}

// Server is the HTTP server of otos.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	metrics *metrics
}

// NewServer returns a Server; Open starts it.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registry)}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler returns the routes of both APIs and the operational endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.deviceRoutes() {
		mux.Handle(rt.pattern, rt.h)
	}
	s.adminRoutes(mux)
	for pattern, h := range s.cfg.Mount {
		mux.Handle(pattern, h)
	}
	return s.recoverPanics(routeErrors(mux))
}

// methods are those a route may be registered for, in the order Allow
// lists them.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// routeErrors answers, in JSON, a request that no route takes: 405 with
// Allow when its path has routes for other methods, 404 otherwise.
func routeErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			writeJSON(w, http.StatusNotFound, Envelope{Code: otos.ENOTFOUND.Number(),
				Message: "No such route: " + r.Method + " " + r.URL.Path})
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, Envelope{Code: otos.EINVALID.Number(),
			Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(allow, ", ")})
	})
}

// recoverPanics turns a panic in a handler into a logged 500, never a
// dropped connection with a stack trace.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeJSON(w, http.StatusInternalServerError, Envelope{Code: otos.EINTERNAL.Number(), Message: "Internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.cfg.Ready == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	if err := s.cfg.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Open starts listening on cfg.Addr and serving in the background.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// URL returns the server's base URL, with 127.0.0.1 for an unspecified host.
func (s *Server) URL() string {
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, itoa(addr.Port))
}

// Close stops accepting requests and waits for in-flight ones until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}
