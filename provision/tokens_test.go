package provision_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/sqlite"
)

// newService returns a Service on SQLite in a temporary directory, and its
// store.
func newService(t testing.TB) (*provision.Service, otos.Store) {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := provision.NewKeyring(make([]byte, provision.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return provision.New(provision.Config{Store: store, Keys: keys}), store
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	s, store := newService(t)

	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := s.EnsureBootstrapToken(ctx, path); err != nil {
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
	account, err := s.CreateServiceAccount(ctx, "", "telemetry consumer")
	if err != nil {
		t.Fatal(err)
	}
	// The password is good for MQTT, so its refusal below is the role's doing.
	if _, err := s.AuthenticateMQTT(ctx, account.Username, account.Password); err != nil {
		t.Fatalf("service account over MQTT: %v", err)
	}

	tests := []struct {
		name  string
		token string
		want  *provision.Principal // nil: EUNAUTHORIZED
	}{
		{"ok/bootstrap", bootstrap, &provision.Principal{Role: otos.RoleAdmin}},
		{"ok/viewer", viewer, &provision.Principal{Scope: otos.DefaultTenantID, Role: otos.RoleViewer}},
		{"fail/empty", "", nil},
		{"fail/unknown", "no-such-token-0123456789", nil},
		{"fail/revoked", revoked, nil},
		{"fail/service-account-password", account.Password, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Authenticate(ctx, otos.Secret(tt.token))
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
