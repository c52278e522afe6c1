package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storeerr"

	msqlite "modernc.org/sqlite"
	lib "modernc.org/sqlite/lib"
)

// ref is an object that an inserted row refers to by a foreign key.
type ref struct {
	table string // the referenced table, whose key is id
	id    string // "" for an absent optional reference
	field string // the JSON field that holds id
	name  string // the object, for the message
	keyed bool   // the table's ids are keys (see key.go)
}

// notFound returns the ENOTFOUND error for a missing object, e.g. "device".
func notFound(object string) error {
	return &otos.Error{Code: otos.ENOTFOUND, Message: object + " not found"}
}

// unavailable is returned when the database is closed or locked for longer
// than busy_timeout.
var unavailable = &otos.Error{Code: otos.EUNAVAILABLE, Message: "store unavailable"}

// fail translates err, from operation op (e.g. "create device"), into the
// application's terms: constraint violations and an unusable database become
// *otos.Error with a message that holds no SQL or driver text; anything else
// is wrapped, which otos.ErrorCode reports as EINTERNAL. refs are the objects
// the failed statement referred to, to name the missing one when a foreign
// key fails. *otos.Error and nil pass through.
func (d *DB) fail(ctx context.Context, op string, err error, refs ...ref) error {
	var oe *otos.Error
	switch {
	case err == nil || errors.As(err, &oe):
		return err
	case d.closed.Load():
		return unavailable
	}
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	switch se.Code() {
	case lib.SQLITE_CONSTRAINT_UNIQUE, lib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return uniqueError(se)
	case lib.SQLITE_CONSTRAINT_FOREIGNKEY:
		return d.missingRef(ctx, refs)
	case lib.SQLITE_CONSTRAINT_CHECK:
		return checkError(se)
	}
	switch se.Code() & 0xff {
	case lib.SQLITE_BUSY, lib.SQLITE_LOCKED, lib.SQLITE_CANTOPEN:
		return unavailable
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// uniqueError returns the ECONFLICT error for a violated UNIQUE or PRIMARY
// KEY constraint. Which one failed is only in the message, e.g. "UNIQUE
// constraint failed: devices.device_number (2067)".
func uniqueError(se *msqlite.Error) error {
	_, cols, _ := strings.Cut(se.Error(), "UNIQUE constraint failed: ")
	cols, _, _ = strings.Cut(cols, " (")
	return storeerr.Conflict(cols)
}

// checkError returns the EINVALID error for a violated CHECK constraint. The
// schema names each constraint after the JSON field it guards.
func checkError(se *msqlite.Error) error {
	_, field, _ := strings.Cut(se.Error(), "CHECK constraint failed: ")
	field, _, _ = strings.Cut(field, " (")
	for _, r := range field {
		if (r < 'a' || r > 'z') && r != '_' {
			return &otos.Error{Code: otos.EINVALID, Message: "a field has an invalid value"}
		}
	}
	return otos.FieldError(field, otos.ReasonValue, "%s has an invalid value", field)
}

// missingRef returns ENOTFOUND naming the first of refs that does not exist,
// after an insert failed on a foreign key (SQLite does not say which). If
// none is missing by now, or it cannot tell, it returns EINVALID.
func (d *DB) missingRef(ctx context.Context, refs []ref) error {
	for _, r := range refs {
		if r.id == "" {
			continue
		}
		var one int
		var id any = r.id
		if r.keyed {
			id = key(r.id)
		}
		err := d.queryRow(ctx, `SELECT 1 FROM `+r.table+` WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &otos.Error{Code: otos.ENOTFOUND, Field: r.field, Message: r.name + " not found"}
		}
		if err != nil {
			break
		}
	}
	return &otos.Error{Code: otos.EINVALID, Message: "a referenced object does not exist"}
}
