package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otos-iot/otos"
)

// CreateTenant inserts t; ECONFLICT if its id is taken.
func (d *DB) CreateTenant(ctx context.Context, t *otos.Tenant) error {
	_, err := d.exec(ctx, `INSERT INTO tenants (`+tenantColumns+`, seq)
		VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tenants))`,
		t.ID, t.Name, micros(t.CreatedAt))
	return d.fail(ctx, "create tenant", err)
}

// Tenant returns the tenant with this id; ENOTFOUND if there is none.
func (d *DB) Tenant(ctx context.Context, id string) (*otos.Tenant, error) {
	t, err := scanTenant(d.queryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("tenant")
	}
	return t, d.fail(ctx, "get tenant", err)
}
