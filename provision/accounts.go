package provision

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/otos-iot/otos"
)

// ServiceAccount is an MQTT credential for a platform consumer of one
// tenant: it may subscribe to that tenant's device uplinks and publish their
// downlinks. Username and Password are set only when it is created.
type ServiceAccount struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Username  string    `json:"username"`
	Password  string    `json:"password,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
}

func accountOf(t *otos.Token) *ServiceAccount {
	return &ServiceAccount{ID: t.ID, TenantID: t.TenantID, Name: t.Name, Username: ServiceUsernamePrefix + t.ID,
		CreatedAt: t.CreatedAt, Revoked: t.RevokedAt != nil}
}

// CreateServiceAccount creates a service account in the scope's tenant and
// returns it with its password, which is never shown again.
func (s *Service) CreateServiceAccount(ctx context.Context, sc Scope, name string) (*ServiceAccount, error) {
	if err := validateAccountName(name); err != nil {
		return nil, err
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	password, err := randomString(s.rand, passwordBytes)
	if err != nil {
		return nil, err
	}
	t := &otos.Token{ID: id, TenantID: sc.tenant(), Role: otos.RoleService, Name: name,
		Hash: otos.TokenHash(password), CreatedAt: s.timestamp()}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create service account: %w", err)
	}
	s.log.Info("service account created", "account_id", id, "tenant_id", t.TenantID)
	a := accountOf(t)
	a.Password = string(password)
	return a, nil
}

func validateAccountName(name string) error {
	return otos.ValidateName("name", name)
}

// ServiceAccounts lists the scope's service accounts.
func (s *Service) ServiceAccounts(ctx context.Context, sc Scope, p otos.Page) ([]*ServiceAccount, string, error) {
	ts, next, err := s.store.Tokens(ctx, otos.TokenFilter{TenantID: string(sc), Role: otos.RoleService, Page: p})
	if err != nil {
		return nil, "", err
	}
	as := make([]*ServiceAccount, len(ts))
	for i, t := range ts {
		as[i] = accountOf(t)
	}
	return as, next, nil
}

// RevokeServiceAccount revokes a service account and drops its sessions.
func (s *Service) RevokeServiceAccount(ctx context.Context, sc Scope, id string) (*ServiceAccount, error) {
	t, err := s.store.Token(ctx, id)
	if otos.ErrorCode(err) == otos.ENOTFOUND || err == nil && (t.Role != otos.RoleService || !sc.owns(t.TenantID)) {
		return nil, notFound("service account")
	}
	if err != nil {
		return nil, err
	}
	t, err = s.store.RevokeToken(ctx, id, s.timestamp())
	if err != nil {
		return nil, err
	}
	s.log.Info("service account revoked", "account_id", id)
	s.revoked(id)
	return accountOf(t), nil
}

// authenticateAccount checks a service account's MQTT password.
func (s *Service) authenticateAccount(ctx context.Context, id, password string) (*Session, error) {
	t, err := s.store.TokenByHash(ctx, otos.TokenHash(otos.Secret(password)))
	if err != nil {
		return nil, ifNotFound(err, badCredentials())
	}
	if t.Role != otos.RoleService || !t.Active(s.now()) || subtle.ConstantTimeCompare([]byte(t.ID), []byte(id)) != 1 {
		return nil, badCredentials()
	}
	return &Session{TenantID: t.TenantID, AccountID: t.ID}, nil
}

// AuditID names the account in the audit trail.
func (a *ServiceAccount) AuditID() string { return a.ID }

// AuditTenant names the account's tenant in the audit trail.
func (a *ServiceAccount) AuditTenant() string { return a.TenantID }
