// Package otos holds the domain of the otos device-provisioning service: the
// tenants, device templates, products and devices of "One Type One Secret"
// registration; the interfaces of the core that every protocol adapter calls
// (Registrar, Admin, Sessions) with the words they need (Session, Principal,
// Scope, Client); the application error and the one table of result codes;
// the topic table; and the Store interface that the storage adapters
// implement. It imports the standard library only.
package otos

import (
	"log/slog"
	"time"
)

// Secret is a credential in plain text: a template secret, a voucher password
// or an admin token. It prints and logs as a placeholder so that it cannot
// reach a log by accident; string(s) gives the value where it is really meant.
type Secret string

// String implements fmt.Stringer with a placeholder.
func (s Secret) String() string { return "[REDACTED]" }

// LogValue implements slog.LogValuer with a placeholder.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `otos.Secret("[REDACTED]")` }

// DefaultTenantID is the id of the tenant created on first start.
const DefaultTenantID = "00000000-0000-0000-0000-000000000001"

// Tenant is an isolated customer. Every template, product and device belongs to
// exactly one tenant.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Page is the paging of a list: at most Limit items after Cursor, an opaque
// position that the previous page returned.
type Page struct {
	Limit  int
	Cursor string
}

// Page limits.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)
