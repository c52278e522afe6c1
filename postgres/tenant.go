package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
)

// CreateTenant inserts t; ECONFLICT if its id is taken.
func (d *DB) CreateTenant(ctx context.Context, t *otos.Tenant) error {
	if err := checkText("id", t.ID, "name", t.Name); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `INSERT INTO tenants (`+tenantColumns+`) VALUES ($1, $2, $3)`,
		t.ID, t.Name, t.CreatedAt)
	return d.fail("create tenant", err)
}

// Tenant returns the tenant with this id; ENOTFOUND if there is none.
func (d *DB) Tenant(ctx context.Context, id string) (*otos.Tenant, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	t, err := scanTenant(d.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("tenant")
	}
	return t, d.fail("get tenant", err)
}

// Tenants lists tenants in id (creation) order with the next page's cursor.
func (d *DB) Tenants(ctx context.Context, p otos.Page) ([]*otos.Tenant, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	return list(ctx, d, "list tenants", tenantColumns, "tenants", where{}, p, scanTenant,
		func(tn *otos.Tenant) string { return tn.ID })
}
