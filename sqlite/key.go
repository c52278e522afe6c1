package sqlite

import (
	"encoding/hex"
	"fmt"
)

// Ids of devices and audit records are stored as keys (migration 0010): a
// canonical UUID, which is every id otos makes, as its 16 bytes, where its
// text takes 36 in the row and again in each index that holds it; any other
// id as its text. The two never compare equal, so a key is found exactly
// when its id is, and a text id sorts before every UUID. Canonical means lower-case hex in the 8-4-4-4-12 form, so
// that the bytes read back as the same text.

// key is the stored form of id.
func key(id string) any {
	if b, ok := uuidBytes(id); ok {
		return b
	}
	return id
}

// nullKey is key for an optional id: NULL for "".
func nullKey(id string) any {
	if id == "" {
		return nil
	}
	return key(id)
}

// uuidBytes returns the 16 bytes of s if s is a canonical UUID.
func uuidBytes(s string) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	var digits [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'f':
			digits[n] = c
			n++
		default:
			return nil, false
		}
	}
	b := make([]byte, 16)
	if _, err := hex.Decode(b, digits[:]); err != nil {
		return nil, false
	}
	return b, true
}

// keyText is the id stored as the key k.
func keyText(k []byte) string {
	var s [36]byte
	hex.Encode(s[0:8], k[0:4])
	hex.Encode(s[9:13], k[4:6])
	hex.Encode(s[14:18], k[6:8])
	hex.Encode(s[19:23], k[8:10])
	hex.Encode(s[24:], k[10:])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// keyCol scans a key column into the id it stores; NULL reads as "".
type keyCol struct{ id *string }

// Scan implements sql.Scanner.
func (c keyCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.id = ""
	case string:
		*c.id = v
	case []byte:
		if len(v) != 16 {
			return fmt.Errorf("sqlite: a key of %d bytes", len(v))
		}
		*c.id = keyText(v)
	default:
		return fmt.Errorf("sqlite: a key of type %T", v)
	}
	return nil
}
