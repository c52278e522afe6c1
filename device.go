package otos

import (
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
	Page
}

// Validate checks the filter's values.
func (f *DeviceFilter) Validate() error {
	switch f.Status {
	case "", StatusEnabled, StatusDisabled:
	default:
		return FieldError("status", ReasonValue, "status must be enabled or disabled")
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

// ReissueRefusal says why a voucher could not be re-issued to cur for
// templateID (see Store.ReissueCredential): an ECONFLICT naming the rule.
func ReissueRefusal(cur *Device, templateID string) error {
	switch {
	case cur.TemplateID != templateID:
		return Errorf(ECONFLICT, "device belongs to another template")
	case cur.Status != StatusEnabled:
		return Errorf(ECONFLICT, "device is disabled")
	case cur.FirstConnectedAt == nil:
		return Errorf(ECONFLICT, "device already holds a voucher")
	default:
		return Errorf(ECONFLICT, "device has already connected")
	}
}
