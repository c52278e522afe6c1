package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/otos-iot/otos"
)

// CreateDevice inserts d with its credential, in a single INSERT so that the
// unique constraints decide between concurrent registrations, on this node
// or another. ECONFLICT with Field "device_number" when the number is taken,
// "sub_device_addr" when the address is taken under the parent, "max_devices"
// when the template has reached its cap; ENOTFOUND naming the tenant,
// template, product or parent device that does not exist.
func (d *DB) CreateDevice(ctx context.Context, dev *otos.Device, events ...*otos.Event) error {
	if err := checkText("id", dev.ID, "tenant_id", dev.TenantID, "template_id", dev.TemplateID,
		"product_id", dev.ProductID, "parent_id", dev.ParentID, "device_number", dev.DeviceNumber,
		"name", dev.Name, "sub_device_addr", dev.SubDeviceAddr, "status", string(dev.Status)); err != nil {
		return err
	}
	if d.closed.Load() {
		return unavailable
	}
	return d.inserts.insert(ctx, dev, events)
}

// insertOne inserts dev by a statement of its own (see batch.go), with its
// events.
func (d *DB) insertOne(ctx context.Context, dev *otos.Device, events []*otos.Event) error {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.withEvents(ctx, events, func(q querier) (bool, error) {
		_, err := q.Exec(ctx, `INSERT INTO devices (`+deviceInsertColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			dev.ID, dev.TenantID, dev.TemplateID, nullString(dev.ProductID), nullString(dev.ParentID),
			dev.DeviceNumber, dev.Name, nullString(dev.SubDeviceAddr), dev.Status,
			nullBytes(dev.Credential.Lookup), nullBytes(dev.Credential.PasswordHash),
			dev.CreatedAt, dev.UpdatedAt, nullTime(dev.FirstConnectedAt), nullTime(dev.LastSeenAt), dev.Online,
			nullTime(dev.VoucherExpiresAt), nullBytes(dev.Hardware.IDHash), nullBytes(dev.Hardware.PublicKey))
		return err == nil, err
	})
	return d.fail("create device", err)
}

// Device returns the device with this id; ENOTFOUND if there is none.
func (d *DB) Device(ctx context.Context, id string) (*otos.Device, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	return d.device(ctx, `id`, id)
}

// DeviceByNumber returns the device with this device number; ENOTFOUND if
// there is none.
func (d *DB) DeviceByNumber(ctx context.Context, number string) (*otos.Device, error) {
	if err := checkText("device_number", number); err != nil {
		return nil, err
	}
	return d.device(ctx, `device_number`, number)
}

// DeviceByCredential returns the device whose current voucher username
// hashes to lookup, or else whose previous one does, valid or not;
// ENOTFOUND if there is none.
func (d *DB) DeviceByCredential(ctx context.Context, lookup []byte) (*otos.Device, error) {
	if len(lookup) == 0 {
		return nil, notFound("device")
	}
	dev, err := d.device(ctx, `credential_lookup`, lookup)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		// Second, as on SQLite: a previous voucher is presented only while
		// the device rotates.
		return d.device(ctx, `prev_lookup`, lookup)
	}
	return dev, err
}

// device returns the device whose column col (a constant) equals value.
func (d *DB) device(ctx context.Context, col string, value any) (*otos.Device, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	dev, err := scanDevice(d.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE `+col+` = $1`, value))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("device")
	}
	return dev, d.fail("get device", err)
}

// Devices lists devices in id (creation) order with the next page's cursor,
// "" on the last page. EINVALID for a bad status, limit or cursor.
func (d *DB) Devices(ctx context.Context, f otos.DeviceFilter) ([]*otos.Device, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkText("tenant_id", f.TenantID, "template_id", f.TemplateID, "product_id", f.ProductID,
		"parent_id", f.ParentID, "device_number", f.DeviceNumber); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("template_id", f.TemplateID)
	w.eq("product_id", f.ProductID)
	w.eq("parent_id", f.ParentID)
	w.eq("device_number", f.DeviceNumber)
	w.eq("status", string(f.Status))
	if f.ExpiringBefore != nil {
		w.add("expires_at < $?", *f.ExpiringBefore)
	}
	if f.Online != nil {
		w.add("online = $?", *f.Online)
	}
	if f.Search != "" {
		// ILIKE: case-insensitive, as SQLite's LIKE is for ASCII.
		w.args = append(w.args, otos.LikePrefix(f.Search))
		n := len(w.args)
		w.conds = append(w.conds, fmt.Sprintf(`(device_number ILIKE $%d ESCAPE '\' OR name ILIKE $%d ESCAPE '\')`, n, n))
	}
	return list(ctx, d, "list devices", deviceColumns, "devices", w, f.Page, scanDevice,
		func(dev *otos.Device) string { return dev.ID })
}

// ReissueCredential gives device id the credential of r in one conditional
// UPDATE (see otos.Store). Otherwise it changes nothing and returns
// ECONFLICT, or ENOTFOUND if the device does not exist.
func (d *DB) ReissueCredential(ctx context.Context, id string, r otos.Reissue, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	if err := checkText("id", id, "template_id", r.TemplateID); err != nil {
		return nil, err
	}
	// The hardware is bound only to a device not bound yet: hardware_key is
	// set before hardware_hash in the text, but both see the old row.
	dev, err := d.updateDevice(ctx, "reissue credential", events, `
		SET credential_lookup = $1, password_hash = $2, expires_at = $3, updated_at = $4,
		prev_lookup = NULL, prev_password_hash = NULL, prev_until = NULL, rotation_requested_at = NULL,
		hardware_key = CASE WHEN hardware_hash IS NULL THEN $5::bytea ELSE hardware_key END,
		hardware_hash = COALESCE(hardware_hash, $6::bytea)
		WHERE id = $7 AND template_id = $8 AND status = 'enabled' AND CASE WHEN $9::bytea IS NOT NULL
			THEN hardware_hash = $9
			ELSE first_connected_at IS NULL AND (NOT $10 OR credential_lookup IS NULL)
				AND (NOT $11 OR hardware_hash IS NULL) END`,
		nullBytes(r.New.Lookup), nullBytes(r.New.PasswordHash), nullTime(r.ExpiresAt), now,
		nullBytes(r.Hardware.PublicKey), nullBytes(r.Hardware.IDHash),
		id, r.TemplateID, nullBytes(r.Recover), r.OnlyIfVoid, r.OnlyUnbound)
	if otos.ErrorCode(err) != otos.ENOTFOUND {
		return dev, err
	}
	// Say why: the update matched no row.
	cur, err := d.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, otos.ReissueRefusal(cur, r)
}

// RotateCredential gives device id the new voucher of r in one conditional
// UPDATE (see otos.Store); ECONFLICT when it matched no row but the device
// exists. Of concurrent rotations by one voucher, the first takes the row's
// lock; the others then re-check the WHERE against its new version, in which
// the voucher they present is the previous one, rotated too recently.
func (d *DB) RotateCredential(ctx context.Context, id string, r otos.Rotation, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	// Every SET expression reads the old row, so the CASEs see the current
	// voucher before it is replaced.
	dev, err := d.updateDevice(ctx, "rotate credential", events, `
		SET prev_until = CASE WHEN credential_lookup = $1 THEN $2 ELSE prev_until END,
		prev_password_hash = CASE WHEN credential_lookup = $1 THEN password_hash ELSE prev_password_hash END,
		prev_lookup = CASE WHEN credential_lookup = $1 THEN credential_lookup ELSE prev_lookup END,
		credential_lookup = $3, password_hash = $4, expires_at = $5, rotated_at = $6, updated_at = $6,
		rotation_requested_at = NULL
		WHERE id = $7 AND status = 'enabled' AND (credential_lookup = $1 AND (expires_at IS NULL OR expires_at > $6)
			OR prev_lookup = $1 AND prev_until > $6 AND rotated_at <= $8)`,
		r.Presented, r.PreviousUntil, nullBytes(r.New.Lookup), nullBytes(r.New.PasswordHash),
		nullTime(r.ExpiresAt), now, id, r.RetryBefore)
	if otos.ErrorCode(err) != otos.ENOTFOUND {
		return dev, err
	}
	if _, err := d.Device(ctx, id); err != nil {
		return nil, err
	}
	return nil, otos.Errorf(otos.ECONFLICT, "the voucher was rotated by another request")
}

// EndOverlap drops the previous voucher of device id, whose current one is
// lookup; ENOTFOUND when it has none or another current one.
func (d *DB) EndOverlap(ctx context.Context, id string, lookup []byte, now time.Time) error {
	if err := checkText("id", id); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE devices
		SET prev_lookup = NULL, prev_password_hash = NULL, prev_until = NULL, updated_at = $1
		WHERE id = $2 AND credential_lookup = $3 AND prev_lookup IS NOT NULL`, now, id, lookup)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("device")
	}
	return d.fail("end voucher overlap", err)
}

// RequestRotation marks the devices of scope that hold a voucher, in one
// UPDATE, and returns how many it marked. A deadline only brings an expiry
// forward, never later.
func (d *DB) RequestRotation(ctx context.Context, sc otos.RotationScope, deadline *time.Time, now time.Time) (int64, error) {
	if err := checkText("tenant_id", sc.TenantID, "template_id", sc.TemplateID, "id", sc.DeviceID); err != nil {
		return 0, err
	}
	// $1 and $2 are the SET's; the scope's conditions number on from them.
	w := where{args: []any{now, nullTime(deadline)}}
	w.eq("tenant_id", sc.TenantID)
	w.eq("template_id", sc.TemplateID)
	w.eq("id", sc.DeviceID)
	w.conds = append(w.conds, "credential_lookup IS NOT NULL")
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	// LEAST ignores NULLs: no deadline keeps the expiry, and a voucher
	// without one gets the deadline.
	// A deadline ends the previous voucher's overlap by then too: a leaked
	// voucher may be the previous one.
	tag, err := d.pool.Exec(ctx, `UPDATE devices SET rotation_requested_at = $1, updated_at = $1,
		expires_at = LEAST(expires_at, $2::timestamptz),
		prev_until = CASE WHEN prev_until IS NULL THEN NULL ELSE LEAST(prev_until, $2::timestamptz) END`+w.String(), w.args...)
	if err != nil {
		return 0, d.fail("request rotation", err)
	}
	return tag.RowsAffected(), nil
}

// SetHardware binds device id to h, or with a zero h unbinds it; ENOTFOUND
// for an unknown id.
func (d *DB) SetHardware(ctx context.Context, id string, h otos.Hardware, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	return d.updateDevice(ctx, "set hardware", events, `SET hardware_hash = $1, hardware_key = $2, updated_at = $3 WHERE id = $4`,
		nullBytes(h.IDHash), nullBytes(h.PublicKey), now, id)
}

// SetDeviceStatus enables or disables device id. ENOTFOUND for an unknown
// id, EINVALID for an unknown status.
func (d *DB) SetDeviceStatus(ctx context.Context, id string, s otos.DeviceStatus, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	if err := checkText("id", id, "status", string(s)); err != nil {
		return nil, err
	}
	return d.updateDevice(ctx, "set device status", events, `SET status = $1, updated_at = $2 WHERE id = $3`, s, now, id)
}

// ResetDevice voids the device's credential, clears its first connection and
// marks it offline, which re-opens registration for it. ENOTFOUND for an
// unknown id.
func (d *DB) ResetDevice(ctx context.Context, id string, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	return d.updateDevice(ctx, "reset device", events, `
		SET credential_lookup = NULL, password_hash = NULL, first_connected_at = NULL, online = false, updated_at = $1,
		expires_at = NULL, prev_lookup = NULL, prev_password_hash = NULL, prev_until = NULL,
		rotation_requested_at = NULL
		WHERE id = $2`, now, id)
}

// updateDevice runs "UPDATE devices <set> RETURNING ..." and returns the
// updated device, or ENOTFOUND if no row matched; the events are written
// only with a change.
func (d *DB) updateDevice(ctx context.Context, op string, events []*otos.Event, set string, args ...any) (*otos.Device, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var dev *otos.Device
	err := d.withEvents(ctx, events, func(q querier) (_ bool, err error) {
		dev, err = scanDevice(q.QueryRow(ctx, `UPDATE devices `+set+` RETURNING `+deviceColumns, args...))
		return err == nil, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("device")
	}
	if err != nil {
		return nil, d.fail(op, err)
	}
	return dev, nil
}

// DeleteDevice deletes device id. ECONFLICT while it has sub-devices,
// ENOTFOUND for an unknown id.
func (d *DB) DeleteDevice(ctx context.Context, id string, events ...*otos.Event) error {
	if err := checkText("id", id); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var tag pgconn.CommandTag
	err := d.withEvents(ctx, events, func(q querier) (_ bool, err error) {
		tag, err = q.Exec(ctx, `DELETE FROM devices WHERE id = $1`, id)
		return err == nil && tag.RowsAffected() > 0, err
	})
	// The only constraint a delete can break is the sub-devices' foreign
	// key (ON DELETE RESTRICT).
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23503" || pe.Code == "23001") {
		return otos.Errorf(otos.ECONFLICT, "device has sub-devices; delete them first")
	}
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("device")
	}
	return d.fail("delete device", err)
}

// MarkConnected records a connection of device id at at: LastSeenAt and
// Online always, FirstConnectedAt only the first time, which closes
// re-registration. ENOTFOUND for an unknown id.
func (d *DB) MarkConnected(ctx context.Context, id string, lookup []byte, at time.Time, events ...*otos.Event) error {
	if err := checkText("id", id); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var tag pgconn.CommandTag
	err := d.withEvents(ctx, events, func(q querier) (_ bool, err error) {
		tag, err = q.Exec(ctx, `UPDATE devices
			SET first_connected_at = COALESCE(first_connected_at, $1), last_seen_at = $1, online = true
			WHERE id = $2 AND status = 'enabled' AND (credential_lookup = $3 OR prev_lookup = $3 AND prev_until > $1)`,
			at, id, lookup)
		return err == nil && tag.RowsAffected() > 0, err
	})
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("device")
	}
	return d.fail("mark device connected", err)
}

// RecordPresence stores the presence entries in one transaction, skipping
// any older than the device's last_seen_at, and ignoring unknown devices.
// The rows are updated in id order, so that two nodes writing overlapping
// batches at once cannot deadlock.
func (d *DB) RecordPresence(ctx context.Context, ps []otos.Presence, events ...*otos.Event) error {
	if len(ps) == 0 && len(events) == 0 {
		return nil
	}
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b otos.Presence) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.txEvents(ctx, func(q querier) ([]*otos.Event, error) {
		var b pgx.Batch
		for _, p := range ps {
			if checkText("id", p.DeviceID) != nil {
				continue // cannot name a stored device
			}
			b.Queue(`UPDATE devices SET online = $1, last_seen_at = $2
				WHERE id = $3 AND (last_seen_at IS NULL OR last_seen_at <= $2)`, p.Online, p.At, p.DeviceID)
		}
		if b.Len() > 0 {
			if err := q.SendBatch(ctx, &b).Close(); err != nil {
				return nil, err
			}
		}
		return events, nil
	})
	return d.fail("record presence", err)
}
