package provision

import (
	"context"
	"fmt"

	"github.com/otos-iot/otos"
)

// CreateServiceAccount implements otos.Admin.
func (a *Admin) CreateServiceAccount(ctx context.Context, p *otos.Principal, tenantID, name string) (_ *otos.ServiceAccount, err error) {
	c, err := a.begin(p, otos.ActionServiceAccountCreate, "")
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	sc, err := a.creationScope(ctx, p.Scope, tenantID)
	if err != nil {
		return nil, err
	}
	if err := otos.ValidateName("name", name); err != nil {
		return nil, err
	}
	id, err := a.newID()
	if err != nil {
		return nil, err
	}
	password, err := randomString(a.rand, passwordBytes)
	if err != nil {
		return nil, err
	}
	t := &otos.Token{ID: id, TenantID: sc.Tenant(), Role: otos.RoleService, Name: name,
		Hash: otos.TokenHash(password), CreatedAt: a.timestamp()}
	c.target, c.tenant = t.ID, t.TenantID
	if err := a.store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create service account: %w", err)
	}
	a.log.Info("service account created", "account_id", id, "tenant_id", t.TenantID)
	acct := otos.ServiceAccountOf(t)
	acct.Password = string(password)
	return acct, nil
}

// ServiceAccounts implements otos.Admin.
func (a *Admin) ServiceAccounts(ctx context.Context, p *otos.Principal, pg otos.Page) ([]*otos.ServiceAccount, string, error) {
	ts, next, err := a.store.Tokens(ctx, otos.TokenFilter{TenantID: string(p.Scope), Role: otos.RoleService, Page: pg})
	if err != nil {
		return nil, "", err
	}
	as := make([]*otos.ServiceAccount, len(ts))
	for i, t := range ts {
		as[i] = otos.ServiceAccountOf(t)
	}
	return as, next, nil
}

// RevokeServiceAccount implements otos.Admin.
func (a *Admin) RevokeServiceAccount(ctx context.Context, p *otos.Principal, id string) (_ *otos.ServiceAccount, err error) {
	c, err := a.begin(p, otos.ActionServiceAccountRevoke, id)
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	t, err := a.store.Token(ctx, id)
	if otos.ErrorCode(err) == otos.ENOTFOUND || err == nil && (t.Role != otos.RoleService || !p.Scope.Owns(t.TenantID)) {
		return nil, notFound("service account")
	}
	if err != nil {
		return nil, err
	}
	c.tenant = t.TenantID
	if t, err = a.store.RevokeToken(ctx, id, a.timestamp()); err != nil {
		return nil, err
	}
	a.log.Info("service account revoked", "account_id", id)
	a.views.revoke(id)
	return otos.ServiceAccountOf(t), nil
}

// CreateToken implements otos.Admin: a tenant's scope makes a token of that
// tenant, the system scope a system token, unless spec names a tenant.
func (a *Admin) CreateToken(ctx context.Context, p *otos.Principal, spec otos.TokenSpec) (_ *otos.AdminToken, err error) {
	c, err := a.begin(p, otos.ActionTokenCreate, "")
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	sc, err := a.creationScope(ctx, p.Scope, spec.TenantID)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	now := a.timestamp()
	expires, err := spec.Expiry(now)
	if err != nil {
		return nil, err
	}
	id, err := a.newID()
	if err != nil {
		return nil, err
	}
	token, err := a.newAdminToken()
	if err != nil {
		return nil, err
	}
	t := &otos.Token{ID: id, TenantID: string(sc), Role: spec.Role, Name: spec.Name,
		Hash: otos.TokenHash(token), CreatedAt: now, ExpiresAt: expires}
	c.target, c.tenant = t.ID, t.TenantID
	if err := a.store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	a.log.Info("admin token created", "token_id", id, "tenant_id", t.TenantID, "role", string(t.Role))
	v := otos.AdminTokenOf(t)
	v.Token = string(token)
	return v, nil
}

// Tokens implements otos.Admin: the scope's admin tokens (every tenant's
// and the system's for the system scope). Service accounts, which share the
// token table, are left out, so a page may hold fewer than its limit while
// next_cursor goes on.
func (a *Admin) Tokens(ctx context.Context, p *otos.Principal, pg otos.Page) ([]*otos.AdminToken, string, error) {
	ts, next, err := a.store.Tokens(ctx, otos.TokenFilter{TenantID: string(p.Scope), Page: pg})
	if err != nil {
		return nil, "", err
	}
	out := make([]*otos.AdminToken, 0, len(ts))
	for _, t := range ts {
		if otos.AdminRole(t.Role) {
			out = append(out, otos.AdminTokenOf(t))
		}
	}
	return out, next, nil
}

// RevokeToken implements otos.Admin: ENOTFOUND unless id is an admin token
// the scope may see (a tenant's token sees neither system tokens nor
// another tenant's, and service accounts have their own route).
func (a *Admin) RevokeToken(ctx context.Context, p *otos.Principal, id string) (_ *otos.AdminToken, err error) {
	c, err := a.begin(p, otos.ActionTokenRevoke, id)
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	t, err := a.store.Token(ctx, id)
	if otos.ErrorCode(err) == otos.ENOTFOUND || err == nil && (!otos.AdminRole(t.Role) || !p.Scope.Owns(t.TenantID)) {
		return nil, notFound("token")
	}
	if err != nil {
		return nil, err
	}
	c.tenant = t.TenantID
	if t, err = a.store.RevokeToken(ctx, id, a.timestamp()); err != nil {
		return nil, err
	}
	a.log.Info("admin token revoked", "token_id", id)
	return otos.AdminTokenOf(t), nil
}

// newAdminToken generates an admin token: the prefix and 256 random bits.
func (a *Admin) newAdminToken() (otos.Secret, error) {
	token, err := randomString(a.rand, adminTokenBytes)
	if err != nil {
		return "", err
	}
	return otos.AdminTokenPrefix + token, nil
}
