package otos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

// Signed requests: instead of template_secret, a device sends template_id (or
// product_key), timestamp, nonce, sign_method and sign, the HMAC of the
// request's canonical string keyed with the template secret.
const (
	// SignMethodHMACSHA256 is the only sign_method.
	SignMethodHMACSHA256 = "hmac-sha256"
	// SignWindow is how far a signed request's timestamp may be from the
	// server's clock, either way; a nonce is remembered for twice as long.
	SignWindow = 5 * time.Minute
	// Nonce length limits, in characters.
	MinNonceLen = 8
	MaxNonceLen = 64
)

// SigningString returns r's canonical string: every non-empty field among
// device_number, hardware_id, nonce, parent_device_number, product_key, sub_device_addr,
// template_id and timestamp, sorted by name, as name=value joined by "&".
// device_name is not signed: it is a label, not an identity.
func (r *AuthRequest) SigningString() string {
	fields := map[string]string{
		"device_number":        r.DeviceNumber,
		"hardware_id":          r.HardwareID,
		"nonce":                r.Nonce,
		"parent_device_number": r.ParentDeviceNumber,
		"product_key":          r.ProductKey,
		"sub_device_addr":      r.SubDeviceAddr,
		"template_id":          r.TemplateID,
		"timestamp":            r.Timestamp,
	}
	names := make([]string, 0, len(fields))
	for name, v := range fields {
		if v != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(fields[name])
	}
	return b.String()
}

// Sign returns the lower-case hex HMAC-SHA256 of s keyed with secret.
func Sign(secret Secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySign reports, in constant time, whether sign is the signature of s
// under secret.
func VerifySign(secret Secret, s, sign string) bool {
	want, err := hex.DecodeString(sign)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return hmac.Equal(m.Sum(nil), want)
}
