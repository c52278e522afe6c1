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
		res, err := st.ExecContext(ctx,
			dev.ID, dev.TenantID, dev.TemplateID, nullString(dev.ProductID), nullString(dev.ParentID),
			dev.DeviceNumber, dev.Name, nullString(dev.SubDeviceAddr), dev.Status,
			nullBytes(dev.Credential.Lookup), nullBytes(dev.Credential.PasswordHash),
			micros(dev.CreatedAt), micros(dev.UpdatedAt), nullMicros(dev.FirstConnectedAt),
			nullMicros(dev.LastSeenAt), dev.Online,
			dev.TemplateID, d.counts[dev.TemplateID])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return noRoom(ctx, tx, dev.TemplateID)
		}
		d.counts[dev.TemplateID]++
		d.emit(events)
		return nil
	})
	return d.fail(ctx, "create device", err,
		ref{table: "tenants", id: dev.TenantID, field: "tenant_id", name: "tenant"},
		ref{table: "templates", id: dev.TemplateID, field: "template_id", name: "template"},
		ref{table: "products", id: dev.ProductID, field: "product_id", name: "product"},
		ref{table: "devices", id: dev.ParentID, field: "parent_id", name: "parent device"})
}

// Device returns the device with this id; ENOTFOUND if there is none.
func (d *DB) Device(ctx context.Context, id string) (*otos.Device, error) {
	return d.device(ctx, `id`, id)
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
	return d.device(ctx, `credential_lookup`, lookup)
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
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("template_id", f.TemplateID)
	w.eq("product_id", f.ProductID)
	w.eq("parent_id", f.ParentID)
	w.eq("device_number", f.DeviceNumber)
	w.eq("status", string(f.Status))
	return list(ctx, d, "list devices", deviceColumns, "devices", w, f.Page, scanDevice,
		func(dev *otos.Device) string { return dev.ID })
}

// ReissueCredential replaces the credential of device id in one conditional
// UPDATE, only while the device is enabled, belongs to templateID and has
// never connected (and with onlyIfVoid, holds no credential). Otherwise it
// changes nothing and returns ECONFLICT, or ENOTFOUND if the device does not
// exist.
func (d *DB) ReissueCredential(ctx context.Context, id, templateID string, c otos.Credential, onlyIfVoid bool, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	dev, err := d.updateDevice(ctx, "reissue credential", events, `
		SET credential_lookup = ?, password_hash = ?, updated_at = ?
		WHERE id = ? AND template_id = ? AND status = 'enabled' AND first_connected_at IS NULL
		AND (? = 0 OR credential_lookup IS NULL)`,
		nullBytes(c.Lookup), nullBytes(c.PasswordHash), micros(now), id, templateID, onlyIfVoid)
	if otos.ErrorCode(err) != otos.ENOTFOUND {
		return dev, err
	}
	// Say why: the update matched no row.
	cur, err := d.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, otos.ReissueRefusal(cur, templateID)
}

// SetDeviceStatus enables or disables device id. ENOTFOUND for an unknown
// id, EINVALID for an unknown status.
func (d *DB) SetDeviceStatus(ctx context.Context, id string, s otos.DeviceStatus, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	return d.updateDevice(ctx, "set device status", events, `SET status = ?, updated_at = ? WHERE id = ?`,
		s, micros(now), id)
}

// ResetDevice voids the device's credential, clears its first connection and
// marks it offline, which re-opens registration for it. ENOTFOUND for an
// unknown id.
func (d *DB) ResetDevice(ctx context.Context, id string, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	return d.updateDevice(ctx, "reset device", events, `
		SET credential_lookup = NULL, password_hash = NULL, first_connected_at = NULL, online = 0, updated_at = ?
		WHERE id = ?`, micros(now), id)
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
	res, err := d.execEmit(ctx, events, `DELETE FROM devices WHERE id = ?`, id)
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
		WHERE id = ? AND credential_lookup = ? AND status = 'enabled'`,
		micros(at), micros(at), id, lookup)
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
			if _, err := stmt.ExecContext(ctx, p.Online, at, p.DeviceID, at); err != nil {
				return err
			}
		}
		d.emit(events)
		return nil
	})
	return d.fail(ctx, "record presence", err)
}
