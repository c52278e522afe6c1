package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storetypes"
)

// The column lists of each entity, in the order its scan function reads them.
const (
	tenantColumns   = `id, name, created_at`
	templateColumns = `id, tenant_id, name, device_type, voucher_type, registration, reregistration,
		auth_mode, max_devices, rate_limit, device_count, created_at, updated_at, sub_templates, clone_action,
		rotation_overlap, voucher_lifetime, hardware_recovery`
	productColumns = `id, tenant_id, template_id, name, product_key, created_at`
	// deviceColumns reads a device's stored form (see migration 0010).
	deviceColumns = `id, (SELECT id FROM tenants WHERE seq = tenant_seq),
		(SELECT id FROM templates WHERE seq = template_seq), product_id, parent_id, device_number, name,
		sub_device_addr, status, credential_lookup, password_hash, created_at, updated_at, first_connected_at,
		last_seen_at, online, expires_at, prev_lookup, prev_password_hash, prev_until, rotated_at,
		rotation_requested_at, hardware_hash, hardware_key`
	tokenColumns = `id, tenant_id, role, name, hash, created_at, expires_at, revoked_at`
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanTenant reads a row of tenantColumns.
func scanTenant(s scanner) (*otos.Tenant, error) {
	var t otos.Tenant
	var created int64
	if err := s.Scan(&t.ID, &t.Name, &created); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

// scanTemplate reads a row of templateColumns.
func scanTemplate(s scanner) (*otos.Template, error) {
	var t otos.Template
	var created, updated int64
	var subs string
	var recovery bool
	if err := s.Scan(&t.ID, &t.TenantID, &t.Name, &t.DeviceType, &t.VoucherType, &t.Registration,
		&t.Reregistration, &t.AuthMode, &t.MaxDevices, &t.RateLimit, &t.DeviceCount, &created, &updated, &subs,
		&t.CloneAction, &t.RotationOverlap, &t.VoucherLifetime, &recovery); err != nil {
		return nil, err
	}
	if recovery {
		t.Reregistration = otos.ReregHardware
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	t.SubTemplates = storetypes.SplitList[string](subs)
	return &t, nil
}

// scanProduct reads a row of productColumns.
func scanProduct(s scanner) (*otos.Product, error) {
	var p otos.Product
	var created int64
	if err := s.Scan(&p.ID, &p.TenantID, &p.TemplateID, &p.Name, &p.ProductKey, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// scanDevice reads a row of deviceColumns.
func scanDevice(s scanner) (*otos.Device, error) {
	var d otos.Device
	var product, name, addr sql.NullString
	var created int64
	var enabled bool
	var updated, first, last, expires, prevUntil, rotated, requested sql.NullInt64
	if err := s.Scan(keyCol{&d.ID}, &d.TenantID, &d.TemplateID, &product, keyCol{&d.ParentID}, &d.DeviceNumber,
		&name, &addr, &enabled, &d.Credential.Lookup, &d.Credential.PasswordHash, &created, &updated, &first,
		&last, &d.Online, &expires, &d.Previous.Lookup, &d.Previous.PasswordHash, &prevUntil, &rotated, &requested,
		&d.Hardware.IDHash, &d.Hardware.PublicKey); err != nil {
		return nil, err
	}
	d.Status = otos.StatusDisabled
	if enabled {
		d.Status = otos.StatusEnabled
	}
	d.VoucherExpiresAt, d.PreviousUntil = timePtr(expires), timePtr(prevUntil)
	d.RotatedAt, d.RotationRequestedAt = timePtr(rotated), timePtr(requested)
	d.ProductID, d.Name, d.SubDeviceAddr = product.String, name.String, addr.String
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated.Int64)
	if !updated.Valid {
		d.UpdatedAt = d.CreatedAt
	}
	d.FirstConnectedAt, d.LastSeenAt = timePtr(first), timePtr(last)
	return &d, nil
}

// enabled is the stored form of a device status: 1 for enabled, 0 for
// disabled, and -1, which the CHECK named status refuses, for anything else.
func enabled(s otos.DeviceStatus) any {
	switch s {
	case otos.StatusEnabled:
		return 1
	case otos.StatusDisabled:
		return 0
	}
	return -1
}

// scanToken reads a row of tokenColumns.
func scanToken(s scanner) (*otos.Token, error) {
	var t otos.Token
	var tenant sql.NullString
	var created int64
	var expires, revoked sql.NullInt64
	if err := s.Scan(&t.ID, &tenant, &t.Role, &t.Name, &t.Hash, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.TenantID = tenant.String
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt, t.RevokedAt = timePtr(expires), timePtr(revoked)
	return &t, nil
}

// micros is the stored form of t: Unix microseconds, the precision that
// PostgreSQL keeps too.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is the time stored as v, in UTC.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros is the stored form of an optional time: NULL for nil.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

// timePtr is the optional time stored as v.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
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

// where is the conjunction of a list's filter conditions.
type where struct {
	conds []string
	args  []any
	// keyed says the table's ids are keys (see key.go), as the cursor must be.
	keyed bool
}

// eq adds "col = value" unless value is empty, which matches anything.
func (w *where) eq(col, value string) {
	if value != "" {
		w.conds = append(w.conds, col+" = ?")
		w.args = append(w.args, value)
	}
}

// key adds "col = key(id)" unless id is empty.
func (w *where) key(col, id string) {
	if id != "" {
		w.conds = append(w.conds, col+" = ?")
		w.args = append(w.args, key(id))
	}
}

// seq adds a condition that col holds the seq of the row of table (tenants
// or templates) with this id, unless id is empty.
func (w *where) seq(col, table, id string) {
	if id != "" {
		w.conds = append(w.conds, col+" = (SELECT seq FROM "+table+" WHERE id = ?)")
		w.args = append(w.args, id)
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
// to learn whether there is a next page. p must have been validated.
func list[T any](ctx context.Context, d *DB, op, cols, table string, w where, p otos.Page,
	scan func(scanner) (T, error), id func(T) string) ([]T, string, error) {
	after, err := otos.DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		w.conds = append(w.conds, "id > ?")
		if w.keyed {
			w.args = append(w.args, key(after))
		} else {
			w.args = append(w.args, after)
		}
	}
	q := `SELECT ` + cols + ` FROM ` + table + w.String() + ` ORDER BY id LIMIT ?`
	rows, err := d.query(ctx, q, append(w.args, p.Limit+1)...)
	if err != nil {
		return nil, "", d.fail(ctx, op, err)
	}
	defer rows.Close()
	items := make([]T, 0, min(p.Limit+1, 64))
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, "", d.fail(ctx, op, err)
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		return nil, "", d.fail(ctx, op, err)
	}
	next := ""
	if len(items) > p.Limit {
		items = items[:p.Limit]
		next = otos.EncodeCursor(id(items[len(items)-1]))
	}
	return items, next, nil
}

// reregistration is the stored form of r: hardware is until_connected with
// hardware_recovery set (see migration 0009).
func reregistration(r otos.Reregistration) (otos.Reregistration, bool) {
	if r == otos.ReregHardware {
		return otos.ReregUntilConnected, true
	}
	return r, false
}
