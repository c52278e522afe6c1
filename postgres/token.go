package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
)

// CreateToken inserts t. ECONFLICT if its id or hash is taken, ENOTFOUND if
// its tenant does not exist.
func (d *DB) CreateToken(ctx context.Context, t *otos.Token) error {
	if err := checkText("id", t.ID, "tenant_id", t.TenantID, "role", string(t.Role), "name", t.Name); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, nullString(t.TenantID), t.Role, t.Name, t.Hash, t.CreatedAt, nullTime(t.ExpiresAt), nullTime(t.RevokedAt))
	return d.fail("create token", err)
}

// Token returns the token with this id; ENOTFOUND if there is none.
func (d *DB) Token(ctx context.Context, id string) (*otos.Token, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	return d.token(ctx, `id`, id)
}

// TokenByHash returns the token with this hash, active or not; ENOTFOUND if
// there is none.
func (d *DB) TokenByHash(ctx context.Context, hash []byte) (*otos.Token, error) {
	return d.token(ctx, `hash`, hash)
}

// token returns the token whose column col (a constant) equals value.
func (d *DB) token(ctx context.Context, col string, value any) (*otos.Token, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	t, err := scanToken(d.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE `+col+` = $1`, value))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, d.fail("get token", err)
}

// RevokeTokensByName revokes, at now, every token with this name that is
// active at now. It is not an error if there is none.
func (d *DB) RevokeTokensByName(ctx context.Context, name string, now time.Time) error {
	if err := checkText("name", name); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `UPDATE tokens SET revoked_at = $1
		WHERE name = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`, now, name)
	return d.fail("revoke tokens", err)
}

// Tokens lists tokens in creation order, filtered by tenant and role.
func (d *DB) Tokens(ctx context.Context, f otos.TokenFilter) ([]*otos.Token, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkText("tenant_id", f.TenantID, "role", string(f.Role)); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("role", string(f.Role))
	return list(ctx, d, "list tokens", tokenColumns, "tokens", w, f.Page, scanToken,
		func(t *otos.Token) string { return t.ID })
}

// RevokeToken revokes token id at now, keeping an earlier revocation time.
// ENOTFOUND for an unknown id.
func (d *DB) RevokeToken(ctx context.Context, id string, now time.Time) (*otos.Token, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	t, err := scanToken(d.pool.QueryRow(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1)
		WHERE id = $2 RETURNING `+tokenColumns, now, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, d.fail("revoke token", err)
}
