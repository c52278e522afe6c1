package otos

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Voucher lifetimes and rotation overlaps a template may set, in seconds.
const (
	DefaultRotationOverlap = 24 * 60 * 60
	MinRotationOverlap     = 60
	MaxRotationOverlap     = 30 * 24 * 60 * 60
	MinVoucherLifetime     = 60
	MaxVoucherLifetime     = 10 * 366 * 24 * 60 * 60
)

// RotationRetryGap is how long after a rotation the voucher it replaced may
// rotate again, while the new one has not been used: a device that lost the
// answer retries after it, while a second request sooner is a race, which
// the first one won (ErrRotated).
const RotationRetryGap = 30 * time.Second

// Hardware is the hardware identity a device sent when it registered: the
// keyed hash of its chip id or serial, and the Ed25519 public key it may
// hold in a secure element. Only hashes and public keys are stored.
type Hardware struct {
	IDHash    []byte
	PublicKey []byte // nil: no key enrolled
}

// Bound reports whether a hardware identity is bound.
func (h Hardware) Bound() bool { return len(h.IDHash) > 0 }

// MarshalJSON shows whether a hardware identity is bound and a key enrolled,
// never the hash.
func (h Hardware) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Bound       bool `json:"bound"`
		KeyEnrolled bool `json:"key_enrolled"`
	}{h.Bound(), len(h.PublicKey) > 0})
}

// UnmarshalJSON reads what MarshalJSON wrote, for clients of the admin API:
// they learn only whether an identity is bound and a key enrolled, so
// IDHash and PublicKey hold a placeholder byte when they are.
func (h *Hardware) UnmarshalJSON(b []byte) error {
	var w struct {
		Bound       bool `json:"bound"`
		KeyEnrolled bool `json:"key_enrolled"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = Hardware{}
	if w.Bound {
		h.IDHash = []byte{1}
	}
	if w.KeyEnrolled {
		h.PublicKey = []byte{1}
	}
	return nil
}

// Expired reports whether a voucher that stops being valid at until (nil:
// never) has stopped at now.
func Expired(until *time.Time, now time.Time) bool {
	return until != nil && !now.Before(*until)
}

// Rotation is what Store.RotateCredential writes.
type Rotation struct {
	// Presented is the look-up key of the voucher that asked: the current
	// one, or the previous one while its overlap lasts and RetryBefore has
	// passed since the last rotation.
	Presented []byte
	// New is the new voucher's credential, valid until ExpiresAt (nil:
	// no expiry).
	New       Credential
	ExpiresAt *time.Time
	// PreviousUntil ends the overlap of the voucher replaced when it is the
	// current one; a retry by the previous voucher keeps its overlap.
	PreviousUntil time.Time
	// RetryBefore: a previous voucher may rotate again only when the last
	// rotation was at or before it.
	RetryBefore time.Time
}

// Reissue is what Store.ReissueCredential writes.
type Reissue struct {
	TemplateID string
	// New is the new voucher's credential, valid until ExpiresAt (nil:
	// no expiry).
	New       Credential
	ExpiresAt *time.Time
	// OnlyIfVoid re-issues only to a device holding no voucher.
	OnlyIfVoid bool
	// Recover, a hardware hash, re-issues to a device bound to it, even
	// after it has connected (factory-reset recovery).
	Recover []byte
	// Hardware binds a device that is not bound yet.
	Hardware Hardware
	// OnlyUnbound re-issues (without Recover) only to a device bound to no
	// hardware: under the hardware policy a bound one must prove it.
	OnlyUnbound bool
}

// RotationScope selects the devices of a forced rotation: one device, the
// devices of a template, or of a tenant.
type RotationScope struct {
	TenantID   string
	TemplateID string
	DeviceID   string
}

// ParseHardwareKey reads an Ed25519 public key in standard or URL-safe
// base64, with or without padding.
func ParseHardwareKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeBase64(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, FieldError("hardware_key", ReasonValue, "hardware_key must be a base64 Ed25519 public key (32 bytes)")
	}
	return ed25519.PublicKey(b), nil
}

// VerifyHardwareSign reports whether sign (base64) is key's Ed25519
// signature of the request's signing string (AuthRequest.SigningString).
func (r *AuthRequest) VerifyHardwareSign(key []byte) bool {
	sig, err := decodeBase64(r.HardwareSign)
	if err != nil || len(sig) != ed25519.SignatureSize || len(key) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(key, []byte(r.SigningString()), sig)
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errBase64
}

var errBase64 = Errorf(EINVALID, "not base64")

// ParseDuration reads a duration as Go writes it ("90m", "36h") or in whole
// days ("7d"), as operators write lifetimes.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*366 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 36h or 7d", s)
	}
	return d, nil
}
