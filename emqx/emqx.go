// Package emqx makes otos the HTTP authentication and authorization
// service of an EMQX 5 cluster (5.8 or later: the answer to a CONNECT
// carries the client's ACL and attributes), and disconnects revoked devices
// through EMQX's REST API. The requests EMQX sends and the answers otos
// gives follow EMQX's documentation:
//
//   - https://docs.emqx.com/en/emqx/latest/access-control/authn/http.html
//   - https://docs.emqx.com/en/emqx/latest/access-control/authz/http.html
//   - https://docs.emqx.com/en/emqx/latest/access-control/authn/acl.html
//   - https://docs.emqx.com/en/emqx/latest/admin/api-docs.html (DELETE /api/v5/clients/{clientid})
package emqx

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// Config is what New needs.
type Config struct {
	Sessions otos.Sessions
	// Token is what EMQX must send as "Authorization: Bearer <token>" (see
	// ServerConfig); a request without it is refused.
	Token otos.Secret
	// API is EMQX's REST API (http://emqx:18083), with an API key and its
	// secret: revoked devices are disconnected through it. Empty: they are
	// refused at their next CONNECT only.
	API, APIKey string
	APISecret   otos.Secret
	Client      *http.Client
	Logger      *slog.Logger
}

// Service answers EMQX's authentication and authorization requests.
type Service struct {
	cfg     Config
	log     *slog.Logger
	clients clientIDs
}

// New returns a Service; Handler serves it.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	s := &Service{cfg: cfg, log: cfg.Logger}
	s.clients.init()
	return s
}

// Paths under which Handler answers, below the prefix it is mounted at.
const (
	AuthnPath = "/authn"
	AuthzPath = "/authz"
)

const (
	maxBody        = 16 << 10
	requestTimeout = 4 * time.Second // under EMQX's default request_timeout (5 s)
)

// Handler returns the authentication and authorization endpoints.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AuthnPath, s.guarded(s.authn))
	mux.HandleFunc("POST "+AuthzPath, s.guarded(s.authz))
	return mux
}

// guarded refuses a request without EMQX's token. Every answer is 200
// with a result, deny when in doubt: EMQX reads another status as
// "ignore", which for authorization can mean allow.
func (s *Service) guarded(fn func(ctx context.Context, body []byte) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) != 1 {
			s.log.Warn("emqx: request without the token", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeJSON(w, http.StatusUnauthorized, result{Result: deny})
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			s.log.Warn("emqx: unreadable request", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusOK, result{Result: deny})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		writeJSON(w, http.StatusOK, fn(ctx, body))
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clientAt returns the client at EMQX's peerhost.
func clientAt(host string) otos.Client {
	if a, err := netip.ParseAddr(host); err == nil {
		return otos.ClientAt(a)
	}
	return otos.Client{Addr: host, Key: host}
}
