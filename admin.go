package otos

import (
	"context"
	"strings"
	"time"
)

// Scope is the tenant an operator acts for; "" is the system administrator,
// who sees every tenant and creates in the default one.
type Scope string

// Owns reports whether the scope may see an object of tenantID.
func (sc Scope) Owns(tenantID string) bool {
	return sc == "" || string(sc) == tenantID
}

// Tenant is where the scope creates new objects.
func (sc Scope) Tenant() string {
	if sc == "" {
		return DefaultTenantID
	}
	return string(sc)
}

// Principal is who an admin call acts as. Every admin method takes one, and
// the core audits each change under its Actor.
type Principal struct {
	Scope Scope
	Role  Role
	// TokenID names the token, for the audit; empty for OTOS_ADMIN_TOKEN.
	TokenID string
	// From is the client that presented the token.
	From Client
	// Via names the adapter when it is not the admin API ("console").
	Via string
}

// Actor names the principal in the audit trail: "token:<id>", or
// "env:OTOS_ADMIN_TOKEN", led by "console:" for a change made in the console.
func (p *Principal) Actor() string {
	a := "token:" + p.TokenID
	if p.TokenID == "" {
		a = "env:OTOS_ADMIN_TOKEN"
	}
	if p.Via != "" {
		return p.Via + ":" + a
	}
	return a
}

// CanWrite reports whether the principal may change things.
func (p *Principal) CanWrite() bool { return p.Role == RoleAdmin }

// Admin is the core's administration service: tenants, templates, products,
// devices, allow-lists, service accounts, admin tokens and the audit trail,
// each seen through the principal's scope (another tenant's object is
// ENOTFOUND). Methods that change something refuse a read-only principal
// (EFORBIDDEN) and audit the change, or the refused attempt, themselves.
type Admin interface {
	// Authenticate returns the principal of an admin bearer token presented
	// by from for a request that makes change (the zero Change for a read);
	// EUNAUTHORIZED for an unknown, expired or revoked token, and for a
	// credential that is not an admin token (a service account's password);
	// EFORBIDDEN, audited, for a change by a principal that may only read,
	// before anything of the request is read.
	Authenticate(ctx context.Context, from Client, token Secret, change Change) (*Principal, error)

	// CreateTenant creates a tenant: the system administrator only (EFORBIDDEN).
	CreateTenant(ctx context.Context, p *Principal, name string) (*Tenant, error)
	// Tenant returns tenant id: any for the system administrator, a
	// tenant's token only its own (ENOTFOUND otherwise).
	Tenant(ctx context.Context, p *Principal, id string) (*Tenant, error)
	// Tenants lists the tenants p sees, with the next cursor.
	Tenants(ctx context.Context, p *Principal, pg Page) ([]*Tenant, string, error)

	// CreateTemplate stores t, with defaults filled in, in the tenant that
	// t.TenantID names ("" the principal's own), and returns its secret,
	// which is never shown again.
	CreateTemplate(ctx context.Context, p *Principal, t *Template) (Secret, error)
	// Template returns template id, never its secret.
	Template(ctx context.Context, p *Principal, id string) (*Template, error)
	// Templates lists p's templates in creation order, with the next cursor.
	Templates(ctx context.Context, p *Principal, f TemplateFilter) ([]*Template, string, error)
	// UpdateTemplate applies u (EINVALID naming a bad field) and drops
	// every node's views of the template.
	UpdateTemplate(ctx context.Context, p *Principal, id string, u TemplateUpdate) (*Template, error)
	// RotateSecret gives the template a new secret; the old one is accepted
	// for graceSeconds more (nil: DefaultGrace). It returns the new secret
	// and until when the old one is accepted.
	RotateSecret(ctx context.Context, p *Principal, id string, graceSeconds *int64) (Secret, time.Time, error)
	// AllowlistKnown returns how many of numbers (at most
	// MaxAllowlistCheck) are on the template's allow-list already: what an
	// import would not add, for a preview.
	AllowlistKnown(ctx context.Context, p *Principal, templateID string, numbers []string) (int, error)
	// ImportAllowlist puts numbers on the template's allow-list and returns
	// how many were new; a bad number is named by position and adds nothing.
	ImportAllowlist(ctx context.Context, p *Principal, templateID string, numbers []string) (int, error)

	// CreateProduct stores p, bound to one of the principal's templates,
	// with a fresh product key.
	CreateProduct(ctx context.Context, p *Principal, prod *Product) error
	// Product returns product id.
	Product(ctx context.Context, p *Principal, id string) (*Product, error)
	// Products lists p's products, with the next cursor.
	Products(ctx context.Context, p *Principal, f ProductFilter) ([]*Product, string, error)

	// Device returns device id, as stored (never through a cache).
	Device(ctx context.Context, p *Principal, id string) (*Device, error)
	// Devices lists p's devices in creation order, with the next cursor.
	Devices(ctx context.Context, p *Principal, f DeviceFilter) ([]*Device, string, error)
	// SetDeviceStatus enables or disables a device; a disabled device's
	// voucher opens no session, and its live sessions end.
	SetDeviceStatus(ctx context.Context, p *Principal, id string, st DeviceStatus) (*Device, error)
	// ResetDevice voids the device's voucher and re-opens its registration.
	ResetDevice(ctx context.Context, p *Principal, id string) (*Device, error)
	// DeleteDevice deletes a device; ECONFLICT while it has sub-devices.
	DeleteDevice(ctx context.Context, p *Principal, id string) error
	// RequestRotation asks the devices of scope (one device, a template's
	// or a tenant's) to rotate their voucher: online ones are told on their
	// control topic, the others at their next connect. With a deadline,
	// their current voucher expires then. It returns how many were asked.
	RequestRotation(ctx context.Context, p *Principal, scope RotationScope, deadline *time.Time) (int64, error)
	// RequestRotationWithin is RequestRotation with a deadline within of
	// now by the service's clock; it returns the deadline.
	RequestRotationWithin(ctx context.Context, p *Principal, scope RotationScope, within time.Duration) (int64, time.Time, error)
	// Overview returns the state of p's fleet at a glance.
	Overview(ctx context.Context, p *Principal) (*Overview, error)
	// UnbindHardware removes the hardware identity bound to device id, so
	// that the next registration that re-issues its voucher binds anew.
	UnbindHardware(ctx context.Context, p *Principal, id string) (*Device, error)

	// CreateServiceAccount creates a broker account in tenantID ("" the
	// principal's own) and returns it with its password, shown only here.
	CreateServiceAccount(ctx context.Context, p *Principal, tenantID, name string) (*ServiceAccount, error)
	// ServiceAccounts lists p's service accounts, never a password.
	ServiceAccounts(ctx context.Context, p *Principal, pg Page) ([]*ServiceAccount, string, error)
	// RevokeServiceAccount revokes the account and ends its sessions.
	RevokeServiceAccount(ctx context.Context, p *Principal, id string) (*ServiceAccount, error)

	// CreateToken creates an admin token (see TokenSpec) and returns it with
	// the token itself, stored only as a hash and never shown again.
	CreateToken(ctx context.Context, p *Principal, spec TokenSpec) (*AdminToken, error)
	// Tokens lists the admin tokens p sees (not service accounts).
	Tokens(ctx context.Context, p *Principal, pg Page) ([]*AdminToken, string, error)
	// RevokeToken revokes admin token id; it stops working at once.
	RevokeToken(ctx context.Context, p *Principal, id string) (*AdminToken, error)

	// AuditRecords lists the audit records the principal may see, oldest
	// first, including those still on their way to the store.
	AuditRecords(ctx context.Context, p *Principal, f AuditFilter) ([]*AuditRecord, string, error)

	// CreateWebhook registers w (URL and event types) in the tenant that
	// w.TenantID names ("" the principal's own) and returns its signing
	// secret, shown only here. It receives the events from now on.
	CreateWebhook(ctx context.Context, p *Principal, w *Webhook) (Secret, error)
	// Webhook returns webhook id.
	Webhook(ctx context.Context, p *Principal, id string) (*Webhook, error)
	// Webhooks lists p's webhooks in creation order, with the next cursor.
	Webhooks(ctx context.Context, p *Principal, pg Page) ([]*Webhook, string, error)
	// DeleteWebhook deletes webhook id with what it had not yet received.
	DeleteWebhook(ctx context.Context, p *Principal, id string) error
	// Deliveries lists the events webhook f.WebhookID has not received:
	// retrying, waiting behind another of the same device, or dead.
	Deliveries(ctx context.Context, p *Principal, f DeliveryFilter) ([]*Delivery, error)
	// ResendDelivery sends the event again to the webhook, at once and then
	// with the retries of a new delivery; ENOTFOUND unless the webhook has
	// not received it.
	ResendDelivery(ctx context.Context, p *Principal, webhookID, eventID string) (*Delivery, error)
	// Events lists the events p may see after the event with id after (""
	// from the oldest kept), at most limit (DefaultPageLimit when 0), in
	// the order of their changes. EINVALID naming "after" for an id that is
	// no event (never, or no longer: events are kept for a while only).
	Events(ctx context.Context, p *Principal, after string, limit int) ([]*Event, error)
}

// Change names what an admin request changes: one of the actions below, and
// the id of the object when the request names one. The zero Change is a read.
type Change struct {
	Action string
	Target string
}

// The actions of admin changes, as the audit trail names them.
const (
	ActionTenantCreate         = "tenant.create"
	ActionTemplateCreate       = "template.create"
	ActionTemplateUpdate       = "template.update"
	ActionTemplateRotateSecret = "template.rotate_secret"
	ActionTemplateAllowlist    = "template.allowlist_import"
	ActionProductCreate        = "product.create"
	ActionDeviceDisable        = "device.disable"
	ActionDeviceEnable         = "device.enable"
	ActionDeviceReset          = "device.reset"
	ActionDeviceDelete         = "device.delete"
	ActionRotationRequest      = "device.rotation_request"
	ActionHardwareUnbind       = "device.hardware_unbind"
	ActionServiceAccountCreate = "service_account.create"
	ActionServiceAccountRevoke = "service_account.revoke"
	ActionTokenCreate          = "token.create"
	ActionTokenRevoke          = "token.revoke"
	ActionWebhookCreate        = "webhook.create"
	ActionWebhookDelete        = "webhook.delete"
	ActionWebhookResend        = "webhook.resend"
)

// Grace limits of a secret rotation.
const (
	DefaultGrace = 24 * time.Hour
	MaxGrace     = 30 * 24 * time.Hour
)

// MaxAllowlistCheck is the most device numbers AllowlistKnown looks up.
const MaxAllowlistCheck = 10_000

// MaxAllowlistImport is the most device numbers one import may carry.
const MaxAllowlistImport = 100_000

// ServiceAccount is a broker credential for a platform consumer of one
// tenant: it may subscribe to that tenant's device uplinks and publish their
// downlinks. Password is set only in the answer that creates it.
type ServiceAccount struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Username  string    `json:"username"`
	Password  string    `json:"password,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
}

// ServiceAccountOf is the service account that token t stands for.
func ServiceAccountOf(t *Token) *ServiceAccount {
	return &ServiceAccount{ID: t.ID, TenantID: t.TenantID, Name: t.Name, Username: ServiceUsernamePrefix + t.ID,
		CreatedAt: t.CreatedAt, Revoked: t.RevokedAt != nil}
}

// Admin token limits and names.
const (
	// MaxTokenLifetime bounds the expiry an admin token may be given; a
	// token meant to live longer is created without one.
	MaxTokenLifetime = 10 * 365 * 24 * time.Hour
	// MinAdminTokenLen is the shortest admin token accepted from OTOS_ADMIN_TOKEN.
	MinAdminTokenLen = 16
	// AdminTokenPrefix starts every admin token that otos generates, so that
	// a token is recognisable (by people and secret scanners) for what it is.
	AdminTokenPrefix = "otos_"
	// BootstrapTokenPrefix starts the name of a node's bootstrap token on a
	// store that several nodes share.
	BootstrapTokenPrefix = "bootstrap@"
)

// AdminToken is an admin API token as the API shows it: never its hash, and
// the token itself (Token) only in the answer that creates it.
type AdminToken struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id"` // empty: a system token, which sees every tenant
	Role      Role       `json:"role"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Token     string     `json:"token,omitempty"`
}

// AdminTokenOf is how the API shows token t.
func AdminTokenOf(t *Token) *AdminToken {
	return &AdminToken{ID: t.ID, TenantID: t.TenantID, Role: t.Role, Name: t.Name, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// AdminRole reports whether a token of role r opens the admin API. Only the
// admin roles are listed, so that a role added later (like RoleService,
// whose tokens are broker passwords that share the token table) is refused
// until it is given admin access on purpose.
func AdminRole(r Role) bool {
	return r == RoleAdmin || r == RoleViewer
}

// TokenSpec is what a new admin token is to be.
type TokenSpec struct {
	// TenantID names the token's tenant; "" makes one of the creator's
	// scope (a system token, from the system administrator).
	TenantID string
	Role     Role   // RoleAdmin or RoleViewer
	Name     string // optional, for people
	// ExpiresInSeconds or ExpiresAt, not both, gives the token an expiry;
	// with neither it is valid until revoked.
	ExpiresInSeconds *int64
	ExpiresAt        *time.Time
}

// Validate checks the spec's role and name.
func (sp *TokenSpec) Validate() error {
	if sp.Role == "" {
		return FieldError("role", ReasonRequired, "role is required: admin or viewer")
	}
	if !AdminRole(sp.Role) {
		return FieldError("role", ReasonValue, "role must be admin or viewer")
	}
	if sp.Name == BootstrapTokenName || strings.HasPrefix(sp.Name, BootstrapTokenPrefix) {
		// otos serve revokes every token of this name when it replaces its own.
		return FieldError("name", ReasonValue, "name %q is reserved for the token that otos serve writes", sp.Name)
	}
	if sp.Name != "" {
		return ValidateName("name", sp.Name)
	}
	return nil
}

// Expiry returns when a token created at now expires, nil for never.
func (sp *TokenSpec) Expiry(now time.Time) (*time.Time, error) {
	switch {
	case sp.ExpiresInSeconds != nil && sp.ExpiresAt != nil:
		return nil, FieldError("expires_at", ReasonValue, "give expires_in_seconds or expires_at, not both")
	case sp.ExpiresInSeconds != nil:
		n := *sp.ExpiresInSeconds
		if n < 1 || n > int64(MaxTokenLifetime/time.Second) {
			return nil, FieldError("expires_in_seconds", ReasonValue,
				"expires_in_seconds must be between 1 and %d", int64(MaxTokenLifetime/time.Second))
		}
		at := now.Add(time.Duration(n) * time.Second)
		return &at, nil
	case sp.ExpiresAt != nil:
		at := sp.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !at.After(now) || at.Sub(now) > MaxTokenLifetime {
			return nil, FieldError("expires_at", ReasonValue,
				"expires_at must be in the future, and at most %d days ahead", int(MaxTokenLifetime/(24*time.Hour)))
		}
		return &at, nil
	}
	return nil, nil
}

// Overview is the state of a tenant's fleet at a glance (of every tenant,
// for the system administrator), as the console's first page shows it.
// Counters are this node's, in memory, over the last hour.
type Overview struct {
	// Devices is how many devices there are; Online how many have a live
	// broker session on this node.
	Devices int64 `json:"devices"`
	Online  int64 `json:"online"`
	// Registrations counts the successful registrations of each of the
	// last 60 minutes, oldest first, the current minute last.
	Registrations []int `json:"registrations_per_minute"`
	// Refusals counts the refused registrations of the last hour by code.
	Refusals []CodeCount `json:"refusals"`
	// TopRefused are the client addresses refused most in the last hour.
	TopRefused []AddrCount `json:"top_refused"`
	// Latest are the newest registrations, newest first.
	Latest []Registered `json:"latest"`
}

// CodeCount is how many refusals had one result code.
type CodeCount struct {
	Code  int `json:"code"`
	Count int `json:"count"`
}

// AddrCount is how many refusals one client address had.
type AddrCount struct {
	Addr  string `json:"addr"`
	Count int    `json:"count"`
}

// Registered is one successful registration, for the live view.
type Registered struct {
	At           time.Time `json:"at"`
	DeviceID     string    `json:"device_id"`
	DeviceNumber string    `json:"device_number"`
	TemplateID   string    `json:"template_id"`
	ClientAddr   string    `json:"client_addr"`
}
