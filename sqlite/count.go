package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otos-iot/otos"
)

// Each template's device_count is kept by the store, not by a trigger: a
// device insert adds to the count of its batch (see committer), and the
// batch adds its counts to the templates once, just before it commits.
// A trigger would update the template's row once per device, which cost a
// registration storm about a tenth of its time. A delete still decrements
// the count by trigger (devices_count_delete): deletes are rare.
//
// batchCounts is used on the committer's goroutine only.
type batchCounts map[string]int64

// flushCounts adds the devices inserted in this batch to their templates.
func (d *DB) flushCounts(ctx context.Context, tx *sql.Tx) error {
	for id, n := range d.counts {
		st, err := d.txStmt(ctx, tx, `UPDATE templates SET device_count = device_count + ? WHERE id = ?`)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, n, id); err != nil {
			return err
		}
	}
	return nil
}

// insertDevice inserts a device only if its tenant and template exist and
// the template has room under max_devices, counting the devices this batch
// has inserted already (the last argument).
const insertDevice = `INSERT INTO devices (id, tenant_seq, template_seq, product_id, parent_id, device_number, name,
		sub_device_addr, status, credential_lookup, password_hash, created_at, updated_at, first_connected_at,
		last_seen_at, online, expires_at, hardware_hash, hardware_key)
	SELECT ?1, n.seq, t.seq, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19
	FROM templates t JOIN tenants n ON n.id = ?2
	WHERE t.id = ?3 AND (t.max_devices = 0 OR t.device_count + ?20 < t.max_devices)`

// noRoom explains why insertDevice inserted nothing: ENOTFOUND if the tenant
// or the template does not exist, else ECONFLICT on max_devices.
func noRoom(ctx context.Context, tx *sql.Tx, tenantID, templateID string) error {
	for _, r := range []ref{
		{table: "tenants", id: tenantID, field: "tenant_id", name: "tenant"},
		{table: "templates", id: templateID, field: "template_id", name: "template"},
	} {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+r.table+` WHERE id = ?`, r.id).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return &otos.Error{Code: otos.ENOTFOUND, Field: r.field, Message: r.name + " not found"}
		case err != nil:
			return err
		}
	}
	return &otos.Error{Code: otos.ECONFLICT, Field: "max_devices", Message: "the template has reached max_devices"}
}
