package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storeerr"
)

// uniqueKeys maps the names of the unique constraints (PostgreSQL's default
// names, see the migrations) to the keys that storeerr.Conflict knows.
var uniqueKeys = map[string]string{
	"tenants_pkey":                  "tenants.id",
	"templates_pkey":                "templates.id",
	"template_secrets_pkey":         "template_secrets.hash",
	"products_pkey":                 "products.id",
	"products_product_key_key":      "products.product_key",
	"devices_pkey":                  "devices.id",
	"devices_device_number_key":     "devices.device_number",
	"devices_parent":                "devices.parent_id, devices.sub_device_addr", // a unique index, named in 0010
	"devices_credential_lookup_key": "devices.credential_lookup",
	"devices_prev_lookup":           "devices.prev_lookup", // a unique index, named in 0009
	"tokens_pkey":                   "tokens.id",
	"tokens_hash_key":               "tokens.hash",
}

// reference is the object that a foreign key refers to.
type reference struct {
	field string // the JSON field that holds the id
	name  string // the object, for the message
}

// references maps the names of the foreign keys to what they refer to.
// PostgreSQL names the constraint that failed, so no second query is needed
// to find out which object is missing.
var references = map[string]reference{
	"templates_tenant_id_fkey":          {"tenant_id", "tenant"},
	"template_secrets_template_id_fkey": {"template_id", "template"},
	"products_tenant_id_fkey":           {"tenant_id", "tenant"},
	"products_template_id_fkey":         {"template_id", "template"},
	"devices_tenant_id_fkey":            {"tenant_id", "tenant"},
	"devices_template_id_fkey":          {"template_id", "template"},
	"devices_product_id_fkey":           {"product_id", "product"},
	"devices_parent_id_fkey":            {"parent_id", "parent device"},
	"tokens_tenant_id_fkey":             {"tenant_id", "tenant"},
	"allowlist_template_id_fkey":        {"template_id", "template"},
	"webhooks_tenant_id_fkey":           {"tenant_id", "tenant"},
}

// notFound returns the ENOTFOUND error for a missing object, e.g. "device".
func notFound(object string) error {
	return &otos.Error{Code: otos.ENOTFOUND, Message: object + " not found"}
}

// unavailable is returned when the database cannot be reached in time, or
// the store is closed.
var unavailable = &otos.Error{Code: otos.EUNAVAILABLE, Message: "store unavailable"}

// fail translates err, from operation op (e.g. "create device"), into the
// application's terms: constraint violations and an unreachable database
// become *otos.Error with a message that holds no SQL or driver text;
// anything else is wrapped, which otos.ErrorCode reports as EINTERNAL.
// *otos.Error and nil pass through.
func (d *DB) fail(op string, err error) error {
	var oe *otos.Error
	switch {
	case err == nil || errors.As(err, &oe):
		return err
	case d.closed.Load():
		return unavailable
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		if unreachable(err) {
			return unavailable
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	switch pe.Code {
	case "23505": // unique_violation
		return storeerr.Conflict(uniqueKeys[pe.ConstraintName])
	case "23503": // foreign_key_violation
		if r, ok := references[pe.ConstraintName]; ok {
			return &otos.Error{Code: otos.ENOTFOUND, Field: r.field, Message: r.name + " not found"}
		}
		return &otos.Error{Code: otos.EINVALID, Message: "a referenced object does not exist"}
	case "P0001": // raise_exception, from the devices_count_insert trigger
		if pe.ConstraintName == "max_devices" {
			return &otos.Error{Code: otos.ECONFLICT, Field: "max_devices", Message: "the template has reached max_devices"}
		}
	case "23514": // check_violation
		return fieldError(pe.ConstraintName, "%s has an invalid value")
	case "23502": // not_null_violation
		return fieldError(pe.ColumnName, "%s is required")
	case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
		// checkText catches these before a statement is sent; this is the
		// backstop for a value it was not given.
		return &otos.Error{Code: otos.EINVALID, Reason: otos.ReasonValue,
			Message: "a field must be valid UTF-8 without NUL bytes"}
	case "22001", "22003", "22007", "22008": // too long, out of range, bad datetime
		return &otos.Error{Code: otos.EINVALID, Reason: otos.ReasonValue, Message: "a field has an invalid value"}
	}
	if unavailableState(pe.Code) {
		return unavailable
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// fieldError returns EINVALID naming field, the name of a constraint or a
// column, if it looks like a JSON field name.
func fieldError(field, format string) error {
	if field == "" || strings.IndexFunc(field, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) >= 0 {
		return &otos.Error{Code: otos.EINVALID, Message: "a field has an invalid value"}
	}
	return otos.FieldError(field, otos.ReasonValue, format, field)
}

// unavailableState reports whether an SQLSTATE means that the database
// cannot serve now but may soon: it is starting, shutting down, out of
// connections or resources, read-only (a standby after fail-over), or the
// transaction lost a race that a retry would win.
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"), // insufficient resources
		strings.HasPrefix(code, "57"), // operator intervention: shutdown, cancel
		strings.HasPrefix(code, "58"): // system error (I/O)
		return true
	}
	switch code {
	case "40001", "40P01", // serialization failure, deadlock
		"25006", // read-only transaction
		"55P03": // lock not available
		return true
	}
	return false
}

// unreachable reports whether err, which is not from the server, means that
// the database could not be reached in time: a failed dial, a broken or
// timed-out connection, or a call that ran out of time.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool")
}
