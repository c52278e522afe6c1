package provision

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/otos-iot/otos"
)

// MinAdminTokenLen is the shortest admin token accepted from OTOS_ADMIN_TOKEN.
const MinAdminTokenLen = 16

// Principal is who an admin request acts as.
type Principal struct {
	Scope Scope
	Role  otos.Role
	// TokenID names the token, for the audit; empty for OTOS_ADMIN_TOKEN.
	TokenID string
}

// Actor names the principal in the audit trail.
func (p *Principal) Actor() string {
	if p.TokenID == "" {
		return "env:OTOS_ADMIN_TOKEN"
	}
	return "token:" + p.TokenID
}

// CanWrite reports whether the principal may change things.
func (p *Principal) CanWrite() bool { return p.Role == otos.RoleAdmin }

// Authenticate returns the principal of an admin bearer token; EUNAUTHORIZED
// for an unknown, expired or revoked one, and for a credential that is not an
// admin token (a service account's MQTT password).
func (s *Service) Authenticate(ctx context.Context, token otos.Secret) (*Principal, error) {
	unauthorized := otos.Errorf(otos.EUNAUTHORIZED, "Missing or invalid admin token")
	if token == "" {
		return nil, unauthorized
	}
	h := otos.TokenHash(token)
	if s.adminToken != nil && subtle.ConstantTimeCompare(h, s.adminToken) == 1 {
		return &Principal{Role: otos.RoleAdmin}, nil
	}
	t, err := s.store.TokenByHash(ctx, h)
	switch otos.ErrorCode(err) {
	case "":
	case otos.ENOTFOUND:
		return nil, unauthorized
	default:
		return nil, err
	}
	if !t.Active(s.now()) || !adminRole(t.Role) || subtle.ConstantTimeCompare(h, t.Hash) != 1 {
		return nil, unauthorized
	}
	return &Principal{Scope: Scope(t.TenantID), Role: t.Role, TokenID: t.ID}, nil
}

// adminRole reports whether a token of role r opens the admin API. Only the
// admin roles are listed, so that a role added later (like RoleService, whose
// tokens are MQTT passwords that share the token table) is refused until it
// is given admin access on purpose.
func adminRole(r otos.Role) bool {
	return r == otos.RoleAdmin || r == otos.RoleViewer
}

// EnsureBootstrapToken makes sure the system token in the file at path is
// valid: it keeps a file that exists (registering its token if the store does
// not know it) and otherwise generates a token, stores its hash, and writes
// it to path with mode 0600. It reports whether it wrote the file.
func (s *Service) EnsureBootstrapToken(ctx context.Context, path string) (bool, error) {
	return s.ensureBootstrap(ctx, path, otos.BootstrapTokenName)
}

// ensureBootstrap is EnsureBootstrapToken for a token stored under name.
func (s *Service) ensureBootstrap(ctx context.Context, path, name string) (bool, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		token := otos.Secret(strings.TrimSpace(string(b)))
		if len(token) < MinAdminTokenLen {
			return false, fmt.Errorf("admin token in %s is shorter than %d characters", path, MinAdminTokenLen)
		}
		_, err := s.store.TokenByHash(ctx, otos.TokenHash(token))
		if otos.ErrorCode(err) != otos.ENOTFOUND {
			return false, err
		}
		return false, s.replaceBootstrap(ctx, token, name)
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("read admin token: %w", err)
	}
	token, err := s.newAdminToken()
	if err != nil {
		return false, err
	}
	if err := s.replaceBootstrap(ctx, token, name); err != nil {
		return false, err
	}
	if err := WriteFileAtomic(path, []byte(string(token)+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	return true, nil
}

// AdminTokenPrefix starts every admin token that otos generates, so that a
// token is recognisable (by people and by secret scanners) for what it is.
const AdminTokenPrefix = "otos_"

// newAdminToken generates an admin token: the prefix and 256 random bits.
func (s *Service) newAdminToken() (otos.Secret, error) {
	token, err := randomString(s.rand, adminTokenBytes)
	if err != nil {
		return "", err
	}
	return AdminTokenPrefix + token, nil
}

// replaceBootstrap revokes earlier tokens named name and stores token's hash.
func (s *Service) replaceBootstrap(ctx context.Context, token otos.Secret, name string) error {
	now := s.timestamp()
	if err := s.store.RevokeTokensByName(ctx, name, now); err != nil {
		return fmt.Errorf("revoke bootstrap token: %w", err)
	}
	id, err := s.newID()
	if err != nil {
		return err
	}
	t := &otos.Token{ID: id, Role: otos.RoleAdmin, Name: name, Hash: otos.TokenHash(token), CreatedAt: now}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("store bootstrap token: %w", err)
	}
	return nil
}
