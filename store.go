package otos

import (
	"context"
	"time"
)

// Store keeps tenants, templates, products, devices and tokens. Every
// uniqueness rule is enforced by the store itself, atomically: callers never
// check and then insert. Unless a method says otherwise it returns ENOTFOUND
// for a missing object and EUNAVAILABLE when the database cannot be reached.
//
// The methods that change something take the events of the change: the
// store writes them in the change's own transaction when the change is
// made, and not at all when it is not (an error, no row matched), giving
// each a position in the order of commits.
type Store interface {
	// Ping returns nil when the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error

	// CreateTenant inserts t; ECONFLICT if its id is taken.
	CreateTenant(ctx context.Context, t *Tenant) error
	// Tenant returns the tenant with this id.
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// Tenants lists tenants in creation order, with the next cursor.
	Tenants(ctx context.Context, p Page) ([]*Tenant, string, error)

	// AppendAudit stores audit records. A store may write a long list in
	// several transactions; writing a record again is harmless (its id is
	// its identity), so a failed call can be retried whole.
	AppendAudit(ctx context.Context, rs []*AuditRecord) error
	// Audit lists audit records in time order, with the next cursor.
	Audit(ctx context.Context, f AuditFilter) ([]*AuditRecord, string, error)
	// PruneAudit deletes the records from before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// CreateTemplate inserts t with its first secret; ECONFLICT if the
	// secret's hash is taken.
	CreateTemplate(ctx context.Context, t *Template, s TemplateSecret, events ...*Event) error
	// Template returns the template with this id.
	Template(ctx context.Context, id string) (*Template, error)
	// Templates lists templates in creation order, with the cursor of the
	// next page ("" on the last page).
	Templates(ctx context.Context, f TemplateFilter) ([]*Template, string, error)
	// UpdateTemplate stores t's name, registration, reregistration and UpdatedAt.
	UpdateTemplate(ctx context.Context, t *Template, events ...*Event) error
	// TemplateBySecret returns the template that has a secret with this hash,
	// current or within its grace period at now.
	TemplateBySecret(ctx context.Context, hash []byte, now time.Time) (*Template, error)
	// TemplateSecrets returns the template's secrets valid at now, the
	// current one first (a rotated one stays valid through its grace period).
	TemplateSecrets(ctx context.Context, templateID string, now time.Time) ([]TemplateSecret, error)
	// AllowDevices puts device numbers on the template's allow-list and
	// returns how many were not on it yet.
	AllowDevices(ctx context.Context, templateID string, numbers []string, now time.Time, events ...*Event) (int, error)
	// Allowed reports whether number is on the template's allow-list.
	Allowed(ctx context.Context, templateID, number string) (bool, error)
	// Allowlist lists the device numbers on the template's allow-list in
	// byte order, with the next cursor.
	Allowlist(ctx context.Context, templateID string, p Page) ([]string, string, error)
	// UseNonce records that a signed request of the template used nonce,
	// until expires. ECONFLICT if it was recorded before and has not expired
	// at now: a replay.
	UseNonce(ctx context.Context, templateID, nonce string, expires, now time.Time) error
	// RotateSecret makes s the template's current secret. Its earlier secrets
	// stay valid until graceUntil (already expired ones are dropped).
	// ECONFLICT if s's hash is taken.
	RotateSecret(ctx context.Context, templateID string, s TemplateSecret, graceUntil, now time.Time, events ...*Event) error

	// CreateProduct inserts p; ECONFLICT if its product key is taken.
	CreateProduct(ctx context.Context, p *Product) error
	// Product returns the product with this id.
	Product(ctx context.Context, id string) (*Product, error)
	// ProductByKey returns the product with this product key.
	ProductByKey(ctx context.Context, key string) (*Product, error)
	// Products lists products in creation order, with the next cursor.
	Products(ctx context.Context, f ProductFilter) ([]*Product, string, error)

	// CreateDevice inserts d with its credential. ECONFLICT with Field
	// "device_number" when the number is taken, "sub_device_addr" when the
	// address is taken under the parent, "max_devices" when the template has
	// reached its cap (checked atomically with the insert).
	CreateDevice(ctx context.Context, d *Device, events ...*Event) error
	// Device returns the device with this id.
	Device(ctx context.Context, id string) (*Device, error)
	// DeviceByNumber returns the device with this device number.
	DeviceByNumber(ctx context.Context, number string) (*Device, error)
	// DeviceByCredential returns the device whose voucher username hashes
	// to lookup: its current voucher, or its previous one (Device.Previous),
	// whether still valid or not.
	DeviceByCredential(ctx context.Context, lookup []byte) (*Device, error)
	// Devices lists devices in creation order, with the next cursor.
	Devices(ctx context.Context, f DeviceFilter) ([]*Device, string, error)
	// ReissueCredential gives device id the credential of r in one atomic
	// step, dropping its previous one, only while the device is enabled,
	// belongs to r.TemplateID and either (r.Recover) is bound to that
	// hardware, or has never connected and, with r.OnlyIfVoid, holds no
	// credential (was reset); otherwise it returns ECONFLICT and changes
	// nothing.
	ReissueCredential(ctx context.Context, id string, r Reissue, now time.Time, events ...*Event) (*Device, error)
	// RotateCredential gives device id the new voucher of r in one
	// conditional step, only while the device is enabled and r.Presented
	// is its current voucher, not expired, or its previous one within its
	// overlap and not rotated after r.RetryBefore; ECONFLICT otherwise (another
	// rotation won), ENOTFOUND for an unknown device. Presenting the
	// current voucher makes it the previous one, valid until
	// r.PreviousUntil; the device's rotation request is cleared.
	RotateCredential(ctx context.Context, id string, r Rotation, now time.Time, events ...*Event) (*Device, error)
	// EndOverlap drops the previous voucher of device id once its current
	// one, whose look-up key is lookup, is used; ENOTFOUND when the device
	// has no previous voucher or another current one.
	EndOverlap(ctx context.Context, id string, lookup []byte, now time.Time) error
	// RequestRotation asks the devices of scope to rotate their voucher
	// and, with a deadline, makes their current voucher expire by then, and
	// the overlap of a previous one end by then; it returns how many devices
	// it marked.
	RequestRotation(ctx context.Context, scope RotationScope, deadline *time.Time, now time.Time) (int64, error)
	// SetHardware binds device id to hardware h, or with a zero h unbinds it.
	SetHardware(ctx context.Context, id string, h Hardware, now time.Time, events ...*Event) (*Device, error)
	// SetDeviceStatus enables or disables device id.
	SetDeviceStatus(ctx context.Context, id string, s DeviceStatus, now time.Time, events ...*Event) (*Device, error)
	// ResetDevice voids the device's credential and clears its first
	// connection, re-opening registration for it.
	ResetDevice(ctx context.Context, id string, now time.Time, events ...*Event) (*Device, error)
	// DeleteDevice deletes device id; ECONFLICT while it has sub-devices.
	DeleteDevice(ctx context.Context, id string, events ...*Event) error
	// MarkConnected records a connection of device id at at: the first one
	// sets FirstConnectedAt, which closes re-registration. ENOTFOUND unless
	// the device is enabled and still holds the voucher whose look-up key is
	// lookup, as its current one or as its previous one within its overlap:
	// a connection that raced with a disable, reset or re-issue must not
	// close registration again.
	MarkConnected(ctx context.Context, id string, lookup []byte, at time.Time, events ...*Event) error
	// RecordPresence stores, in one transaction, whether each device is
	// online and when it was last seen. An entry older than what the store
	// holds for the device is skipped; unknown devices are ignored.
	RecordPresence(ctx context.Context, ps []Presence, events ...*Event) error

	// AppendEvents writes events that tell of no store change (refused
	// registrations), in one transaction.
	AppendEvents(ctx context.Context, es []*Event) error
	// Events lists events after f.After in position order, at most f.Limit
	// (DefaultPageLimit when 0).
	Events(ctx context.Context, f EventFilter) ([]*Event, error)
	// EventPos returns the position of event id.
	EventPos(ctx context.Context, id string) (int64, error)
	// LastEventPos returns the position of the newest event, 0 for none.
	LastEventPos(ctx context.Context) (int64, error)
	// PruneEvents deletes the events from before, with their deliveries,
	// and returns how many events.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)

	// CreateWebhook inserts w, its cursor at the newest event.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// Webhook returns the webhook with this id.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// Webhooks lists webhooks in creation order, with the next cursor.
	Webhooks(ctx context.Context, f WebhookFilter) ([]*Webhook, string, error)
	// DeleteWebhook deletes webhook id and its deliveries.
	DeleteWebhook(ctx context.Context, id string) error
	// LeaseWebhook gives node the delivery of webhook id until until, and
	// returns the webhook with its cursor: ECONFLICT while another node
	// holds a lease that has not ended at now. Of nodes sharing a store, one
	// at a time delivers a webhook's events.
	LeaseWebhook(ctx context.Context, id, node string, until, now time.Time) (*Webhook, error)
	// AdvanceWebhook moves the cursor of webhook id to cursor and stores
	// ds, the events up to it that it did not receive, in one transaction;
	// ECONFLICT unless node holds a lease that has not ended at now.
	AdvanceWebhook(ctx context.Context, id, node string, cursor int64, ds []*Delivery, now time.Time) error
	// Deliveries lists a webhook's deliveries in event order, each with its
	// event, at most f.Limit.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, []*Event, error)
	// PendingSubjects returns those of subjects that have a delivery to
	// webhook id that is not dead: their new events must wait behind it.
	PendingSubjects(ctx context.Context, id string, subjects []string) ([]string, error)
	// UpdateDelivery stores d's state, attempts, next attempt and last
	// answer.
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// DeleteDelivery deletes the delivery of the event at pos to webhook
	// id: it was received.
	DeleteDelivery(ctx context.Context, id string, pos int64) error

	// CreateToken inserts t; ECONFLICT if its hash is taken.
	CreateToken(ctx context.Context, t *Token) error
	// Token returns the token with this id.
	Token(ctx context.Context, id string) (*Token, error)
	// TokenByHash returns the token with this hash, active or not.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// RevokeTokensByName revokes every active token with this name.
	RevokeTokensByName(ctx context.Context, name string, now time.Time) error
	// Tokens lists tokens in creation order, with the next cursor.
	Tokens(ctx context.Context, f TokenFilter) ([]*Token, string, error)
	// RevokeToken revokes token id at now; revoking a revoked token keeps
	// its first revocation time.
	RevokeToken(ctx context.Context, id string, now time.Time) (*Token, error)

	// ServerKey returns the server's master key, from which the keys that
	// hash and seal template secrets derive; ENOTFOUND until one is stored.
	ServerKey(ctx context.Context) ([]byte, error)
	// InitServerKey stores key as the server's master key unless one is
	// stored already, and returns the stored key: of nodes starting at once
	// on one database, the first wins and all get its key. EINVALID for an
	// empty key.
	InitServerKey(ctx context.Context, key []byte) ([]byte, error)
}
