package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/otos-iot/otos"

	msqlite "modernc.org/sqlite"
	lib "modernc.org/sqlite/lib"
)

// CreateDevice inserts d with its credential, in a single INSERT so that the
// UNIQUE constraints decide between concurrent registrations. ECONFLICT with
// Field "max_devices" when the template is full, "device_number" when the
// number is taken, "sub_device_addr" when the address is taken under the
// parent (whichever SQLite finds first when both are); ENOTFOUND naming the
// tenant, template, product or parent device that does not exist.
func (d *DB) CreateDevice(ctx context.Context, dev *otos.Device, events ...*otos.Event) error {
	err := d.tx1(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := d.txStmt(ctx, tx, insertDevice)
		if err != nil {
			return err
		}
		if err := d.insertDevice(ctx, tx, st, dev); err != nil {
			return err
		}
		d.emit(events)
		return nil
	})
	return d.fail(ctx, "create device", err,
		ref{table: "products", id: dev.ProductID, field: "product_id", name: "product"},
		ref{table: "devices", id: dev.ParentID, field: "parent_id", name: "parent device", keyed: true})
}

// insertDevice runs the insertDevice statement st for dev, counting it.
func (d *DB) insertDevice(ctx context.Context, tx *sql.Tx, st *sql.Stmt, dev *otos.Device) error {
	var updated any
	if !dev.UpdatedAt.Equal(dev.CreatedAt) {
		updated = micros(dev.UpdatedAt)
	}
	res, err := st.ExecContext(ctx,
		key(dev.ID), dev.TenantID, dev.TemplateID, nullString(dev.ProductID), nullKey(dev.ParentID),
		dev.DeviceNumber, nullString(dev.Name), nullString(dev.SubDeviceAddr), enabled(dev.Status),
		nullBytes(dev.Credential.Lookup), nullBytes(dev.Credential.PasswordHash),
		micros(dev.CreatedAt), updated, nullMicros(dev.FirstConnectedAt),
		nullMicros(dev.LastSeenAt), dev.Online, nullMicros(dev.VoucherExpiresAt),
		nullBytes(dev.Hardware.IDHash), nullBytes(dev.Hardware.PublicKey), d.counts[dev.TemplateID])
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return noRoom(ctx, tx, dev.TenantID, dev.TemplateID)
	}
	d.counts[dev.TemplateID]++
	return nil
}

// LoadDevices inserts ds in one transaction, as CreateDevice would each but
// without events: the bulk loader of benchmarks and tests that need a large
// store, not a registration path.
func (d *DB) LoadDevices(ctx context.Context, ds []*otos.Device) error {
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := d.txStmt(ctx, tx, insertDevice)
		if err != nil {
			return err
		}
		for _, dev := range ds {
			if err := d.insertDevice(ctx, tx, st, dev); err != nil {
				return err
			}
		}
		return nil
	})
	return d.fail(ctx, "load devices", err)
}

// Device returns the device with this id; ENOTFOUND if there is none.
func (d *DB) Device(ctx context.Context, id string) (*otos.Device, error) {
	return d.device(ctx, `id`, key(id))
}

// DeviceByNumber returns the device with this device number; ENOTFOUND if
// there is none.
func (d *DB) DeviceByNumber(ctx context.Context, number string) (*otos.Device, error) {
	return d.device(ctx, `device_number`, number)
}

// DeviceByCredential returns the device whose voucher username hashes to
// lookup; ENOTFOUND if there is none.
func (d *DB) DeviceByCredential(ctx context.Context, lookup []byte) (*otos.Device, error) {
	if len(lookup) == 0 {
		return nil, notFound("device")
	}
	dev, err := d.device(ctx, `credential_lookup`, lookup)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return d.device(ctx, `prev_lookup`, lookup)
	}
	return dev, err
}

// device returns the device whose column col (a constant) equals value.
func (d *DB) device(ctx context.Context, col string, value any) (*otos.Device, error) {
	dev, err := scanDevice(d.queryRow(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE `+col+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("device")
	}
	return dev, d.fail(ctx, "get device", err)
}

// Devices lists devices in id (creation) order with the next page's cursor,
// "" on the last page. EINVALID for a bad status, limit or cursor.
func (d *DB) Devices(ctx context.Context, f otos.DeviceFilter) ([]*otos.Device, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	w := where{keyed: true}
	w.seq("tenant_seq", "tenants", f.TenantID)
	w.seq("template_seq", "templates", f.TemplateID)
	w.eq("product_id", f.ProductID)
	w.key("parent_id", f.ParentID)
	w.eq("device_number", f.DeviceNumber)
	if f.Status != "" {
		w.conds = append(w.conds, "status = ?")
		w.args = append(w.args, enabled(f.Status))
	}
	if f.ExpiringBefore != nil {
		w.conds = append(w.conds, "expires_at < ?")
		w.args = append(w.args, micros(*f.ExpiringBefore))
	}
	if f.Online != nil {
		w.conds = append(w.conds, "online = ?")
		w.args = append(w.args, *f.Online)
	}
	if f.Search != "" {
		w.conds = append(w.conds, `(device_number LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\')`)
		w.args = append(w.args, otos.LikePrefix(f.Search), otos.LikePrefix(f.Search))
	}
	return list(ctx, d, "list devices", deviceColumns, "devices", w, f.Page, scanDevice,
		func(dev *otos.Device) string { return dev.ID })
}

// ReissueCredential gives device id the credential of r in one conditional
// UPDATE (see otos.Store). Otherwise it changes nothing and returns
// ECONFLICT, or ENOTFOUND if the device does not exist.
func (d *DB) ReissueCredential(ctx context.Context, id string, r otos.Reissue, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	dev, err := d.updateDevice(ctx, "reissue credential", events, `
		SET credential_lookup = ?, password_hash = ?, expires_at = ?, updated_at = ?,
		prev_lookup = NULL, prev_password_hash = NULL, prev_until = NULL, rotation_requested_at = NULL,
		hardware_key = CASE WHEN hardware_hash IS NULL THEN ? ELSE hardware_key END,
		hardware_hash = COALESCE(hardware_hash, ?)
		WHERE id = ? AND template_seq = (SELECT seq FROM templates WHERE id = ?) AND status = 1 AND CASE WHEN ? IS NOT NULL
			THEN hardware_hash = ?
			ELSE first_connected_at IS NULL AND (? = 0 OR credential_lookup IS NULL)
				AND (? = 0 OR hardware_hash IS NULL) END`,
		nullBytes(r.New.Lookup), nullBytes(r.New.PasswordHash), nullMicros(r.ExpiresAt), micros(now),
		nullBytes(r.Hardware.PublicKey), nullBytes(r.Hardware.IDHash),
		key(id), r.TemplateID, nullBytes(r.Recover), nullBytes(r.Recover), r.OnlyIfVoid, r.OnlyUnbound)
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
// exists.
func (d *DB) RotateCredential(ctx context.Context, id string, r otos.Rotation, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	dev, err := d.updateDevice(ctx, "rotate credential", events, `
		SET prev_until = CASE WHEN credential_lookup = ?1 THEN ?2 ELSE prev_until END,
		prev_password_hash = CASE WHEN credential_lookup = ?1 THEN password_hash ELSE prev_password_hash END,
		prev_lookup = CASE WHEN credential_lookup = ?1 THEN credential_lookup ELSE prev_lookup END,
		credential_lookup = ?3, password_hash = ?4, expires_at = ?5, rotated_at = ?6, updated_at = ?6,
		rotation_requested_at = NULL
		WHERE id = ?7 AND status = 1 AND (credential_lookup = ?1 AND (expires_at IS NULL OR expires_at > ?6)
			OR prev_lookup = ?1 AND prev_until > ?6 AND rotated_at <= ?8)`,
		r.Presented, micros(r.PreviousUntil), nullBytes(r.New.Lookup), nullBytes(r.New.PasswordHash),
		nullMicros(r.ExpiresAt), micros(now), key(id), micros(r.RetryBefore))
	if otos.ErrorCode(err) != otos.ENOTFOUND {
		return dev, err
	}
	if _, err := d.Device(ctx, id); err != nil {
		return nil, err
	}
	return nil, otos.Errorf(otos.ECONFLICT, "the voucher was rotated by another request")
}

// EndOverlap drops the previous voucher of device id, whose current one is
// lookup.
func (d *DB) EndOverlap(ctx context.Context, id string, lookup []byte, now time.Time) error {
	res, err := d.exec(ctx, `UPDATE devices
		SET prev_lookup = NULL, prev_password_hash = NULL, prev_until = NULL, updated_at = ?
		WHERE id = ? AND credential_lookup = ? AND prev_lookup IS NOT NULL`, micros(now), key(id), lookup)
	return d.fail(ctx, "end voucher overlap", affected(res, err, "device"))
}

// RequestRotation marks the devices of scope in one UPDATE.
func (d *DB) RequestRotation(ctx context.Context, sc otos.RotationScope, deadline *time.Time, now time.Time) (int64, error) {
	var w where
	w.seq("tenant_seq", "tenants", sc.TenantID)
	w.seq("template_seq", "templates", sc.TemplateID)
	w.key("id", sc.DeviceID)
	w.conds = append(w.conds, "credential_lookup IS NOT NULL")
	dl := nullMicros(deadline)
	// A deadline ends the previous voucher's overlap by then too: a leaked
	// voucher may be the previous one.
	res, err := d.exec(ctx, `UPDATE devices SET rotation_requested_at = ?, updated_at = ?,
		expires_at = CASE WHEN ? IS NULL THEN expires_at ELSE MIN(COALESCE(expires_at, ?), ?) END,
		prev_until = CASE WHEN ? IS NULL THEN prev_until ELSE MIN(prev_until, ?) END`+w.String(),
		append([]any{micros(now), micros(now), dl, dl, dl, dl, dl}, w.args...)...)
	if err != nil {
		return 0, d.fail(ctx, "request rotation", err)
	}
	n, err := res.RowsAffected()
	return n, d.fail(ctx, "request rotation", err)
}

// SetHardware binds device id to h, or unbinds it.
func (d *DB) SetHardware(ctx context.Context, id string, h otos.Hardware, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	return d.updateDevice(ctx, "set hardware", events, `SET hardware_hash = ?, hardware_key = ?, updated_at = ? WHERE id = ?`,
		nullBytes(h.IDHash), nullBytes(h.PublicKey), micros(now), key(id))
}

// SetDeviceStatus enables or disables device id. ENOTFOUND for an unknown
// id, EINVALID for an unknown status.
func (d *DB) SetDeviceStatus(ctx context.Context, id string, s otos.DeviceStatus, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	return d.updateDevice(ctx, "set device status", events, `SET status = ?, updated_at = ? WHERE id = ?`,
		enabled(s), micros(now), key(id))
}

// ResetDevice voids the device's credential, clears its first connection and
// marks it offline, which re-opens registration for it. ENOTFOUND for an
// unknown id.
func (d *DB) ResetDevice(ctx context.Context, id string, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	return d.updateDevice(ctx, "reset device", events, `
		SET credential_lookup = NULL, password_hash = NULL, first_connected_at = NULL, online = 0, updated_at = ?,
		expires_at = NULL, prev_lookup = NULL, prev_password_hash = NULL, prev_until = NULL,
		rotation_requested_at = NULL
		WHERE id = ?`, micros(now), key(id))
}

// updateDevice runs "UPDATE devices <set> RETURNING ..." and returns the
// updated device, or ENOTFOUND if no row matched; the events are written
// only with a change.
func (d *DB) updateDevice(ctx context.Context, op string, events []*otos.Event, set string, args ...any) (*otos.Device, error) {
	var dev *otos.Device
	err := d.writeRow(ctx, events, func(row scanner) (err error) {
		dev, err = scanDevice(row)
		return err
	}, `UPDATE devices `+set+` RETURNING `+deviceColumns, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("device")
	}
	if err != nil {
		return nil, d.fail(ctx, op, err)
	}
	return dev, nil
}

// DeleteDevice deletes device id. ECONFLICT while it has sub-devices,
// ENOTFOUND for an unknown id.
func (d *DB) DeleteDevice(ctx context.Context, id string, events ...*otos.Event) error {
	res, err := d.execEmit(ctx, events, `DELETE FROM devices WHERE id = ?`, key(id))
	// The only constraint a delete can break is the sub-devices' foreign key,
	// which ON DELETE RESTRICT reports as SQLITE_CONSTRAINT_TRIGGER.
	var se *msqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == lib.SQLITE_CONSTRAINT {
		return otos.Errorf(otos.ECONFLICT, "device has sub-devices; delete them first")
	}
	return d.fail(ctx, "delete device", affected(res, err, "device"))
}

// MarkConnected records a connection of device id at at: LastSeenAt and
// Online always, FirstConnectedAt only the first time, which closes
// re-registration. ENOTFOUND for an unknown id.
func (d *DB) MarkConnected(ctx context.Context, id string, lookup []byte, at time.Time, events ...*otos.Event) error {
	res, err := d.execEmit(ctx, events, `UPDATE devices
		SET first_connected_at = COALESCE(first_connected_at, ?), last_seen_at = ?, online = 1
		WHERE id = ?3 AND status = 1 AND (credential_lookup = ?4 OR prev_lookup = ?4 AND prev_until > ?1)`,
		micros(at), micros(at), key(id), lookup)
	return d.fail(ctx, "mark device connected", affected(res, err, "device"))
}

// RecordPresence stores the presence entries in one transaction, skipping
// any older than the device's last_seen_at, and ignoring unknown devices.
func (d *DB) RecordPresence(ctx context.Context, ps []otos.Presence, events ...*otos.Event) error {
	if len(ps) == 0 && len(events) == 0 {
		return nil
	}
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE devices SET online = ?, last_seen_at = ?
			WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range ps {
			at := micros(p.At)
			if _, err := stmt.ExecContext(ctx, p.Online, at, key(p.DeviceID), at); err != nil {
				return err
			}
		}
		d.emit(events)
		return nil
	})
	return d.fail(ctx, "record presence", err)
}
