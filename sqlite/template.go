package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storetypes"
)

// CreateTemplate inserts t with its first secret s, atomically. ECONFLICT if
// the template id or the secret's hash is taken, ENOTFOUND if the tenant does
// not exist.
func (d *DB) CreateTemplate(ctx context.Context, t *otos.Template, s otos.TemplateSecret, events ...*otos.Event) error {
	rereg, recovery := reregistration(t.Reregistration)
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO templates (`+templateColumns+`, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM templates))`,
			t.ID, t.TenantID, t.Name, t.DeviceType, t.VoucherType, t.Registration, rereg,
			t.AuthMode, t.MaxDevices, t.RateLimit, micros(t.CreatedAt), micros(t.UpdatedAt),
			storetypes.JoinList(t.SubTemplates), t.CloneAction, t.RotationOverlap, t.VoucherLifetime, recovery); err != nil {
			return err
		}
		if err := insertSecret(ctx, tx, t.ID, s, t.CreatedAt); err != nil {
			return err
		}
		d.emit(events)
		return nil
	})
	return d.fail(ctx, "create template", err,
		ref{table: "tenants", id: t.TenantID, field: "tenant_id", name: "tenant"})
}

// insertSecret stores s as a secret of template templateID.
func insertSecret(ctx context.Context, tx *sql.Tx, templateID string, s otos.TemplateSecret, now time.Time) error {
	var expires any
	if !s.ExpiresAt.IsZero() {
		expires = micros(s.ExpiresAt)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO template_secrets (hash, template_id, sealed, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, s.Hash, templateID, s.Sealed, micros(now), expires)
	return err
}

// Template returns the template with this id; ENOTFOUND if there is none.
func (d *DB) Template(ctx context.Context, id string) (*otos.Template, error) {
	t, err := scanTemplate(d.queryRow(ctx,
		`SELECT `+templateColumns+` FROM templates WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("template")
	}
	return t, d.fail(ctx, "get template", err)
}

// Templates lists templates in id (creation) order with the next page's
// cursor, "" on the last page. EINVALID for a bad limit or cursor.
func (d *DB) Templates(ctx context.Context, f otos.TemplateFilter) ([]*otos.Template, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	return list(ctx, d, "list templates", templateColumns, "templates", w, f.Page, scanTemplate,
		func(t *otos.Template) string { return t.ID })
}

// UpdateTemplate stores t's name, registration, reregistration, auth mode,
// limits, sub-device templates and UpdatedAt.
func (d *DB) UpdateTemplate(ctx context.Context, t *otos.Template, events ...*otos.Event) error {
	rereg, recovery := reregistration(t.Reregistration)
	res, err := d.execEmit(ctx, events, `UPDATE templates
		SET name = ?, registration = ?, reregistration = ?, auth_mode = ?, max_devices = ?, rate_limit = ?,
		updated_at = ?, sub_templates = ?, clone_action = ?, rotation_overlap = ?, voucher_lifetime = ?,
		hardware_recovery = ? WHERE id = ?`,
		t.Name, t.Registration, rereg, t.AuthMode, t.MaxDevices, t.RateLimit, micros(t.UpdatedAt),
		storetypes.JoinList(t.SubTemplates), t.CloneAction, t.RotationOverlap, t.VoucherLifetime, recovery, t.ID)
	return d.fail(ctx, "update template", affected(res, err, "template"))
}

// affected returns err, or ENOTFOUND naming object if the statement changed
// no row.
func affected(res sql.Result, err error, object string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(object)
	}
	return nil
}

// TemplateBySecret returns the template that has a secret with this hash,
// current or within its grace period at now; ENOTFOUND if there is none.
func (d *DB) TemplateBySecret(ctx context.Context, hash []byte, now time.Time) (*otos.Template, error) {
	t, err := scanTemplate(d.queryRow(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE id = (SELECT template_id FROM template_secrets
			WHERE hash = ? AND (expires_at IS NULL OR expires_at > ?))`, hash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("template secret")
	}
	return t, d.fail(ctx, "get template by secret", err)
}

// TemplateSecrets returns the template's secrets valid at now, the current
// one first; ENOTFOUND if the template does not exist.
func (d *DB) TemplateSecrets(ctx context.Context, templateID string, now time.Time) ([]otos.TemplateSecret, error) {
	rows, err := d.query(ctx, `SELECT s.hash, s.sealed, s.expires_at FROM templates t
		LEFT JOIN template_secrets s ON s.template_id = t.id AND (s.expires_at IS NULL OR s.expires_at > ?)
		WHERE t.id = ? ORDER BY s.expires_at IS NOT NULL, s.expires_at DESC`, micros(now), templateID)
	if err != nil {
		return nil, d.fail(ctx, "get template secrets", err)
	}
	defer rows.Close()
	found := false
	var out []otos.TemplateSecret
	for rows.Next() {
		found = true
		var s otos.TemplateSecret
		var expires sql.NullInt64
		if err := rows.Scan(&s.Hash, &s.Sealed, &expires); err != nil {
			return nil, d.fail(ctx, "get template secrets", err)
		}
		if s.Hash == nil {
			continue // the template, without a valid secret
		}
		if expires.Valid {
			s.ExpiresAt = fromMicros(expires.Int64)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, d.fail(ctx, "get template secrets", err)
	}
	if !found {
		return nil, notFound("template")
	}
	return out, nil
}

// RotateSecret makes s the template's current secret, in one transaction.
// Secrets expired at now are dropped; the others stay valid until graceUntil
// (never longer than they already were), or are dropped at once when
// graceUntil is not after now. ENOTFOUND if the template does not exist,
// ECONFLICT if s's hash is taken.
func (d *DB) RotateSecret(ctx context.Context, templateID string, s otos.TemplateSecret, graceUntil, now time.Time, events ...*otos.Event) error {
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM templates WHERE id = ?`, templateID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("template")
		} else if err != nil {
			return err
		}
		if graceUntil.After(now) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM template_secrets
				WHERE template_id = ? AND expires_at <= ?`, templateID, micros(now)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE template_secrets SET expires_at = ?
				WHERE template_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
				micros(graceUntil), templateID, micros(graceUntil)); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `DELETE FROM template_secrets WHERE template_id = ?`, templateID); err != nil {
			return err
		}
		s.ExpiresAt = time.Time{}
		if err := insertSecret(ctx, tx, templateID, s, now); err != nil {
			return err
		}
		d.emit(events)
		return nil
	})
	return d.fail(ctx, "rotate template secret", err)
}
