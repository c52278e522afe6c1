package otos

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Code classifies an Error. Each code has one row in the table of codes.go:
// its wire number, HTTP status, messages and whether it counts toward a
// client's lock-out.
type Code string

// Generic codes, shared by the device and the admin API.
const (
	EINVALID      Code = "invalid"      // a field fails validation, or the body is malformed
	ETOOLARGE     Code = "too_large"    // the request body exceeds its limit
	EUNAUTHORIZED Code = "unauthorized" // no or bad admin token
	EFORBIDDEN    Code = "forbidden"    // authenticated, but not allowed
	ENOTFOUND     Code = "not_found"    // no such object, or not the caller's
	ECONFLICT     Code = "conflict"     // a uniqueness rule or a dependent object prevents the change
	EUNAVAILABLE  Code = "unavailable"  // the store cannot be reached; try again later
	EINTERNAL     Code = "internal"     // a bug or an unexpected failure; details only in the log
)

// Codes of POST /api/v1/device/auth, ThingsPanel's numbers.
const (
	ESECRETUNKNOWN   Code = "secret_unknown"    // 200080
	EREGISTRATIONOFF Code = "registration_off"  // 200081
	EDEVICEEXISTS    Code = "device_exists"     // 200082
	EPRODUCTUNKNOWN  Code = "product_unknown"   // 200083
	ESUBDEVICEFIELDS Code = "sub_device_fields" // 200084
	EPARENTUNKNOWN   Code = "parent_unknown"    // 200085
	ESUBADDRTAKEN    Code = "sub_addr_taken"    // 200086
)

// Codes that ThingsPanel lacks, for otos's own protections.
const (
	EBADSIGNATURE Code = "bad_signature"  // 200087: a signed request whose signature does not verify
	ESTALE        Code = "stale_request"  // 200088: a signed request's timestamp is outside the window
	EREPLAY       Code = "replayed_nonce" // 200089: a signed request's nonce was already used
	ENOTALLOWED   Code = "not_allowed"    // 200090: the device number is not on the template's allow-list
	ECAPREACHED   Code = "cap_reached"    // 200091: the template has reached its max_devices
	ENOTGRANTED   Code = "not_granted"    // 200092: the gateway's template does not grant the sub-device template
	EROTATED      Code = "rotated"        // 200093: a rotation lost the race to another one with the same voucher
	EEXPIRED      Code = "expired"        // 200094: the voucher's lifetime, or a forced rotation's deadline, has passed
	EHARDWARE     Code = "hardware"       // 200095: a registration's hardware identity is not the one bound: a clone
	ERATELIMITED  Code = "rate_limited"   // 201003: over a template's rate limit; retry after a while
	ELOCKEDOUT    Code = "locked_out"     // 201003: the client failed too often; refused until its lock-out ends
)

// Error is the application error. Its Message is safe to show to a client:
// internal detail belongs in the wrapped error chain and the log, never here.
type Error struct {
	Code    Code
	Field   string // the JSON field at fault, when there is one
	Message string // English, for people
	// Reason, with Field, lets a client render the message in another language.
	Reason Reason
	// RetryAfter is how long the client should wait before it tries again;
	// set on ERATELIMITED errors, sent as the Retry-After header.
	RetryAfter time.Duration
}

// Reason says why a field is invalid, so that messages can be translated.
type Reason string

// Reasons for EINVALID errors on a field.
const (
	ReasonRequired   Reason = "required"
	ReasonTooLong    Reason = "too_long"
	ReasonControl    Reason = "control"
	ReasonWhitespace Reason = "whitespace"
	ReasonType       Reason = "type"
	ReasonValue      Reason = "value"
	ReasonSyntax     Reason = "syntax"
)

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("otos: %s: %s", e.Code, e.Message)
}

// Errorf returns an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error naming field.
func FieldError(field string, reason Reason, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err's first *Error, or nil if it has none. An unwrapped
// *Error, the common case, is found without errors.As, whose reflection
// was a tenth of answering a refused registration.
func AsError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	var e *Error
	if err != nil && errors.As(err, &e) {
		return e
	}
	return nil
}

// ErrorCode returns the code of err's first *Error, EUNAVAILABLE for a call
// that ran out of time waiting on the store, EINTERNAL for any other non-nil
// error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	if e := AsError(err); e != nil {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the Message of its
// first *Error, or a generic text for anything else.
func ErrorMessage(err error) string {
	if e := AsError(err); e != nil {
		return e.Message
	}
	return "Internal error"
}

// ErrorField returns the field named by err's first *Error, if any.
func ErrorField(err error) string {
	if e := AsError(err); e != nil {
		return e.Field
	}
	return ""
}
