package postgres

import (
	"strings"
	"unicode/utf8"

	"github.com/otos-iot/otos"
)

// checkText returns EINVALID naming the first field whose value PostgreSQL
// cannot hold in a text column: invalid UTF-8, or a NUL byte (SQLite stores
// both). Checking before the statement is sent lets the error name the
// field; the server's own error (22021) could not. fv holds field, value
// pairs; empty values are fine.
func checkText(fv ...string) error {
	for i := 0; i+1 < len(fv); i += 2 {
		field, v := fv[i], fv[i+1]
		switch {
		case !utf8.ValidString(v):
			return otos.FieldError(field, otos.ReasonValue, "%s must be valid UTF-8", field)
		case strings.IndexByte(v, 0) >= 0:
			return otos.FieldError(field, otos.ReasonControl, "%s must not contain NUL bytes", field)
		}
	}
	return nil
}

// storable returns s with each NUL byte and each invalid UTF-8 sequence
// replaced by U+FFFD, for text that is kept as a record of what was sent.
func storable(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
