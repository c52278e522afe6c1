package otos

import (
	"slices"
	"strings"
	"time"
)

// DeviceType is what kind of device a template makes.
type DeviceType string

// Device types.
const (
	DeviceDirect    DeviceType = "direct"     // connects to the broker itself
	DeviceGateway   DeviceType = "gateway"    // connects, and speaks for sub-devices
	DeviceSubDevice DeviceType = "sub_device" // behind a gateway
)

// VoucherType is the form of the credential a template's devices receive.
type VoucherType string

// Voucher types.
const (
	// VoucherBasic is {"username":"<uuid>","password":"<secret>"}.
	VoucherBasic VoucherType = "BASIC"
	// VoucherAccessToken is {"username":"<secret uuid>"}, ThingsPanel's default.
	VoucherAccessToken VoucherType = "ACCESSTOKEN"
)

// Registration says whether devices may register themselves.
type Registration string

// Registration modes.
const (
	RegistrationAuto Registration = "auto"
	RegistrationOff  Registration = "off"
	// RegistrationAllowlist registers only device numbers imported beforehand.
	RegistrationAllowlist Registration = "allowlist"
)

// AuthMode says how devices of a template prove that they know its secret.
type AuthMode string

// Auth modes.
const (
	// AuthAny accepts the plain template secret and signed requests.
	AuthAny AuthMode = "any"
	// AuthSigned accepts only signed requests: the secret never travels.
	AuthSigned AuthMode = "signed"
)

// Template limits.
const (
	MaxMaxDevices = 100_000_000
	MaxRateLimit  = 1_000_000
)

// Reregistration says how a repeated registration of a known device is answered.
type Reregistration string

// Re-registration policies.
const (
	// ReregUntilConnected re-issues the voucher (voiding the old one) until the
	// device first connects to the broker; later repeats get EDEVICEEXISTS.
	ReregUntilConnected Reregistration = "until_connected"
	// ReregNever answers every repeat with EDEVICEEXISTS, as ThingsPanel does.
	ReregNever Reregistration = "never"
	// ReregHardware is until_connected, and also re-issues the voucher,
	// even after the device has connected, to a registration that proves
	// the hardware identity bound at the first one (factory-reset
	// recovery); a different identity is refused as a clone.
	ReregHardware Reregistration = "hardware"
)

// Template is a device type: all its devices share its template secret.
// The secret itself is never held here; the store keeps only a keyed hash for
// look-up and a sealed copy (see TemplateSecret).
type Template struct {
	ID             string         `json:"id"`
	TenantID       string         `json:"tenant_id"`
	Name           string         `json:"name"`
	DeviceType     DeviceType     `json:"device_type"`
	VoucherType    VoucherType    `json:"voucher_type"`
	Registration   Registration   `json:"registration"`
	Reregistration Reregistration `json:"reregistration"`
	AuthMode       AuthMode       `json:"auth_mode"`
	// MaxDevices caps how many devices the template may create; 0: no cap.
	MaxDevices int `json:"max_devices"`
	// RateLimit caps registrations per second through the template; 0: none.
	RateLimit int `json:"rate_limit"`
	// SubTemplates, of a gateway template, are the sub-device templates
	// under which its gateways may register sub-devices themselves, with
	// their own voucher (Registrar.RegisterSubDevices). Nothing else lets a
	// gateway create devices.
	SubTemplates []string `json:"sub_device_templates"`
	// CloneAction is what a suspected clone of one of its devices (one
	// voucher connecting by turns from different addresses) leads to,
	// besides the audit record and the event: nothing, or disabling it.
	CloneAction CloneAction `json:"clone_action"`
	// RotationOverlap is how long, in seconds, a voucher replaced by a
	// rotation keeps working, unless the new one is used sooner.
	RotationOverlap int64 `json:"rotation_overlap_seconds"`
	// VoucherLifetime, in seconds, is how long a voucher is valid after it
	// is issued; 0: for ever.
	VoucherLifetime int64 `json:"voucher_lifetime_seconds"`
	// DeviceCount is how many devices the template has; kept by the store.
	DeviceCount int       `json:"device_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// TemplateSecret is what the store keeps of one template secret.
type TemplateSecret struct {
	// Hash is HMAC-SHA256 of the secret under the server's look-up key; it is
	// unique across the platform and indexed.
	Hash []byte
	// Sealed is the secret encrypted with the server's sealing key, kept for
	// features that need the secret itself (signed requests).
	Sealed []byte
	// ExpiresAt is zero for the current secret and the end of the grace
	// period for a secret replaced by rotation.
	ExpiresAt time.Time
}

// Validate checks the fields an operator sets on a template.
func (t *Template) Validate() error {
	if err := validateName("name", t.Name, true); err != nil {
		return err
	}
	switch t.DeviceType {
	case DeviceDirect, DeviceGateway, DeviceSubDevice:
	default:
		return FieldError("device_type", ReasonValue, "device_type must be one of direct, gateway, sub_device")
	}
	switch t.VoucherType {
	case VoucherBasic, VoucherAccessToken:
	default:
		return FieldError("voucher_type", ReasonValue, "voucher_type must be BASIC or ACCESSTOKEN")
	}
	switch t.Registration {
	case RegistrationAuto, RegistrationOff, RegistrationAllowlist:
	default:
		return FieldError("registration", ReasonValue, "registration must be auto, off or allowlist")
	}
	switch t.AuthMode {
	case AuthAny, AuthSigned:
	default:
		return FieldError("auth_mode", ReasonValue, "auth_mode must be any or signed")
	}
	if t.MaxDevices < 0 || t.MaxDevices > MaxMaxDevices {
		return FieldError("max_devices", ReasonValue, "max_devices must be between 0 (no cap) and %d", MaxMaxDevices)
	}
	if t.RateLimit < 0 || t.RateLimit > MaxRateLimit {
		return FieldError("rate_limit", ReasonValue, "rate_limit must be between 0 (none) and %d registrations a second", MaxRateLimit)
	}
	switch t.Reregistration {
	case ReregUntilConnected, ReregNever, ReregHardware:
	default:
		return FieldError("reregistration", ReasonValue, "reregistration must be until_connected, never or hardware")
	}
	if t.RotationOverlap < MinRotationOverlap || t.RotationOverlap > MaxRotationOverlap {
		return FieldError("rotation_overlap_seconds", ReasonValue, "rotation_overlap_seconds must be between %d and %d", MinRotationOverlap, MaxRotationOverlap)
	}
	if t.VoucherLifetime != 0 && (t.VoucherLifetime < MinVoucherLifetime || t.VoucherLifetime > MaxVoucherLifetime) {
		return FieldError("voucher_lifetime_seconds", ReasonValue, "voucher_lifetime_seconds must be 0 (no expiry) or between %d and %d", MinVoucherLifetime, MaxVoucherLifetime)
	}
	switch t.CloneAction {
	case "", CloneNone, CloneDisable: // "": none
	default:
		return FieldError("clone_action", ReasonValue, "clone_action must be none or disable")
	}
	return t.validateSubTemplates()
}

// CloneAction is what a template does about a suspected clone.
type CloneAction string

// Clone actions.
const (
	CloneNone    CloneAction = "none"    // audit and event only
	CloneDisable CloneAction = "disable" // and disable the device
)

// MaxSubTemplates bounds a gateway template's sub-device templates.
const MaxSubTemplates = 32

// validateSubTemplates checks the form of SubTemplates; that each names a
// sub-device template of the tenant is the core's to check.
func (t *Template) validateSubTemplates() error {
	if len(t.SubTemplates) > 0 && t.DeviceType != DeviceGateway {
		return FieldError("sub_device_templates", ReasonValue, "only a gateway template can have sub_device_templates")
	}
	if len(t.SubTemplates) > MaxSubTemplates {
		return FieldError("sub_device_templates", ReasonTooLong, "sub_device_templates holds at most %d templates", MaxSubTemplates)
	}
	for i, id := range t.SubTemplates {
		if id == "" || len(id) > 64 || strings.ContainsAny(id, ", \t\n") || slices.Contains(t.SubTemplates[:i], id) {
			return FieldError("sub_device_templates", ReasonValue, "sub_device_templates must be distinct template ids")
		}
	}
	return nil
}

// TemplateUpdate is a partial change of a template; nil fields are kept.
type TemplateUpdate struct {
	Name            *string
	Registration    *Registration
	Reregistration  *Reregistration
	AuthMode        *AuthMode
	MaxDevices      *int
	RateLimit       *int
	SubTemplates    *[]string
	CloneAction     *CloneAction
	RotationOverlap *int64
	VoucherLifetime *int64
}

// Apply changes t by u and validates the result.
func (u TemplateUpdate) Apply(t *Template) error {
	if u.Name != nil {
		t.Name = *u.Name
	}
	if u.Registration != nil {
		t.Registration = *u.Registration
	}
	if u.Reregistration != nil {
		t.Reregistration = *u.Reregistration
	}
	if u.AuthMode != nil {
		t.AuthMode = *u.AuthMode
	}
	if u.MaxDevices != nil {
		t.MaxDevices = *u.MaxDevices
	}
	if u.RateLimit != nil {
		t.RateLimit = *u.RateLimit
	}
	if u.SubTemplates != nil {
		t.SubTemplates = *u.SubTemplates
	}
	if u.CloneAction != nil {
		t.CloneAction = *u.CloneAction
	}
	if u.RotationOverlap != nil {
		t.RotationOverlap = *u.RotationOverlap
	}
	if u.VoucherLifetime != nil {
		t.VoucherLifetime = *u.VoucherLifetime
	}
	return t.Validate()
}

// TemplateFilter selects templates in a list.
type TemplateFilter struct {
	TenantID string // empty: every tenant
	Page
}

// Product is a product line, bound to one template, with a server-generated
// product key that devices may send when they register.
type Product struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id"`
	TemplateID string    `json:"template_id"`
	Name       string    `json:"name"`
	ProductKey string    `json:"product_key"`
	CreatedAt  time.Time `json:"created_at"`
}

// Validate checks the fields an operator sets on a product.
func (p *Product) Validate() error {
	if err := validateName("name", p.Name, true); err != nil {
		return err
	}
	if p.TemplateID == "" {
		return FieldError("template_id", ReasonRequired, "template_id is required")
	}
	return nil
}

// ProductFilter selects products in a list.
type ProductFilter struct {
	TenantID   string // empty: every tenant
	TemplateID string
	Page
}

// Changed names the settings an operator sets that differ between t and
// after, as the admin API spells them.
func (t *Template) Changed(after *Template) []string {
	var out []string
	for _, c := range []struct {
		name string
		diff bool
	}{
		{"name", t.Name != after.Name},
		{"registration", t.Registration != after.Registration},
		{"reregistration", t.Reregistration != after.Reregistration},
		{"auth_mode", t.AuthMode != after.AuthMode},
		{"max_devices", t.MaxDevices != after.MaxDevices},
		{"rate_limit", t.RateLimit != after.RateLimit},
		{"sub_device_templates", !slices.Equal(t.SubTemplates, after.SubTemplates)},
		{"clone_action", t.CloneAction != after.CloneAction},
		{"rotation_overlap_seconds", t.RotationOverlap != after.RotationOverlap},
		{"voucher_lifetime_seconds", t.VoucherLifetime != after.VoucherLifetime},
	} {
		if c.diff {
			out = append(out, c.name)
		}
	}
	return out
}

// VoucherExpiry returns when a voucher of t issued at now expires; nil
// when t's vouchers do not.
func (t *Template) VoucherExpiry(now time.Time) *time.Time {
	if t.VoucherLifetime <= 0 {
		return nil
	}
	at := now.Add(time.Duration(t.VoucherLifetime) * time.Second)
	return &at
}
