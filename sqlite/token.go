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
	_, err := d.write.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, nullString(t.TenantID), t.Role, t.Name, t.Hash, micros(t.CreatedAt),
		nullMicros(t.ExpiresAt), nullMicros(t.RevokedAt))
	return d.fail(ctx, "create token", err,
		ref{table: "tenants", id: t.TenantID, field: "tenant_id", name: "tenant"})
}

// TokenByHash returns the token with this hash, active or not; ENOTFOUND if
// there is none.
func (d *DB) TokenByHash(ctx context.Context, hash []byte) (*otos.Token, error) {
	t, err := scanToken(d.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, d.fail(ctx, "get token", err)
}

// RevokeTokensByName revokes, at now, every token with this name that is
// active at now. It is not an error if there is none.
func (d *DB) RevokeTokensByName(ctx context.Context, name string, now time.Time) error {
	_, err := d.write.ExecContext(ctx, `UPDATE tokens SET revoked_at = ?
		WHERE name = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
		micros(now), name, micros(now))
	return d.fail(ctx, "revoke tokens", err)
}
