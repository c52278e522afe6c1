package otos

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
)

// Voucher is the credential a device receives and presents as its MQTT
// username and password. An ACCESSTOKEN voucher has no password: its username
// is the secret.
type Voucher struct {
	Username Secret
	Password Secret
}

// String returns the voucher's wire form, a JSON string with the keys in
// SPEC order and no spaces: {"username":"…","password":"…"}, or
// {"username":"…"} without a password.
func (v Voucher) String() string {
	b, _ := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password,omitempty"`
	}{string(v.Username), string(v.Password)})
	return string(b)
}

// Credential returns what the store keeps of v: hashes only. Voucher secrets
// carry at least 122 random bits, so a fast hash is enough; a slow one would
// cost every MQTT CONNECT and buy nothing.
func (v Voucher) Credential() Credential {
	c := Credential{Lookup: VoucherLookup(string(v.Username))}
	if v.Password != "" {
		h := sha256.Sum256([]byte(v.Password))
		c.PasswordHash = h[:]
	}
	return c
}

// Credential is the stored form of a voucher.
type Credential struct {
	// Lookup is SHA-256 of the username, unique and indexed.
	Lookup []byte
	// PasswordHash is SHA-256 of the password; nil for ACCESSTOKEN vouchers.
	PasswordHash []byte
}

// IsZero reports whether no voucher is held (a reset device).
func (c Credential) IsZero() bool { return len(c.Lookup) == 0 }

// VoucherLookup is the key under which a voucher with this username is stored.
func VoucherLookup(username string) []byte {
	h := sha256.Sum256([]byte(username))
	return h[:]
}

// CheckPassword reports, in constant time, whether password matches c.
// An ACCESSTOKEN credential ignores the password, as ThingsPanel's broker
// does: its username is the secret.
func (c Credential) CheckPassword(password string) bool {
	if c.PasswordHash == nil {
		return true
	}
	h := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(h[:], c.PasswordHash) == 1
}
