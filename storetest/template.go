package storetest

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

func testTemplates(t *testing.T, s otos.Store) {
	t.Run("create", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceGateway)
		got, err := s.Template(t.Context(), tpl.ID)
		must(t, err)
		same(t, "template", templateFields(got), templateFields(tpl))
	})
	t.Run("fail/not-found", func(t *testing.T) {
		_, err := s.Template(t.Context(), newID())
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("fail/unknown-tenant", func(t *testing.T) {
		wantCode(t, s.CreateTemplate(t.Context(), templateOf(newID(), otos.DeviceDirect), newSecret()), otos.ENOTFOUND)
	})
	t.Run("fail/id-taken", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		again := templateOf(otos.DefaultTenantID, otos.DeviceDirect)
		again.ID = tpl.ID
		wantCode(t, s.CreateTemplate(t.Context(), again, newSecret()), otos.ECONFLICT)
	})
	t.Run("fail/secret-taken", func(t *testing.T) {
		_, sec := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		other := templateOf(otos.DefaultTenantID, otos.DeviceDirect)
		wantCode(t, s.CreateTemplate(t.Context(), other, otos.TemplateSecret{Hash: sec.Hash, Sealed: randomBytes()}), otos.ECONFLICT)
		// Nothing half-written: the template went with its secret.
		_, err := s.Template(t.Context(), other.ID)
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("list", func(t *testing.T) {
		tn := newTenant(t, s)
		var want []string
		for range 5 {
			tpl, _ := newTemplate(t, s, tn.ID, otos.DeviceDirect)
			want = append(want, tpl.ID)
		}
		newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect) // in another tenant
		for _, limit := range []int{1, 2, 5, 6, 100} {
			got := pages(t, limit, func(p otos.Page) ([]*otos.Template, string, error) {
				return s.Templates(t.Context(), otos.TemplateFilter{TenantID: tn.ID, Page: p})
			}, func(tpl *otos.Template) string { return tpl.ID })
			sameIDs(t, got, want)
		}
		all, _, err := s.Templates(t.Context(), otos.TemplateFilter{})
		must(t, err)
		if len(all) < 6 {
			t.Errorf("listing every tenant gave %d templates, want at least 6", len(all))
		}
	})
	t.Run("list/fail", func(t *testing.T) {
		_, _, err := s.Templates(t.Context(), otos.TemplateFilter{Page: otos.Page{Limit: -1}})
		wantField(t, err, otos.EINVALID, "limit")
		_, _, err = s.Templates(t.Context(), otos.TemplateFilter{Page: otos.Page{Cursor: "not a cursor!"}})
		wantField(t, err, otos.EINVALID, "cursor")
	})
	t.Run("update", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		want := *tpl
		want.Name, want.Registration, want.Reregistration, want.UpdatedAt = "renamed", otos.RegistrationAllowlist, otos.ReregNever, at(time.Hour)
		want.AuthMode, want.MaxDevices, want.RateLimit = otos.AuthSigned, 10, 5
		change := want
		change.DeviceType, change.VoucherType, change.CreatedAt = otos.DeviceGateway, otos.VoucherAccessToken, at(time.Minute) // not stored
		change.DeviceCount = 99                                                                                                // kept by the store
		must(t, s.UpdateTemplate(t.Context(), &change))
		got, err := s.Template(t.Context(), tpl.ID)
		must(t, err)
		same(t, "template", templateFields(got), templateFields(&want))

		// The voucher-life settings, and each repeat policy, round-trip.
		for _, rr := range []otos.Reregistration{otos.ReregHardware, otos.ReregUntilConnected} {
			want.Reregistration, want.RotationOverlap, want.VoucherLifetime = rr, 600, 86400
			change := want
			must(t, s.UpdateTemplate(t.Context(), &change))
			got, err = s.Template(t.Context(), tpl.ID)
			must(t, err)
			same(t, "template", templateFields(got), templateFields(&want))
		}
		hw := templateOf(otos.DefaultTenantID, otos.DeviceDirect)
		hw.Reregistration = otos.ReregHardware
		must(t, s.CreateTemplate(t.Context(), hw, newSecret()))
		got, err = s.Template(t.Context(), hw.ID)
		must(t, err)
		same(t, "template", templateFields(got), templateFields(hw))
	})
	t.Run("update/fail/not-found", func(t *testing.T) {
		wantCode(t, s.UpdateTemplate(t.Context(), templateOf(otos.DefaultTenantID, otos.DeviceDirect)), otos.ENOTFOUND)
	})
}

// wantSecret fails the test unless hash finds tpl at now.
func wantSecret(t *testing.T, s otos.Store, hash []byte, now time.Time, tpl *otos.Template) {
	t.Helper()
	got, err := s.TemplateBySecret(t.Context(), hash, now)
	must(t, err)
	if got.ID != tpl.ID {
		t.Fatalf("TemplateBySecret = template %s, want %s", got.ID, tpl.ID)
	}
}

// wantNoSecret fails the test unless hash finds no template at now.
func wantNoSecret(t *testing.T, s otos.Store, hash []byte, now time.Time) {
	t.Helper()
	_, err := s.TemplateBySecret(t.Context(), hash, now)
	wantCode(t, err, otos.ENOTFOUND)
}

// wantCurrent fails the test unless sec is tpl's current secret, first among
// its valid ones.
func wantCurrent(t *testing.T, s otos.Store, tpl *otos.Template, sec otos.TemplateSecret) {
	t.Helper()
	all, err := s.TemplateSecrets(t.Context(), tpl.ID, t0)
	must(t, err)
	if len(all) == 0 {
		t.Fatal("TemplateSecrets returned none")
	}
	got := all[0]
	same(t, "secret", fields{"Hash": hexOf(got.Hash), "Sealed": hexOf(got.Sealed), "ExpiresAt": ts(got.ExpiresAt)},
		fields{"Hash": hexOf(sec.Hash), "Sealed": hexOf(sec.Sealed), "ExpiresAt": ts(time.Time{})})
}

func testTemplateSecrets(t *testing.T, s otos.Store) {
	const hour = time.Hour
	t.Run("current", func(t *testing.T) {
		tpl, sec := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		wantSecret(t, s, sec.Hash, t0, tpl)
		wantSecret(t, s, sec.Hash, at(1000*24*hour), tpl) // the current secret does not expire
		wantCurrent(t, s, tpl, sec)
	})
	t.Run("fail/unknown-hash", func(t *testing.T) {
		wantNoSecret(t, s, randomBytes(), t0)
	})
	t.Run("fail/unknown-template", func(t *testing.T) {
		_, err := s.TemplateSecrets(t.Context(), newID(), t0)
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("rotate/grace", func(t *testing.T) {
		tpl, old := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		sec := newSecret()
		must(t, s.RotateSecret(t.Context(), tpl.ID, sec, at(hour), t0))
		wantCurrent(t, s, tpl, sec)
		wantSecret(t, s, sec.Hash, t0, tpl)
		wantSecret(t, s, old.Hash, t0, tpl)
		wantSecret(t, s, old.Hash, at(hour-time.Microsecond), tpl)
		wantNoSecret(t, s, old.Hash, at(hour)) // the grace period ends at graceUntil
		wantSecret(t, s, sec.Hash, at(2*hour), tpl)
		// Both are valid secrets until then, the current first; then only it.
		all, err := s.TemplateSecrets(t.Context(), tpl.ID, at(time.Minute))
		must(t, err)
		if len(all) != 2 || hexOf(all[0].Hash) != hexOf(sec.Hash) || hexOf(all[1].Hash) != hexOf(old.Hash) || !all[1].ExpiresAt.Equal(at(hour)) {
			t.Errorf("TemplateSecrets within the grace period: %d secrets", len(all))
		}
		all, err = s.TemplateSecrets(t.Context(), tpl.ID, at(hour))
		must(t, err)
		if len(all) != 1 {
			t.Errorf("TemplateSecrets after the grace period: %d secrets, want 1", len(all))
		}
	})
	t.Run("rotate/no-grace", func(t *testing.T) {
		tpl, old := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		sec := newSecret()
		must(t, s.RotateSecret(t.Context(), tpl.ID, sec, t0, t0))
		wantNoSecret(t, s, old.Hash, t0)
		wantSecret(t, s, sec.Hash, t0, tpl)
		wantCurrent(t, s, tpl, sec)
	})
	t.Run("rotate/no-grace-ends-earlier-grace", func(t *testing.T) {
		// A rotation without grace (a leaked secret) voids every earlier secret.
		tpl, first := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		second, third := newSecret(), newSecret()
		must(t, s.RotateSecret(t.Context(), tpl.ID, second, at(hour), t0))
		must(t, s.RotateSecret(t.Context(), tpl.ID, third, at(time.Minute), at(time.Minute)))
		wantNoSecret(t, s, first.Hash, at(time.Minute))
		wantNoSecret(t, s, second.Hash, at(time.Minute))
		wantSecret(t, s, third.Hash, at(time.Minute), tpl)
	})
	t.Run("rotate/grace-not-extended", func(t *testing.T) {
		tpl, first := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		second, third := newSecret(), newSecret()
		must(t, s.RotateSecret(t.Context(), tpl.ID, second, at(hour), t0))
		must(t, s.RotateSecret(t.Context(), tpl.ID, third, at(24*hour), at(time.Minute)))
		wantNoSecret(t, s, first.Hash, at(hour))
		wantSecret(t, s, second.Hash, at(2*hour), tpl)
		wantNoSecret(t, s, second.Hash, at(24*hour))
		wantSecret(t, s, third.Hash, at(24*hour), tpl)
	})
	t.Run("rotate/shorter-grace-ends-earlier-grace", func(t *testing.T) {
		tpl, first := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		second, third := newSecret(), newSecret()
		must(t, s.RotateSecret(t.Context(), tpl.ID, second, at(24*hour), t0))
		must(t, s.RotateSecret(t.Context(), tpl.ID, third, at(hour), at(time.Minute)))
		wantSecret(t, s, first.Hash, at(hour-time.Microsecond), tpl)
		wantNoSecret(t, s, first.Hash, at(hour))
		wantNoSecret(t, s, second.Hash, at(hour))
		wantSecret(t, s, third.Hash, at(hour), tpl)
	})
	t.Run("rotate/drops-expired", func(t *testing.T) {
		tpl, first := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		must(t, s.RotateSecret(t.Context(), tpl.ID, newSecret(), at(hour), t0))
		must(t, s.RotateSecret(t.Context(), tpl.ID, newSecret(), at(3*hour), at(2*hour)))
		// The first secret expired before the second rotation, which dropped
		// it: its hash is free again.
		other := templateOf(otos.DefaultTenantID, otos.DeviceDirect)
		must(t, s.CreateTemplate(t.Context(), other, otos.TemplateSecret{Hash: first.Hash, Sealed: randomBytes()}))
		wantSecret(t, s, first.Hash, at(2*hour), other)
	})
	t.Run("rotate/fail/unknown-template", func(t *testing.T) {
		wantCode(t, s.RotateSecret(t.Context(), newID(), newSecret(), at(hour), t0), otos.ENOTFOUND)
	})
	t.Run("rotate/fail/hash-taken", func(t *testing.T) {
		tpl, sec := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		_, other := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		err := s.RotateSecret(t.Context(), tpl.ID, otos.TemplateSecret{Hash: other.Hash, Sealed: randomBytes()}, at(hour), t0)
		wantCode(t, err, otos.ECONFLICT)
		// Nothing changed: the old secret is still current, with no expiry.
		wantCurrent(t, s, tpl, sec)
		wantSecret(t, s, sec.Hash, at(2*hour), tpl)
	})
}
