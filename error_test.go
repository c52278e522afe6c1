package otos

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorAccessors(t *testing.T) {
	e := &Error{Code: ECONFLICT, Field: "device_number", Message: "taken"}
	cases := []struct {
		name           string
		err            error
		code           Code
		field, message string
		found          bool
	}{
		{"nil", nil, "", "", "Internal error", false},
		{"plain", e, ECONFLICT, "device_number", "taken", true},
		{"wrapped", fmt.Errorf("create: %w", e), ECONFLICT, "device_number", "taken", true},
		{"joined", errors.Join(errors.New("first"), e), ECONFLICT, "device_number", "taken", true},
		{"other", errors.New("disk on fire"), EINTERNAL, "", "Internal error", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := AsError(c.err); (got != nil) != c.found || (c.found && got != e) {
				t.Errorf("AsError = %v, want found %v", got, c.found)
			}
			if got := ErrorCode(c.err); got != c.code {
				t.Errorf("ErrorCode = %q, want %q", got, c.code)
			}
			if got := ErrorField(c.err); got != c.field {
				t.Errorf("ErrorField = %q, want %q", got, c.field)
			}
			if got := ErrorMessage(c.err); got != c.message {
				t.Errorf("ErrorMessage = %q, want %q", got, c.message)
			}
		})
	}
}
