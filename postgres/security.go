package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
)

// AllowDevices puts numbers on the template's allow-list in one statement
// and returns how many were not on it yet; the events are written when at
// least one was. ENOTFOUND for an unknown template.
func (d *DB) AllowDevices(ctx context.Context, templateID string, numbers []string, now time.Time, events ...*otos.Event) (int, error) {
	if err := checkText("template_id", templateID); err != nil {
		return 0, err
	}
	for _, n := range numbers {
		if err := checkText("device_number", n); err != nil {
			return 0, err
		}
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	added := 0
	err := d.txEvents(ctx, func(q querier) ([]*otos.Event, error) {
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM templates WHERE id = $1`, templateID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, notFound("template")
			}
			return nil, err
		}
		if len(numbers) == 0 {
			return nil, nil
		}
		tag, err := q.Exec(ctx, `INSERT INTO allowlist (template_id, device_number, created_at)
			SELECT $1, n, $3 FROM unnest($2::text[]) AS n ON CONFLICT DO NOTHING`, templateID, numbers, now)
		if err != nil {
			return nil, err
		}
		if added = int(tag.RowsAffected()); added == 0 {
			return nil, nil
		}
		return events, nil
	})
	if err != nil {
		return 0, d.fail("allow devices", err)
	}
	return added, nil
}

// Allowed reports whether number is on the template's allow-list.
// Allowlist lists the template's allow-listed device numbers in byte order.
func (d *DB) Allowlist(ctx context.Context, templateID string, p otos.Page) ([]string, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	after, err := otos.DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if err := checkText("template_id", templateID, "cursor", after); err != nil {
		return nil, "", err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT device_number FROM allowlist WHERE template_id = $1 AND device_number COLLATE "C" > $2
		ORDER BY device_number COLLATE "C" LIMIT $3`, templateID, after, p.Limit+1)
	if err != nil {
		return nil, "", d.fail("list allow-list", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, "", d.fail("list allow-list", err)
	}
	if len(out) > p.Limit {
		return out[:p.Limit], otos.EncodeCursor(out[p.Limit-1]), nil
	}
	return out, "", nil
}

func (d *DB) Allowed(ctx context.Context, templateID, number string) (bool, error) {
	if err := checkText("template_id", templateID, "device_number", number); err != nil {
		return false, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var one int
	err := d.pool.QueryRow(ctx, `SELECT 1 FROM allowlist WHERE template_id = $1 AND device_number = $2`,
		templateID, number).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, d.fail("check allow-list", err)
}

// UseNonce records nonce for the template until expires; ECONFLICT if it is
// recorded and not expired at now. The insert decides between concurrent
// uses on any node. Expired nonces are dropped on the way, so the table
// holds about one window of requests.
func (d *DB) UseNonce(ctx context.Context, templateID, nonce string, expires, now time.Time) error {
	if err := checkText("template_id", templateID, "nonce", nonce); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `INSERT INTO nonces (template_id, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (template_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
		WHERE nonces.expires_at <= $4`, templateID, nonce, expires, now)
	if err != nil {
		return d.fail("use nonce", err)
	}
	if tag.RowsAffected() == 0 {
		return otos.Errorf(otos.ECONFLICT, "nonce already used")
	}
	if _, err := d.pool.Exec(ctx, `DELETE FROM nonces WHERE expires_at <= $1`, now); err != nil {
		return d.fail("drop expired nonces", err)
	}
	return nil
}

// AppendAudit stores records in one transaction. Text that PostgreSQL
// cannot hold (NUL, invalid UTF-8) is stored with U+FFFD in its place.
func (d *DB) AppendAudit(ctx context.Context, rs []*otos.AuditRecord) error {
	if len(rs) == 0 {
		return nil
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	// An audit record tells what was sent, even what PostgreSQL cannot
	// hold: such text is kept with U+FFFD in place of the bytes, rather than
	// the whole batch refused. A retried batch whose first commit succeeded
	// unseen must not fail on its own rows: a record's id is its identity.
	// One statement for the batch: PostgreSQL plans and runs it once.
	n := len(rs)
	ids, kinds, actors, actions, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	tenants, templates, numbers, targets, addrs := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	ats, codes, counts := make([]time.Time, n), make([]int32, n), make([]int32, n)
	for i, r := range rs {
		ids[i], kinds[i], actors[i], actions[i], details[i] =
			storable(r.ID), storable(string(r.Kind)), storable(r.Actor), storable(r.Action), storable(r.Detail)
		tenants[i], templates[i], numbers[i], targets[i], addrs[i] = optional(storable(r.TenantID)),
			optional(storable(r.TemplateID)), optional(storable(r.DeviceNumber)), optional(storable(r.Target)),
			optional(storable(r.ClientAddr))
		ats[i], codes[i], counts[i] = r.At, int32(r.Code), int32(max(r.Count, 1))
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO audit (`+auditColumns+`)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::integer[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::integer[])
		ON CONFLICT (id) DO NOTHING`,
		ids, ats, kinds, tenants, actors, actions, codes, templates, numbers, targets, addrs, details, counts)
	return d.fail("append audit", err)
}

// Audit lists audit records in id (time) order, filtered.
func (d *DB) Audit(ctx context.Context, f otos.AuditFilter) ([]*otos.AuditRecord, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkText("tenant_id", f.TenantID, "device_number", f.DeviceNumber, "template_id", f.TemplateID); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("device_number", f.DeviceNumber)
	w.eq("template_id", f.TemplateID)
	if !f.Since.IsZero() {
		w.add("at >= $?", f.Since)
	}
	return list(ctx, d, "list audit", auditColumns, "audit", w, f.Page, scanAudit,
		func(r *otos.AuditRecord) string { return r.ID })
}

// PruneAudit deletes the records from before and returns how many.
func (d *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `DELETE FROM audit WHERE at < $1`, before)
	if err != nil {
		return 0, d.fail("prune audit", err)
	}
	return tag.RowsAffected(), nil
}
