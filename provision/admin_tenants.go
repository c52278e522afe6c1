package provision

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
)

// CreateTenant implements otos.Admin.
func (a *Admin) CreateTenant(ctx context.Context, p *otos.Principal, name string) (_ *otos.Tenant, err error) {
	c, err := a.begin(p, otos.ActionTenantCreate, "")
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	if p.Scope != "" {
		return nil, otos.Errorf(otos.EFORBIDDEN, "Only the system administrator may create tenants")
	}
	if err := otos.ValidateName("name", name); err != nil {
		return nil, err
	}
	id, err := a.newID()
	if err != nil {
		return nil, err
	}
	t := &otos.Tenant{ID: id, Name: name, CreatedAt: a.timestamp()}
	c.target, c.tenant = t.ID, t.ID
	if err := a.store.CreateTenant(ctx, t); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	a.log.Info("tenant created", "tenant_id", t.ID)
	return t, nil
}

// Tenant implements otos.Admin: the system administrator sees every
// tenant, a tenant's token only its own.
func (a *Admin) Tenant(ctx context.Context, p *otos.Principal, id string) (*otos.Tenant, error) {
	if !p.Scope.Owns(id) {
		return nil, notFound("tenant")
	}
	return a.store.Tenant(ctx, id)
}

// Tenants implements otos.Admin: all of them for the system administrator,
// its own for a tenant's token.
func (a *Admin) Tenants(ctx context.Context, p *otos.Principal, pg otos.Page) ([]*otos.Tenant, string, error) {
	if p.Scope == "" {
		return a.store.Tenants(ctx, pg)
	}
	if err := pg.Validate(); err != nil {
		return nil, "", err
	}
	if pg.Cursor != "" {
		_, err := otos.DecodeCursor(pg.Cursor)
		return nil, "", err // the one tenant was on the first page
	}
	t, err := a.store.Tenant(ctx, string(p.Scope))
	if err != nil {
		return nil, "", err
	}
	return []*otos.Tenant{t}, "", nil
}

// creationScope returns the scope in which sc creates an object whose
// request names tenantID. An empty tenantID keeps sc. The system
// administrator may name any existing tenant (EINVALID on tenant_id for an
// unknown one); a tenant's token only its own (EFORBIDDEN otherwise, whether
// or not the other tenant exists, so that the answer tells nothing about it).
func (a *Admin) creationScope(ctx context.Context, sc otos.Scope, tenantID string) (otos.Scope, error) {
	switch {
	case tenantID == "" || string(sc) == tenantID:
		return sc, nil
	case sc != "":
		return "", &otos.Error{Code: otos.EFORBIDDEN, Field: "tenant_id", Reason: otos.ReasonValue,
			Message: "tenant_id may only name your own tenant"}
	}
	if _, err := uuid.Parse(tenantID); err != nil {
		return "", otos.FieldError("tenant_id", otos.ReasonValue, "tenant_id must be a tenant's id, a UUID")
	}
	_, err := a.store.Tenant(ctx, tenantID)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return "", otos.FieldError("tenant_id", otos.ReasonValue, "tenant_id names no tenant")
	}
	if err != nil {
		return "", err
	}
	return otos.Scope(tenantID), nil
}

// AuditRecords implements otos.Admin: a tenant's own records, or every
// record (including refused registrations that matched no template, hence
// no tenant) for the system administrator. Records still queued are written
// first, so that a change shows in the list made right after it.
func (a *Admin) AuditRecords(ctx context.Context, p *otos.Principal, f otos.AuditFilter) ([]*otos.AuditRecord, string, error) {
	f.TenantID = string(p.Scope)
	a.audit.flush(ctx)
	return a.store.Audit(ctx, f)
}
