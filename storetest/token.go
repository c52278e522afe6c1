package storetest

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// tokenOf returns an unsaved admin token named name in tenant tenantID.
func tokenOf(tenantID, name string) *otos.Token {
	return &otos.Token{ID: newID(), TenantID: tenantID, Role: otos.RoleAdmin, Name: name, Hash: randomBytes(), CreatedAt: t0}
}

func testTokens(t *testing.T, s otos.Store) {
	// wantToken fails the test unless the store holds want.
	wantToken := func(t *testing.T, want *otos.Token) {
		t.Helper()
		got, err := s.TokenByHash(t.Context(), want.Hash)
		must(t, err)
		same(t, "token", tokenFields(got), tokenFields(want))
	}

	t.Run("create/system", func(t *testing.T) {
		tk := tokenOf("", otos.BootstrapTokenName)
		must(t, s.CreateToken(t.Context(), tk))
		wantToken(t, tk)
	})
	t.Run("create/tenant", func(t *testing.T) {
		tk := tokenOf(newTenant(t, s).ID, "viewer")
		tk.Role, tk.ExpiresAt = otos.RoleViewer, ptr(at(24*time.Hour))
		must(t, s.CreateToken(t.Context(), tk))
		wantToken(t, tk)
	})
	t.Run("fail/hash-taken", func(t *testing.T) {
		tk := tokenOf("", "a")
		must(t, s.CreateToken(t.Context(), tk))
		again := tokenOf("", "b")
		again.Hash = tk.Hash
		wantCode(t, s.CreateToken(t.Context(), again), otos.ECONFLICT)
		wantToken(t, tk)
	})
	t.Run("fail/id-taken", func(t *testing.T) {
		tk := tokenOf("", "a")
		must(t, s.CreateToken(t.Context(), tk))
		again := tokenOf("", "a")
		again.ID = tk.ID
		wantCode(t, s.CreateToken(t.Context(), again), otos.ECONFLICT)
	})
	t.Run("fail/unknown-tenant", func(t *testing.T) {
		wantCode(t, s.CreateToken(t.Context(), tokenOf(newID(), "a")), otos.ENOTFOUND)
	})
	t.Run("fail/not-found", func(t *testing.T) {
		_, err := s.TokenByHash(t.Context(), randomBytes())
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("revoke-by-name", func(t *testing.T) {
		name := "ci-" + newID()
		first, second := tokenOf("", name), tokenOf(otos.DefaultTenantID, name)
		revoked := tokenOf("", name)
		revoked.RevokedAt = ptr(at(time.Minute))
		other := tokenOf("", "other-"+newID())
		for _, tk := range []*otos.Token{first, second, revoked, other} {
			must(t, s.CreateToken(t.Context(), tk))
		}
		now := at(time.Hour)
		must(t, s.RevokeTokensByName(t.Context(), name, now))
		first.RevokedAt, second.RevokedAt = &now, &now
		for _, tk := range []*otos.Token{first, second, revoked, other} {
			wantToken(t, tk) // revoked keeps its first revocation time
		}
		if first.Active(now) || !other.Active(now) {
			t.Error("Active disagrees with the revocation")
		}
	})
	t.Run("list-and-revoke", func(t *testing.T) {
		tenant := newTenant(t, s).ID
		var made []*otos.Token
		for i := range 3 {
			tk := tokenOf(tenant, "svc")
			if i > 0 {
				tk.Role = otos.RoleService
			}
			must(t, s.CreateToken(t.Context(), tk))
			made = append(made, tk)
		}
		got, next, err := s.Tokens(t.Context(), otos.TokenFilter{TenantID: tenant, Role: otos.RoleService, Page: otos.Page{Limit: 1}})
		must(t, err)
		if len(got) != 1 || got[0].ID != made[1].ID || next == "" {
			t.Fatalf("first page: %d tokens, next %q", len(got), next)
		}
		got, next, err = s.Tokens(t.Context(), otos.TokenFilter{TenantID: tenant, Role: otos.RoleService, Page: otos.Page{Limit: 1, Cursor: next}})
		must(t, err)
		if len(got) != 1 || got[0].ID != made[2].ID {
			t.Fatalf("second page: %d tokens", len(got))
		}
		if next != "" {
			t.Errorf("next cursor %q after the last item", next)
		}
		all, _, err := s.Tokens(t.Context(), otos.TokenFilter{TenantID: tenant})
		must(t, err)
		if len(all) != 3 {
			t.Errorf("all roles: %d tokens, want 3", len(all))
		}
		got1, err := s.Token(t.Context(), made[1].ID)
		must(t, err)
		same(t, "token", tokenFields(got1), tokenFields(made[1]))
		_, err = s.Token(t.Context(), newID())
		wantCode(t, err, otos.ENOTFOUND)
		rev, err := s.RevokeToken(t.Context(), made[1].ID, at(time.Minute))
		must(t, err)
		if rev.RevokedAt == nil || !rev.RevokedAt.Equal(at(time.Minute)) {
			t.Fatalf("revoked at %v", rev.RevokedAt)
		}
		rev, err = s.RevokeToken(t.Context(), made[1].ID, at(time.Hour))
		must(t, err)
		if !rev.RevokedAt.Equal(at(time.Minute)) {
			t.Errorf("second revocation moved the time to %v", rev.RevokedAt)
		}
		_, err = s.RevokeToken(t.Context(), newID(), t0)
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("revoke-by-name/none", func(t *testing.T) {
		must(t, s.RevokeTokensByName(t.Context(), "nobody-"+newID(), t0))
	})
}
