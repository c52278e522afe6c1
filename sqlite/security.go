package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/otos-iot/otos"
)

// AllowDevices puts numbers on the template's allow-list in one transaction
// and returns how many were not on it yet; the events are written when at
// least one was. ENOTFOUND for an unknown template.
func (d *DB) AllowDevices(ctx context.Context, templateID string, numbers []string, now time.Time, events ...*otos.Event) (int, error) {
	added := 0
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM templates WHERE id = ?`, templateID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("template")
			}
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO allowlist (template_id, device_number, created_at)
			VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, n := range numbers {
			res, err := stmt.ExecContext(ctx, templateID, n, micros(now))
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			added += int(k)
		}
		if added > 0 {
			d.emit(events)
		}
		return nil
	})
	if err != nil {
		return 0, d.fail(ctx, "allow devices", err)
	}
	return added, nil
}

// Allowed reports whether number is on the template's allow-list.
func (d *DB) Allowed(ctx context.Context, templateID, number string) (bool, error) {
	var one int
	err := d.queryRow(ctx, `SELECT 1 FROM allowlist WHERE template_id = ? AND device_number = ?`,
		templateID, number).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, d.fail(ctx, "check allow-list", err)
}

// Allowlist lists the template's allow-listed device numbers in byte order.
func (d *DB) Allowlist(ctx context.Context, templateID string, p otos.Page) ([]string, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	after, err := otos.DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := d.query(ctx, `SELECT device_number FROM allowlist WHERE template_id = ? AND device_number > ?
		ORDER BY device_number LIMIT ?`, templateID, after, p.Limit+1)
	if err != nil {
		return nil, "", d.fail(ctx, "list allow-list", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, "", d.fail(ctx, "list allow-list", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, "", d.fail(ctx, "list allow-list", err)
	}
	return pageOf(out, p.Limit)
}

// pageOf cuts a page of limit items from out (which holds up to limit+1)
// and returns the cursor of the next page.
func pageOf(out []string, limit int) ([]string, string, error) {
	if len(out) > limit {
		return out[:limit], otos.EncodeCursor(out[limit-1]), nil
	}
	return out, "", nil
}

// UseNonce records nonce for the template until expires; ECONFLICT if it is
// recorded and not expired at now. Expired nonces of the template are
// dropped on the way, so the table holds about one window of requests.
func (d *DB) UseNonce(ctx context.Context, templateID, nonce string, expires, now time.Time) error {
	res, err := d.exec(ctx, `INSERT INTO nonces (template_id, nonce, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (template_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
		WHERE nonces.expires_at <= ?`, templateID, nonce, micros(expires), micros(now))
	if err != nil {
		return d.fail(ctx, "use nonce", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return otos.Errorf(otos.ECONFLICT, "nonce already used")
	}
	if _, err := d.exec(ctx, `DELETE FROM nonces WHERE expires_at <= ?`, micros(now)); err != nil {
		return d.fail(ctx, "drop expired nonces", err)
	}
	return nil
}

// auditColumns reads an audit record's stored form (see migration 0010);
// auditInsert is the insert of one.
const (
	auditColumns = `id, at, kind, tenant_id, COALESCE(actor, client_addr, ''), action, code, template_id,
		device_number, target, client_addr, detail, count`
	auditInsert = `INSERT INTO audit (id, at, kind, tenant_id, actor, action, code, template_id, device_number,
		target, client_addr, detail, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
)

// auditKinds are the stored forms of the audit kinds, by their index.
var auditKinds = []otos.AuditKind{otos.AuditRegistration, otos.AuditAdmin, otos.AuditSession}

// auditChunk is how many audit records one write of the group commit
// holds. A quarter-second's records of a registration storm (thousands) in
// one write would hold up the registrations queued behind it for tens of
// milliseconds; in chunks they share batches with them.
const auditChunk = 256

// AppendAudit stores records, in writes of up to auditChunk records.
func (d *DB) AppendAudit(ctx context.Context, rs []*otos.AuditRecord) error {
	for chunk := range slices.Chunk(rs, auditChunk) {
		if err := d.appendAudit(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (d *DB) appendAudit(ctx context.Context, rs []*otos.AuditRecord) error {
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := d.txStmt(ctx, tx, auditInsert)
		if err != nil {
			return err
		}
		for _, r := range rs {
			kind := slices.Index(auditKinds, r.Kind) // -1, which the CHECK refuses, for another kind
			var actor any = r.Actor
			if r.Actor == r.ClientAddr && r.Actor != "" {
				actor = nil // the client's own address, as for every device
			}
			if _, err := stmt.ExecContext(ctx, key(r.ID), micros(r.At), kind, nullKey(r.TenantID), actor, r.Action,
				r.Code, nullKey(r.TemplateID), nullString(r.DeviceNumber), nullString(r.Target),
				nullString(r.ClientAddr), r.Detail, max(r.Count, 1)); err != nil {
				return err
			}
		}
		return nil
	})
	return d.fail(ctx, "append audit", err)
}

// Audit lists audit records in time order, filtered.
func (d *DB) Audit(ctx context.Context, f otos.AuditFilter) ([]*otos.AuditRecord, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	w := where{keyed: true}
	w.key("tenant_id", f.TenantID)
	w.eq("device_number", f.DeviceNumber)
	w.key("template_id", f.TemplateID)
	if !f.Since.IsZero() {
		w.conds = append(w.conds, "at >= ?")
		w.args = append(w.args, micros(f.Since))
	}
	return list(ctx, d, "list audit", auditColumns, "audit", w, f.Page, scanAudit,
		func(r *otos.AuditRecord) string { return r.ID })
}

func scanAudit(s scanner) (*otos.AuditRecord, error) {
	var r otos.AuditRecord
	var at int64
	var kind int
	var number, target, addr sql.NullString
	if err := s.Scan(keyCol{&r.ID}, &at, &kind, keyCol{&r.TenantID}, &r.Actor, &r.Action, &r.Code,
		keyCol{&r.TemplateID}, &number, &target, &addr, &r.Detail, &r.Count); err != nil {
		return nil, err
	}
	if kind < 0 || kind >= len(auditKinds) {
		return nil, fmt.Errorf("sqlite: audit kind %d", kind)
	}
	r.Kind = auditKinds[kind]
	r.At = fromMicros(at)
	r.DeviceNumber, r.Target, r.ClientAddr = number.String, target.String, addr.String
	return &r, nil
}

// PruneAudit deletes the records from before and returns how many.
// Records are kept in id order, which is time order (UUIDv7), so the oldest
// come first: it deletes them in chunks from the start, each chunk a short write
// between registrations, instead of scanning the table under one lock.
func (d *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	return d.pruneOldest(ctx, "prune audit",
		`DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT ?) AND at < ?`, before)
}

// pruneOldest runs query, a delete of the first chunk of rows (its first
// argument) that are older than its second, until a chunk deletes fewer:
// each chunk is a short write between others.
func (d *DB) pruneOldest(ctx context.Context, op, query string, before time.Time) (int64, error) {
	const chunk = 5000
	var total int64
	for {
		res, err := d.exec(ctx, query, chunk, micros(before))
		if err != nil {
			return total, d.fail(ctx, op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < chunk {
			return total, nil
		}
	}
}

// Tenants lists tenants in creation order.
func (d *DB) Tenants(ctx context.Context, p otos.Page) ([]*otos.Tenant, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	return list(ctx, d, "list tenants", tenantColumns, "tenants", where{}, p, scanTenant,
		func(tn *otos.Tenant) string { return tn.ID })
}
