package otos

import (
	"encoding/base64"
)

// EncodeCursor turns the id of a page's last item into an opaque cursor.
func EncodeCursor(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeCursor returns the id inside cursor; EINVALID naming "cursor" if it
// is not one that EncodeCursor made.
func DecodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 || len(b) > 64 {
		return "", FieldError("cursor", ReasonValue, "cursor is not valid; pass next_cursor from the previous page")
	}
	return string(b), nil
}
