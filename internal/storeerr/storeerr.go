// Package storeerr holds what both store adapters tell a client when a
// uniqueness rule refuses a write, so that SQLite and PostgreSQL answer the
// same for the same input.
package storeerr

import "github.com/otos-iot/otos"

type conflict struct {
	field   string
	message string
}

// conflicts maps a unique key, named "table.column" (SQLite's spelling), to
// the client's view of the conflict.
var conflicts = map[string]conflict{
	"tenants.id":            {"id", "tenant id is already taken"},
	"templates.id":          {"id", "template id is already taken"},
	"template_secrets.hash": {"template_secret", "template secret is already in use"},
	"products.id":           {"id", "product id is already taken"},
	"products.product_key":  {"product_key", "product_key is already taken"},
	"devices.id":            {"id", "device id is already taken"},
	"devices.device_number": {"device_number", "device_number is already registered"},
	"devices.parent_id, devices.sub_device_addr": {"sub_device_addr", "sub_device_addr is already taken under this parent device"},
	"devices.credential_lookup":                  {"voucher", "voucher is already in use"},
	"tokens.id":                                  {"id", "token id is already taken"},
	"tokens.hash":                                {"token", "token is already in use"},
}

// Conflict returns the ECONFLICT error for the unique key named key, or a
// generic one for a key it does not know.
func Conflict(key string) *otos.Error {
	if c, ok := conflicts[key]; ok {
		return &otos.Error{Code: otos.ECONFLICT, Field: c.field, Message: c.message}
	}
	return &otos.Error{Code: otos.ECONFLICT, Message: "the object already exists"}
}
