package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storetypes"
)

// checkTemplate checks the text fields of t.
func checkTemplate(t *otos.Template) error {
	return checkText("id", t.ID, "tenant_id", t.TenantID, "name", t.Name, "device_type", string(t.DeviceType),
		"voucher_type", string(t.VoucherType), "registration", string(t.Registration),
		"reregistration", string(t.Reregistration), "auth_mode", string(t.AuthMode))
}

// CreateTemplate inserts t with its first secret s, atomically. ECONFLICT if
// the template id or the secret's hash is taken, ENOTFOUND if the tenant does
// not exist.
func (d *DB) CreateTemplate(ctx context.Context, t *otos.Template, s otos.TemplateSecret, events ...*otos.Event) error {
	if err := checkTemplate(t); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.txEvents(ctx, func(q querier) ([]*otos.Event, error) {
		if _, err := q.Exec(ctx, `INSERT INTO templates (`+templateInsertColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			t.ID, t.TenantID, t.Name, t.DeviceType, t.VoucherType, t.Registration, t.Reregistration,
			t.AuthMode, t.MaxDevices, t.RateLimit, t.CreatedAt, t.UpdatedAt, storetypes.JoinList(t.SubTemplates),
			t.CloneAction, t.RotationOverlap, t.VoucherLifetime); err != nil {
			return nil, err
		}
		if err := insertSecret(ctx, q, t.ID, s, t.CreatedAt); err != nil {
			return nil, err
		}
		return events, nil
	})
	return d.fail("create template", err)
}

// insertSecret stores s as a secret of template templateID.
func insertSecret(ctx context.Context, q querier, templateID string, s otos.TemplateSecret, now time.Time) error {
	var expires any
	if !s.ExpiresAt.IsZero() {
		expires = s.ExpiresAt
	}
	_, err := q.Exec(ctx, `INSERT INTO template_secrets (hash, template_id, sealed, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, s.Hash, templateID, s.Sealed, now, expires)
	return err
}

// Template returns the template with this id; ENOTFOUND if there is none.
func (d *DB) Template(ctx context.Context, id string) (*otos.Template, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	t, err := scanTemplate(d.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("template")
	}
	return t, d.fail("get template", err)
}

// Templates lists templates in id (creation) order with the next page's
// cursor, "" on the last page. EINVALID for a bad limit or cursor.
func (d *DB) Templates(ctx context.Context, f otos.TemplateFilter) ([]*otos.Template, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkText("tenant_id", f.TenantID); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	return list(ctx, d, "list templates", templateColumns, "templates", w, f.Page, scanTemplate,
		func(t *otos.Template) string { return t.ID })
}

// UpdateTemplate stores t's name, registration, reregistration, auth mode,
// limits, sub-device templates, clone action, rotation overlap, voucher
// lifetime and UpdatedAt.
func (d *DB) UpdateTemplate(ctx context.Context, t *otos.Template, events ...*otos.Event) error {
	if err := checkTemplate(t); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var tag pgconn.CommandTag
	err := d.withEvents(ctx, events, func(q querier) (_ bool, err error) {
		tag, err = q.Exec(ctx, `UPDATE templates
			SET name = $1, registration = $2, reregistration = $3, auth_mode = $4, max_devices = $5, rate_limit = $6,
			updated_at = $7, sub_templates = $8, clone_action = $9, rotation_overlap = $10, voucher_lifetime = $11
			WHERE id = $12`,
			t.Name, t.Registration, t.Reregistration, t.AuthMode, t.MaxDevices, t.RateLimit, t.UpdatedAt,
			storetypes.JoinList(t.SubTemplates), t.CloneAction, t.RotationOverlap, t.VoucherLifetime, t.ID)
		return err == nil && tag.RowsAffected() > 0, err
	})
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("template")
	}
	return d.fail("update template", err)
}

// TemplateBySecret returns the template that has a secret with this hash,
// current or within its grace period at now; ENOTFOUND if there is none.
func (d *DB) TemplateBySecret(ctx context.Context, hash []byte, now time.Time) (*otos.Template, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	t, err := scanTemplate(d.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE id = (SELECT template_id FROM template_secrets
			WHERE hash = $1 AND (expires_at IS NULL OR expires_at > $2))`, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("template secret")
	}
	return t, d.fail("get template by secret", err)
}

// TemplateSecrets returns the template's secrets valid at now, the current
// one first; ENOTFOUND if the template does not exist.
func (d *DB) TemplateSecrets(ctx context.Context, templateID string, now time.Time) ([]otos.TemplateSecret, error) {
	if err := checkText("template_id", templateID); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT s.hash, s.sealed, s.expires_at FROM templates t
		LEFT JOIN template_secrets s ON s.template_id = t.id AND (s.expires_at IS NULL OR s.expires_at > $1)
		WHERE t.id = $2 ORDER BY s.expires_at IS NOT NULL, s.expires_at DESC`, now, templateID)
	if err != nil {
		return nil, d.fail("get template secrets", err)
	}
	defer rows.Close()
	found := false
	var out []otos.TemplateSecret
	for rows.Next() {
		found = true
		var s otos.TemplateSecret
		var expires *time.Time
		if err := rows.Scan(&s.Hash, &s.Sealed, &expires); err != nil {
			return nil, d.fail("get template secrets", err)
		}
		if s.Hash == nil {
			continue // the template, without a valid secret
		}
		if expires != nil {
			s.ExpiresAt = expires.UTC()
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, d.fail("get template secrets", err)
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
	if err := checkText("template_id", templateID); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.txEvents(ctx, func(q querier) ([]*otos.Event, error) {
		// FOR UPDATE: concurrent rotations of one template take turns.
		var one int
		err := q.QueryRow(ctx, `SELECT 1 FROM templates WHERE id = $1 FOR UPDATE`, templateID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound("template")
		} else if err != nil {
			return nil, err
		}
		if graceUntil.After(now) {
			if _, err := q.Exec(ctx, `DELETE FROM template_secrets
				WHERE template_id = $1 AND expires_at <= $2`, templateID, now); err != nil {
				return nil, err
			}
			if _, err := q.Exec(ctx, `UPDATE template_secrets SET expires_at = $1
				WHERE template_id = $2 AND (expires_at IS NULL OR expires_at > $1)`,
				graceUntil, templateID); err != nil {
				return nil, err
			}
		} else if _, err := q.Exec(ctx, `DELETE FROM template_secrets WHERE template_id = $1`, templateID); err != nil {
			return nil, err
		}
		s.ExpiresAt = time.Time{}
		if err := insertSecret(ctx, q, templateID, s, now); err != nil {
			return nil, err
		}
		return events, nil
	})
	return d.fail("rotate template secret", err)
}
