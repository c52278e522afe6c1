package otos

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field limits of the device auth request, in characters.
const (
	MaxSecretLen        = 256
	MaxDeviceNumberLen  = 100
	MaxNameLen          = 255
	MaxProductKeyLen    = 64
	MaxSubDeviceAddrLen = 36
	MaxHardwareIDLen    = 128
)

// AuthRequest is the body of POST /api/v1/device/auth. A plain request
// carries TemplateSecret; a signed one carries TemplateID (or ProductKey),
// Timestamp, Nonce, SignMethod and Sign instead, and the secret never travels.
type AuthRequest struct {
	TemplateSecret     Secret
	DeviceNumber       string
	DeviceName         string
	ProductKey         string
	ParentDeviceNumber string
	SubDeviceAddr      string

	TemplateID string
	Timestamp  string // Unix milliseconds, decimal, as sent
	Nonce      string
	SignMethod string
	Sign       string

	// Hardware identity (Template reregistration "hardware"): a chip id
	// or serial, an Ed25519 public key enrolled with the first
	// registration, and the key's signature of SigningString (base64),
	// which a recovery must carry once a key is enrolled.
	HardwareID   string
	HardwareKey  string
	HardwareSign string
}

// Signed reports whether the request is a signed one.
func (r *AuthRequest) Signed() bool {
	return r.TemplateSecret == "" && (r.Sign != "" || r.SignMethod != "")
}

// Validate checks the request's fields, in a fixed order, and returns an
// EINVALID error naming the first field at fault. Whether sub-device fields
// are required depends on the template, so it is not checked here.
func (r *AuthRequest) Validate() error {
	signed := r.Signed()
	checks := []fieldCheck{
		{"template_secret", string(r.TemplateSecret), MaxSecretLen, !signed, true},
		{"device_number", r.DeviceNumber, MaxDeviceNumberLen, true, true},
		{"device_name", r.DeviceName, MaxNameLen, false, false},
		{"product_key", r.ProductKey, MaxProductKeyLen, false, true},
		{"parent_device_number", r.ParentDeviceNumber, MaxDeviceNumberLen, false, true},
		{"sub_device_addr", r.SubDeviceAddr, MaxSubDeviceAddrLen, false, true},
		{"template_id", r.TemplateID, 64, false, true},
		{"nonce", r.Nonce, MaxNonceLen, signed, true},
		{"hardware_id", r.HardwareID, MaxHardwareIDLen, false, true},
		{"hardware_key", r.HardwareKey, 64, false, true},
		{"hardware_sign", r.HardwareSign, 128, false, true},
	}
	if err := validateFields(checks); err != nil {
		return err
	}
	if err := r.validateHardwareFields(); err != nil {
		return err
	}
	if signed {
		return r.validateSignFields()
	}
	return nil
}

// validateHardwareFields checks that a key or signature comes with the
// hardware id it belongs to, and a signature with its timestamp and nonce.
func (r *AuthRequest) validateHardwareFields() error {
	switch {
	case r.HardwareID == "" && r.HardwareKey != "":
		return FieldError("hardware_id", ReasonRequired, "hardware_key needs the hardware_id it belongs to")
	case r.HardwareID == "" && r.HardwareSign != "":
		return FieldError("hardware_id", ReasonRequired, "hardware_sign needs the hardware_id it signs")
	case r.HardwareKey != "":
		if _, err := ParseHardwareKey(r.HardwareKey); err != nil {
			return err
		}
	}
	if r.HardwareSign == "" {
		return nil
	}
	switch {
	case r.Timestamp == "" || len(r.Timestamp) > 16 || strings.Trim(r.Timestamp, "0123456789") != "":
		return FieldError("timestamp", ReasonValue, "hardware_sign needs timestamp, Unix milliseconds, a whole number")
	case utf8.RuneCountInString(r.Nonce) < MinNonceLen:
		return FieldError("nonce", ReasonValue, "hardware_sign needs a nonce of %d to %d characters", MinNonceLen, MaxNonceLen)
	}
	return nil
}

// fieldCheck is the rule of one string field of a device request.
type fieldCheck struct {
	field    string
	value    string
	max      int
	required bool
	ident    bool
}

// validateFields checks fields in order and returns the first failure.
func validateFields(checks []fieldCheck) error {
	for _, c := range checks {
		if err := validateString(c.field, c.value, c.max, c.required, c.ident); err != nil {
			return err
		}
	}
	return nil
}

// validateSignFields checks the fields of a signed request.
func (r *AuthRequest) validateSignFields() error {
	switch {
	case r.TemplateID == "" && r.ProductKey == "":
		return FieldError("template_id", ReasonRequired, "a signed request needs template_id or product_key")
	case r.Timestamp == "":
		return FieldError("timestamp", ReasonRequired, "timestamp is required in a signed request")
	case len(r.Timestamp) > 16 || strings.Trim(r.Timestamp, "0123456789") != "":
		return FieldError("timestamp", ReasonValue, "timestamp must be Unix milliseconds, a whole number")
	case utf8.RuneCountInString(r.Nonce) < MinNonceLen:
		return FieldError("nonce", ReasonValue, "nonce must be %d to %d characters", MinNonceLen, MaxNonceLen)
	case r.SignMethod != SignMethodHMACSHA256:
		return FieldError("sign_method", ReasonValue, "sign_method must be %s", SignMethodHMACSHA256)
	case len(r.Sign) != 64 || strings.Trim(strings.ToLower(r.Sign), "0123456789abcdef") != "":
		return FieldError("sign", ReasonValue, "sign must be 64 hex digits (HMAC-SHA256)")
	}
	return nil
}

// ValidateDeviceNumber checks a device number given by an operator (an
// allow-list entry) by the rules of the device auth request.
func ValidateDeviceNumber(field, value string) error {
	return validateString(field, value, MaxDeviceNumberLen, true, true)
}

// ValidateName checks a required human-readable name set by an operator,
// returning EINVALID naming field.
func ValidateName(field, value string) error {
	return validateName(field, value, true)
}

// validateName checks a human-readable name set by an operator.
func validateName(field, value string, required bool) error {
	return validateString(field, value, MaxNameLen, required, false)
}

// validateString checks one string field. Identifiers (ident) may not start
// or end with white space: " abc" and "abc" would look like one device.
func validateString(field, value string, max int, required, ident bool) error {
	if value == "" {
		if required {
			return FieldError(field, ReasonRequired, "%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(value) {
		return FieldError(field, ReasonValue, "%s must be valid UTF-8", field)
	}
	if utf8.RuneCountInString(value) > max {
		return FieldError(field, ReasonTooLong, "%s must be at most %d characters", field, max)
	}
	if strings.IndexFunc(value, unicode.IsControl) >= 0 {
		return FieldError(field, ReasonControl, "%s must not contain control characters", field)
	}
	if ident && strings.TrimSpace(value) != value {
		return FieldError(field, ReasonWhitespace, "%s must not start or end with white space", field)
	}
	if strings.TrimSpace(value) == "" {
		return FieldError(field, ReasonValue, "%s must not be blank", field)
	}
	return nil
}
