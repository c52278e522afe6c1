package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storetypes"
)

// The column lists of each entity, in the order its scan function reads them.
const (
	tenantColumns = `id, name, created_at`
	// templateColumns computes device_count from the counting rows (see the
	// schema); templateInsertColumns are the stored columns.
	templateColumns = `id, tenant_id, name, device_type, voucher_type, registration, reregistration,
		auth_mode, max_devices, rate_limit,
		(SELECT coalesce(sum(n), 0)::bigint FROM template_counts c WHERE c.template_id = templates.id) AS device_count,
		created_at, updated_at, sub_templates, clone_action, rotation_overlap, voucher_lifetime`
	templateInsertColumns = `id, tenant_id, name, device_type, voucher_type, registration, reregistration,
		auth_mode, max_devices, rate_limit, created_at, updated_at, sub_templates, clone_action,
		rotation_overlap, voucher_lifetime`
	productColumns = `id, tenant_id, template_id, name, product_key, created_at`
	// deviceColumns are deviceInsertColumns, what a new device is stored
	// with, and then what only its voucher's later life writes (rotation and
	// its request), which an insert leaves NULL.
	deviceInsertColumns = `id, tenant_id, template_id, product_id, parent_id, device_number, name, sub_device_addr, status,
		credential_lookup, password_hash, created_at, updated_at, first_connected_at, last_seen_at, online,
		expires_at, hardware_hash, hardware_key`
	deviceColumns = deviceInsertColumns + `,
		prev_lookup, prev_password_hash, prev_until, rotated_at, rotation_requested_at`
	tokenColumns = `id, tenant_id, role, name, hash, created_at, expires_at, revoked_at`
	auditColumns = `id, at, kind, tenant_id, actor, action, code, template_id, device_number, target, client_addr, detail, count`
)

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanTenant reads a row of tenantColumns.
func scanTenant(s scanner) (*otos.Tenant, error) {
	var t otos.Tenant
	if err := s.Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// scanTemplate reads a row of templateColumns.
func scanTemplate(s scanner) (*otos.Template, error) {
	var t otos.Template
	var subs string
	if err := s.Scan(&t.ID, &t.TenantID, &t.Name, &t.DeviceType, &t.VoucherType, &t.Registration,
		&t.Reregistration, &t.AuthMode, &t.MaxDevices, &t.RateLimit, &t.DeviceCount, &t.CreatedAt, &t.UpdatedAt, &subs,
		&t.CloneAction, &t.RotationOverlap, &t.VoucherLifetime); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	t.SubTemplates = storetypes.SplitList[string](subs)
	return &t, nil
}

// scanProduct reads a row of productColumns.
func scanProduct(s scanner) (*otos.Product, error) {
	var p otos.Product
	if err := s.Scan(&p.ID, &p.TenantID, &p.TemplateID, &p.Name, &p.ProductKey, &p.CreatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

// scanDevice reads a row of deviceColumns.
func scanDevice(s scanner) (*otos.Device, error) {
	var d otos.Device
	var product, parent, addr *string
	if err := s.Scan(&d.ID, &d.TenantID, &d.TemplateID, &product, &parent, &d.DeviceNumber, &d.Name, &addr,
		&d.Status, &d.Credential.Lookup, &d.Credential.PasswordHash, &d.CreatedAt, &d.UpdatedAt,
		&d.FirstConnectedAt, &d.LastSeenAt, &d.Online, &d.VoucherExpiresAt, &d.Hardware.IDHash, &d.Hardware.PublicKey,
		&d.Previous.Lookup, &d.Previous.PasswordHash, &d.PreviousUntil, &d.RotatedAt, &d.RotationRequestedAt); err != nil {
		return nil, err
	}
	d.VoucherExpiresAt, d.PreviousUntil = utcPtr(d.VoucherExpiresAt), utcPtr(d.PreviousUntil)
	d.RotatedAt, d.RotationRequestedAt = utcPtr(d.RotatedAt), utcPtr(d.RotationRequestedAt)
	d.ProductID, d.ParentID, d.SubDeviceAddr = deref(product), deref(parent), deref(addr)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	d.FirstConnectedAt, d.LastSeenAt = utcPtr(d.FirstConnectedAt), utcPtr(d.LastSeenAt)
	return &d, nil
}

// scanToken reads a row of tokenColumns.
func scanToken(s scanner) (*otos.Token, error) {
	var t otos.Token
	var tenant *string
	if err := s.Scan(&t.ID, &tenant, &t.Role, &t.Name, &t.Hash, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt); err != nil {
		return nil, err
	}
	t.TenantID = deref(tenant)
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt, t.RevokedAt = utcPtr(t.ExpiresAt), utcPtr(t.RevokedAt)
	return &t, nil
}

// scanAudit reads a row of auditColumns.
func scanAudit(s scanner) (*otos.AuditRecord, error) {
	var r otos.AuditRecord
	var tenant, tpl, number, target, addr *string
	var count int32
	if err := s.Scan(&r.ID, &r.At, &r.Kind, &tenant, &r.Actor, &r.Action, &r.Code, &tpl, &number, &target,
		&addr, &r.Detail, &count); err != nil {
		return nil, err
	}
	r.At, r.Count = r.At.UTC(), int(count)
	r.TenantID, r.TemplateID, r.DeviceNumber, r.Target, r.ClientAddr =
		deref(tenant), deref(tpl), deref(number), deref(target), deref(addr)
	return &r, nil
}

// deref is the optional string that p holds: "" for NULL.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// utcPtr is the optional time p, in UTC.
func utcPtr(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	t := p.UTC()
	return &t
}

// nullString is the stored form of an optional string: NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes is the stored form of an optional hash: NULL for empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullTime is the stored form of an optional time: NULL for nil.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// where is the conjunction of a list's filter conditions, with numbered
// parameters.
type where struct {
	conds []string
	args  []any
}

// add adds a condition whose one parameter is written as $?.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(w.args))))
}

// eq adds "col = value" unless value is empty, which matches anything.
func (w *where) eq(col, value string) {
	if value != "" {
		w.add(col+" = $?", value)
	}
}

// String returns the WHERE clause, or "" without conditions.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// list returns one page of `SELECT cols FROM table` under w, in id order,
// and the cursor of the next page. It reads one row more than the page holds
// to learn whether there is a next page. p must have been validated, and
// the filter's values checked with checkText.
func list[T any](ctx context.Context, d *DB, op, cols, table string, w where, p otos.Page,
	scan func(scanner) (T, error), id func(T) string) ([]T, string, error) {
	after, err := otos.DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if err := checkText("cursor", after); err != nil {
		return nil, "", otos.FieldError("cursor", otos.ReasonValue, "cursor is not valid; pass next_cursor from the previous page")
	}
	if after != "" {
		w.add("id > $?", after)
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	w.args = append(w.args, p.Limit+1)
	q := fmt.Sprintf(`SELECT %s FROM %s%s ORDER BY id LIMIT $%d`, cols, table, w.String(), len(w.args))
	rows, err := d.pool.Query(ctx, q, w.args...)
	if err != nil {
		return nil, "", d.fail(op, err)
	}
	defer rows.Close()
	items := make([]T, 0, min(p.Limit+1, 64))
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, "", d.fail(op, err)
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		return nil, "", d.fail(op, err)
	}
	next := ""
	if len(items) > p.Limit {
		items = items[:p.Limit]
		next = otos.EncodeCursor(id(items[len(items)-1]))
	}
	return items, next, nil
}
