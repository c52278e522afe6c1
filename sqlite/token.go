package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/otos-iot/otos"
)

// CreateToken inserts t. ECONFLICT if its id or hash is taken, ENOTFOUND if
// its tenant does not exist.
func (d *DB) CreateToken(ctx context.Context, t *otos.Token) error {
	_, err := d.exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, nullString(t.TenantID), t.Role, t.Name, t.Hash, micros(t.CreatedAt),
		nullMicros(t.ExpiresAt), nullMicros(t.RevokedAt))
	return d.fail(ctx, "create token", err,
		ref{table: "tenants", id: t.TenantID, field: "tenant_id", name: "tenant"})
}

// Token returns the token with this id; ENOTFOUND if there is none.
func (d *DB) Token(ctx context.Context, id string) (*otos.Token, error) {
	t, err := scanToken(d.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, d.fail(ctx, "get token", err)
}

// TokenByHash returns the token with this hash, active or not; ENOTFOUND if
// there is none.
func (d *DB) TokenByHash(ctx context.Context, hash []byte) (*otos.Token, error) {
	t, err := scanToken(d.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, d.fail(ctx, "get token", err)
}

// RevokeTokensByName revokes, at now, every token with this name that is
// active at now. It is not an error if there is none.
func (d *DB) RevokeTokensByName(ctx context.Context, name string, now time.Time) error {
	_, err := d.exec(ctx, `UPDATE tokens SET revoked_at = ?
		WHERE name = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
		micros(now), name, micros(now))
	return d.fail(ctx, "revoke tokens", err)
}

// Tokens lists tokens in creation order, filtered by tenant and role.
func (d *DB) Tokens(ctx context.Context, f otos.TokenFilter) ([]*otos.Token, string, error) {
	if err := f.Page.Validate(); err != nil {
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
	var t *otos.Token
	err := d.writeRow(ctx, nil, func(row scanner) (err error) {
		t, err = scanToken(row)
		return err
	}, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING `+tokenColumns, micros(now), id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, d.fail(ctx, "revoke token", err)
}
