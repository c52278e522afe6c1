package provision

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
)

// CreateTenant creates a tenant. Only the system administrator may:
// EFORBIDDEN for a tenant's token.
func (s *Service) CreateTenant(ctx context.Context, sc Scope, name string) (*otos.Tenant, error) {
	if sc != "" {
		return nil, otos.Errorf(otos.EFORBIDDEN, "Only the system administrator may create tenants")
	}
	if err := otos.ValidateName("name", name); err != nil {
		return nil, err
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	t := &otos.Tenant{ID: id, Name: name, CreatedAt: s.timestamp()}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	s.log.Info("tenant created", "tenant_id", t.ID)
	return t, nil
}

// Tenant returns tenant id if the scope may see it: the system administrator
// sees every tenant, a tenant's token only its own.
func (s *Service) Tenant(ctx context.Context, sc Scope, id string) (*otos.Tenant, error) {
	if !sc.owns(id) {
		return nil, notFound("tenant")
	}
	return s.store.Tenant(ctx, id)
}

// Tenants lists the tenants the scope may see: all of them for the system
// administrator, its own for a tenant's token.
func (s *Service) Tenants(ctx context.Context, sc Scope, p otos.Page) ([]*otos.Tenant, string, error) {
	if sc == "" {
		return s.store.Tenants(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	if p.Cursor != "" {
		_, err := otos.DecodeCursor(p.Cursor)
		return nil, "", err // the one tenant was on the first page
	}
	t, err := s.store.Tenant(ctx, string(sc))
	if err != nil {
		return nil, "", err
	}
	return []*otos.Tenant{t}, "", nil
}

// CreationScope returns the scope in which sc creates an object whose
// request names tenantID. An empty tenantID keeps sc. The system
// administrator may name any existing tenant (EINVALID on tenant_id for an
// unknown one); a tenant's token only its own (EFORBIDDEN otherwise, whether
// or not the other tenant exists, so that the answer tells nothing about it).
func (s *Service) CreationScope(ctx context.Context, sc Scope, tenantID string) (Scope, error) {
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
	_, err := s.store.Tenant(ctx, tenantID)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return "", otos.FieldError("tenant_id", otos.ReasonValue, "tenant_id names no tenant")
	}
	if err != nil {
		return "", err
	}
	return Scope(tenantID), nil
}
