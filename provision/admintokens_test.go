package provision_test

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// TestTokenExpiry checks, with an injected clock, that a token with an
// expiry opens the admin API up to the instant it expires and not after.
func TestTokenExpiry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := provision.New(provision.Config{Store: newStore(t), Keys: newKeys(t), Now: func() time.Time { return now }})

	minute := int64(60)
	in, err := s.Admin.CreateToken(t.Context(), &otos.Principal{Scope: otos.DefaultTenantID, Role: otos.RoleAdmin}, otos.TokenSpec{Role: otos.RoleViewer, ExpiresInSeconds: &minute})
	if err != nil {
		t.Fatal(err)
	}
	until := now.Add(2 * time.Hour)
	at, err := s.Admin.CreateToken(t.Context(), sys, otos.TokenSpec{Role: otos.RoleAdmin, ExpiresAt: &until})
	if err != nil {
		t.Fatal(err)
	}
	if !in.ExpiresAt.Equal(now.Add(time.Minute)) || !at.ExpiresAt.Equal(until) || in.TenantID != otos.DefaultTenantID || at.TenantID != "" {
		t.Fatalf("created %+v and %+v", in, at)
	}
	tests := []struct {
		name  string
		token string
		after time.Duration
		want  otos.Code
	}{
		{"ok/in-before", in.Token, time.Minute - time.Microsecond, ""},
		{"fail/in-at-expiry", in.Token, time.Minute, otos.EUNAUTHORIZED},
		{"ok/at-before", at.Token, 2*time.Hour - time.Microsecond, ""},
		{"fail/at-after", at.Token, 3 * time.Hour, otos.EUNAUTHORIZED},
	}
	start := now
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = start.Add(tt.after)
			if _, err := s.Admin.Authenticate(t.Context(), device, otos.Secret(tt.token), otos.Change{}); otos.ErrorCode(err) != tt.want {
				t.Errorf("Authenticate %v after creation: %v, want %q", tt.after, err, tt.want)
			}
		})
	}
}
