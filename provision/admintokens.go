package provision

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// MaxTokenLifetime bounds the expiry that an admin token may be given; a
// token meant to live longer is created without an expiry.
const MaxTokenLifetime = 10 * 365 * 24 * time.Hour

// AdminToken is an admin API token as the API shows it: never its hash, and
// the token itself (Token) only in the answer that creates it.
type AdminToken struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id"` // empty: a system token, which sees every tenant
	Role      otos.Role  `json:"role"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Token     string     `json:"token,omitempty"`
}

// AuditID names the token in the audit trail.
func (t *AdminToken) AuditID() string { return t.ID }

func adminTokenOf(t *otos.Token) *AdminToken {
	return &AdminToken{ID: t.ID, TenantID: t.TenantID, Role: t.Role, Name: t.Name, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// TokenSpec is what a new admin token is to be.
type TokenSpec struct {
	Role otos.Role // RoleAdmin or RoleViewer
	Name string    // optional, for people
	// ExpiresInSeconds or ExpiresAt, not both, gives the token an expiry;
	// with neither it is valid until revoked.
	ExpiresInSeconds *int64
	ExpiresAt        *time.Time
}

// validate checks the spec's role and name.
func (sp *TokenSpec) validate() error {
	if sp.Role == "" {
		return otos.FieldError("role", otos.ReasonRequired, "role is required: admin or viewer")
	}
	if !adminRole(sp.Role) {
		return otos.FieldError("role", otos.ReasonValue, "role must be admin or viewer")
	}
	if sp.Name == otos.BootstrapTokenName || strings.HasPrefix(sp.Name, BootstrapTokenPrefix) {
		// otos serve revokes every token of this name when it replaces its own.
		return otos.FieldError("name", otos.ReasonValue, "name %q is reserved for the token that otos serve writes", sp.Name)
	}
	if sp.Name != "" {
		return otos.ValidateName("name", sp.Name)
	}
	return nil
}

// expiry returns when a token created at now expires, nil for never.
func (sp *TokenSpec) expiry(now time.Time) (*time.Time, error) {
	switch {
	case sp.ExpiresInSeconds != nil && sp.ExpiresAt != nil:
		return nil, otos.FieldError("expires_at", otos.ReasonValue, "give expires_in_seconds or expires_at, not both")
	case sp.ExpiresInSeconds != nil:
		n := *sp.ExpiresInSeconds
		if n < 1 || n > int64(MaxTokenLifetime/time.Second) {
			return nil, otos.FieldError("expires_in_seconds", otos.ReasonValue,
				"expires_in_seconds must be between 1 and %d", int64(MaxTokenLifetime/time.Second))
		}
		at := now.Add(time.Duration(n) * time.Second)
		return &at, nil
	case sp.ExpiresAt != nil:
		at := sp.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !at.After(now) || at.Sub(now) > MaxTokenLifetime {
			return nil, otos.FieldError("expires_at", otos.ReasonValue,
				"expires_at must be in the future, and at most %d days ahead", int(MaxTokenLifetime/(24*time.Hour)))
		}
		return &at, nil
	}
	return nil, nil
}

// CreateToken creates an admin token of the scope: a tenant's scope makes a
// token of that tenant, the system scope a system token. (CreationScope
// turns a request's tenant_id into the scope.) It returns the token itself,
// which is stored only as a hash and never shown again.
func (s *Service) CreateToken(ctx context.Context, sc Scope, spec TokenSpec) (*AdminToken, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	now := s.timestamp()
	expires, err := spec.expiry(now)
	if err != nil {
		return nil, err
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	token, err := s.newAdminToken()
	if err != nil {
		return nil, err
	}
	t := &otos.Token{ID: id, TenantID: string(sc), Role: spec.Role, Name: spec.Name,
		Hash: otos.TokenHash(token), CreatedAt: now, ExpiresAt: expires}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	s.log.Info("admin token created", "token_id", id, "tenant_id", t.TenantID, "role", string(t.Role))
	v := adminTokenOf(t)
	v.Token = string(token)
	return v, nil
}

// Tokens lists the scope's admin tokens (every tenant's and the system's
// for the system scope). Service accounts, which share the token table, are
// left out, so a page may hold fewer than its limit while next_cursor goes on.
func (s *Service) Tokens(ctx context.Context, sc Scope, p otos.Page) ([]*AdminToken, string, error) {
	ts, next, err := s.store.Tokens(ctx, otos.TokenFilter{TenantID: string(sc), Page: p})
	if err != nil {
		return nil, "", err
	}
	out := make([]*AdminToken, 0, len(ts))
	for _, t := range ts {
		if adminRole(t.Role) {
			out = append(out, adminTokenOf(t))
		}
	}
	return out, next, nil
}

// RevokeToken revokes admin token id; ENOTFOUND unless it is an admin token
// the scope may see (a tenant's token sees neither system tokens nor
// another tenant's, and service accounts have their own route).
func (s *Service) RevokeToken(ctx context.Context, sc Scope, id string) (*AdminToken, error) {
	t, err := s.store.Token(ctx, id)
	if otos.ErrorCode(err) == otos.ENOTFOUND || err == nil && (!adminRole(t.Role) || !sc.owns(t.TenantID)) {
		return nil, notFound("token")
	}
	if err != nil {
		return nil, err
	}
	if t, err = s.store.RevokeToken(ctx, id, s.timestamp()); err != nil {
		return nil, err
	}
	s.log.Info("admin token revoked", "token_id", id)
	return adminTokenOf(t), nil
}

// AuditTenant names the token's tenant in the audit trail.
func (t *AdminToken) AuditTenant() string { return t.TenantID }
