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
	// Lookup is the username's key, unique and indexed (see VoucherLookup).
	Lookup []byte
	// PasswordHash is SHA-256 of the password; nil for ACCESSTOKEN vouchers.
	PasswordHash []byte
}

// IsZero reports whether no voucher is held (a reset device).
func (c Credential) IsZero() bool { return len(c.Lookup) == 0 }

// VoucherLookup is the key under which a voucher with this username is
// stored: LookupSize bytes of SHA-256 of the username, led by the username's
// 48-bit timestamp when it is a UUIDv7 (as BASIC usernames are). Keys of
// vouchers issued together then sort together, so that a registration storm
// appends to the index instead of dirtying a random page of it per device.
//
// The key finds a voucher; it does not prove one, except that it is the
// only secret of an ACCESSTOKEN voucher, whose 122 random bits it keeps 128
// bits of. A BASIC voucher's proof is its password's hash. 16 bytes rather
// than 38 save a new device 50 bytes of row and index.
func VoucherLookup(username string) []byte {
	h := sha256.Sum256([]byte(username))
	ts, ok := uuidV7Time(username)
	if !ok {
		return h[:LookupSize]
	}
	return append(ts[:], h[:LookupSize-len(ts)]...)
}

// LookupSize is the length of a voucher's look-up key.
const LookupSize = 16

// uuidV7Time returns the timestamp bytes of s if s is a UUIDv7 in canonical
// lower-case form.
func uuidV7Time(s string) (ts [6]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || s[14] != '7' {
		return ts, false
	}
	digits := s[0:8] + s[9:13]
	for i := range ts {
		hi, ok1 := hexDigit(digits[2*i])
		lo, ok2 := hexDigit(digits[2*i+1])
		if !ok1 || !ok2 {
			return ts, false
		}
		ts[i] = hi<<4 | lo
	}
	return ts, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
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
