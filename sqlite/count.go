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

// insertDevice inserts a device only if its template exists and has room
// under max_devices, counting the devices this batch has inserted already;
// its last two arguments are the template id and that count.
const insertDevice = `INSERT INTO devices (` + deviceColumns + `)
	SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?, ?
	FROM templates WHERE id = ? AND (max_devices = 0 OR device_count + ? < max_devices)`

// noRoom explains why insertDevice inserted nothing: ENOTFOUND if the
// template does not exist, else ECONFLICT on max_devices.
func noRoom(ctx context.Context, tx *sql.Tx, templateID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM templates WHERE id = ?`, templateID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &otos.Error{Code: otos.ENOTFOUND, Field: "template_id", Message: "template not found"}
	case err != nil:
		return err
	}
	return &otos.Error{Code: otos.ECONFLICT, Field: "max_devices", Message: "the template has reached max_devices"}
}
