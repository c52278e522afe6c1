package provision_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	s, store := newService(t)

	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := s.Admin.EnsureBootstrapToken(ctx, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := strings.TrimSpace(string(b))

	// Tokens stored directly, as a later "token create" would.
	stored := func(role otos.Role, tenant, token string, revoked bool) string {
		t.Helper()
		tk := &otos.Token{ID: "tok-" + token, TenantID: tenant, Role: role, Name: token,
			Hash: otos.TokenHash(otos.Secret(token)), CreatedAt: time.Now()}
		if revoked {
			tk.RevokedAt = &tk.CreatedAt
		}
		if err := store.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
		return token
	}
	viewer := stored(otos.RoleViewer, otos.DefaultTenantID, "viewer-token-0123456789", false)
	revoked := stored(otos.RoleAdmin, "", "revoked-token-0123456789", true)
	account, err := s.Admin.CreateServiceAccount(ctx, sys, "", "telemetry consumer")
	if err != nil {
		t.Fatal(err)
	}
	// The password is good for MQTT, so its refusal below is the role's doing.
	if _, err := s.Sessions.Authenticate(ctx, device, account.Username, account.Password); err != nil {
		t.Fatalf("service account over MQTT: %v", err)
	}

	tests := []struct {
		name  string
		token string
		want  *otos.Principal // nil: EUNAUTHORIZED
	}{
		{"ok/bootstrap", bootstrap, &otos.Principal{Role: otos.RoleAdmin}},
		{"ok/viewer", viewer, &otos.Principal{Scope: otos.DefaultTenantID, Role: otos.RoleViewer}},
		{"fail/empty", "", nil},
		{"fail/unknown", "no-such-token-0123456789", nil},
		{"fail/revoked", revoked, nil},
		{"fail/service-account-password", account.Password, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Admin.Authenticate(ctx, device, otos.Secret(tt.token), otos.Change{})
			if tt.want == nil {
				if otos.ErrorCode(err) != otos.EUNAUTHORIZED || p != nil {
					t.Errorf("Authenticate = %+v, %v; want EUNAUTHORIZED", p, err)
				}
				return
			}
			if err != nil || p.Scope != tt.want.Scope || p.Role != tt.want.Role {
				t.Errorf("Authenticate = %+v, %v; want %+v", p, err, tt.want)
			}
		})
	}
}
