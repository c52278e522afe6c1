package otos

import (
	"strings"
	"time"
)

// DeviceStatus is whether a device may connect and register again.
type DeviceStatus string

// Device statuses.
const (
	StatusEnabled  DeviceStatus = "enabled"
	StatusDisabled DeviceStatus = "disabled"
)

// Device is one physical unit, identified by its device number, unique across
// the platform. Optional references (ProductID, ParentID, SubDeviceAddr) are
// empty when absent.
type Device struct {
	ID               string       `json:"id"`
	TenantID         string       `json:"tenant_id"`
	TemplateID       string       `json:"template_id"`
	ProductID        string       `json:"product_id"`
	ParentID         string       `json:"parent_id"`
	DeviceNumber     string       `json:"device_number"`
	Name             string       `json:"name"`
	SubDeviceAddr    string       `json:"sub_device_addr"`
	Status           DeviceStatus `json:"status"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
	FirstConnectedAt *time.Time   `json:"first_connected_at"`
	LastSeenAt       *time.Time   `json:"last_seen_at"`
	Online           bool         `json:"online"`

	// Credential is the stored form of the device's voucher; zero after a
	// reset, until the device registers again.
	Credential Credential `json:"-"`
	// VoucherExpiresAt is when the voucher stops being valid: the end of
	// its template's lifetime, or the deadline of a forced rotation; nil:
	// never.
	VoucherExpiresAt *time.Time `json:"voucher_expires_at"`
	// Previous is the voucher the last rotation replaced, valid until
	// PreviousUntil or the first use of the new one, whichever comes first;
	// zero when there is none.
	Previous      Credential `json:"-"`
	PreviousUntil *time.Time `json:"previous_voucher_until"`
	// RotatedAt is the last rotation; RotationRequestedAt an operator's
	// request that the device rotate, pending until it does.
	RotatedAt           *time.Time `json:"rotated_at"`
	RotationRequestedAt *time.Time `json:"rotation_requested_at"`
	// Hardware is the hardware identity bound at registration.
	Hardware Hardware `json:"hardware"`
}

// PreviousValid reports whether the previous voucher is still valid at now.
func (d *Device) PreviousValid(now time.Time) bool {
	return !d.Previous.IsZero() && d.PreviousUntil != nil && now.Before(*d.PreviousUntil)
}

// Presence is whether a device is connected to the broker, as of At.
type Presence struct {
	DeviceID string
	Online   bool
	At       time.Time
}

// DeviceFilter selects devices in a list; empty fields match anything.
type DeviceFilter struct {
	TenantID     string
	TemplateID   string
	ProductID    string
	ParentID     string
	DeviceNumber string
	Status       DeviceStatus
	// ExpiringBefore, when set, selects devices whose voucher expires
	// before it (expired ones included); ExpiringWithin sets it that far
	// from now, by the core's clock.
	ExpiringBefore *time.Time
	ExpiringWithin time.Duration
	// Online, when set, selects devices online (true) or not (false).
	Online *bool
	// Search, when set, selects the devices whose number or name starts
	// with it, letter case aside.
	Search string
	Page
}

// LikePrefix is a LIKE pattern (escape character \) matching the strings
// that start with s.
func LikePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// Validate checks the filter's values.
func (f *DeviceFilter) Validate() error {
	switch f.Status {
	case "", StatusEnabled, StatusDisabled:
	default:
		return FieldError("status", ReasonValue, "status must be enabled or disabled")
	}
	if err := validateString("search", f.Search, MaxNameLen, false, false); err != nil {
		return err
	}
	if f.ExpiringWithin < 0 {
		return FieldError("expiring_within", ReasonValue, "expiring_within must not be negative")
	}
	return f.Page.Validate()
}

// Validate checks the page's limit and fills in the default.
func (p *Page) Validate() error {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultPageLimit
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		return FieldError("limit", ReasonValue, "limit must be between 1 and %d", MaxPageLimit)
	}
	return nil
}

// ReissueRefusal says why a voucher could not be re-issued to cur by r
// (see Store.ReissueCredential): an ECONFLICT naming the rule.
func ReissueRefusal(cur *Device, r Reissue) error {
	switch {
	case cur.TemplateID != r.TemplateID:
		return Errorf(ECONFLICT, "device belongs to another template")
	case cur.Status != StatusEnabled:
		return Errorf(ECONFLICT, "device is disabled")
	case r.Recover != nil:
		return Errorf(ECONFLICT, "device is not bound to this hardware")
	case cur.FirstConnectedAt == nil:
		return Errorf(ECONFLICT, "device already holds a voucher")
	default:
		return Errorf(ECONFLICT, "device has already connected")
	}
}
