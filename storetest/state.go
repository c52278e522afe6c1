package storetest

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

func testDeviceCredential(t *testing.T, s otos.Store) {
	tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	otherTpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)

	// wantCredential fails the test unless d's credential is c: the device
	// is found by c's lookup and by no other.
	wantCredential := func(t *testing.T, d *otos.Device, c, old otos.Credential) {
		t.Helper()
		got, err := s.DeviceByCredential(t.Context(), c.Lookup)
		must(t, err)
		if got.ID != d.ID || hexOf(got.Credential.PasswordHash) != hexOf(c.PasswordHash) {
			t.Fatalf("DeviceByCredential = %s with password hash %x, want %s with %x",
				got.ID, got.Credential.PasswordHash, d.ID, c.PasswordHash)
		}
		if old.Lookup != nil {
			_, err = s.DeviceByCredential(t.Context(), old.Lookup)
			wantCode(t, err, otos.ENOTFOUND)
		}
	}

	t.Run("reissue", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		c := newCredential()
		got, err := s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: c}, at(time.Minute))
		must(t, err)
		want := *d
		want.Credential, want.UpdatedAt = c, at(time.Minute)
		sameDevice(t, got, &want)
		sameDevice(t, getDevice(t, s, d.ID), &want)
		wantCredential(t, d, c, d.Credential)
	})
	t.Run("reissue/after-reset", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, at(time.Minute)))
		_, err := s.ResetDevice(t.Context(), d.ID, at(time.Hour))
		must(t, err)
		c := newCredential()
		_, err = s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tpl.ID, New: c, OnlyIfVoid: true}, at(2*time.Hour))
		must(t, err)
		wantCredential(t, d, c, d.Credential)
	})
	refused := []struct {
		name       string
		template   *otos.Template
		onlyIfVoid bool
		prepare    func(t *testing.T, d *otos.Device)
	}{
		{"wrong-template", otherTpl, false, func(*testing.T, *otos.Device) {}},
		{"holds-voucher", tpl, true, func(*testing.T, *otos.Device) {}},
		{"disabled", tpl, false, func(t *testing.T, d *otos.Device) {
			_, err := s.SetDeviceStatus(t.Context(), d.ID, otos.StatusDisabled, t0)
			must(t, err)
		}},
		{"connected", tpl, false, func(t *testing.T, d *otos.Device) {
			must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, t0))
		}},
		{"connected-then-offline", tpl, false, func(t *testing.T, d *otos.Device) {
			must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, t0))
			must(t, s.RecordPresence(t.Context(), []otos.Presence{{DeviceID: d.ID, At: at(time.Minute)}}))
		}},
	}
	for _, tt := range refused {
		t.Run("reissue/fail/"+tt.name, func(t *testing.T) {
			d := newDevice(t, s, tpl, nil)
			tt.prepare(t, d)
			before := getDevice(t, s, d.ID)
			_, err := s.ReissueCredential(t.Context(), d.ID, otos.Reissue{TemplateID: tt.template.ID, New: newCredential(), OnlyIfVoid: tt.onlyIfVoid}, at(time.Hour))
			wantCode(t, err, otos.ECONFLICT)
			sameDevice(t, getDevice(t, s, d.ID), before) // nothing changed
		})
	}
}

func testDeviceState(t *testing.T, s otos.Store) {
	tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)

	t.Run("status", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		got, err := s.SetDeviceStatus(t.Context(), d.ID, otos.StatusDisabled, at(time.Minute))
		must(t, err)
		want := *d
		want.Status, want.UpdatedAt = otos.StatusDisabled, at(time.Minute)
		sameDevice(t, got, &want)
		sameDevice(t, getDevice(t, s, d.ID), &want)

		got, err = s.SetDeviceStatus(t.Context(), d.ID, otos.StatusEnabled, at(time.Hour))
		must(t, err)
		want.Status, want.UpdatedAt = otos.StatusEnabled, at(time.Hour)
		sameDevice(t, got, &want)
	})
	t.Run("status/fail/invalid", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		_, err := s.SetDeviceStatus(t.Context(), d.ID, "deleted", at(time.Minute))
		wantCode(t, err, otos.EINVALID)
		sameDevice(t, getDevice(t, s, d.ID), d)
	})
	t.Run("connect", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, at(time.Minute)))
		want := *d
		want.FirstConnectedAt, want.LastSeenAt, want.Online = ptr(at(time.Minute)), ptr(at(time.Minute)), true
		sameDevice(t, getDevice(t, s, d.ID), &want)

		must(t, s.RecordPresence(t.Context(), []otos.Presence{{DeviceID: d.ID, At: at(time.Hour)}}))
		want.LastSeenAt, want.Online = ptr(at(time.Hour)), false
		sameDevice(t, getDevice(t, s, d.ID), &want)

		// A later connection keeps the first FirstConnectedAt.
		must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, at(2*time.Hour)))
		want.LastSeenAt, want.Online = ptr(at(2*time.Hour)), true
		sameDevice(t, getDevice(t, s, d.ID), &want)
	})
	t.Run("connect/fail/voided", func(t *testing.T) {
		// A connection checked against a voucher that was then voided, or a
		// device that was then disabled, records nothing.
		d := newDevice(t, s, tpl, nil)
		wantCode(t, s.MarkConnected(t.Context(), d.ID, randomBytes(), at(time.Minute)), otos.ENOTFOUND)
		_, err := s.SetDeviceStatus(t.Context(), d.ID, otos.StatusDisabled, t0)
		must(t, err)
		wantCode(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, at(time.Minute)), otos.ENOTFOUND)
		if got := getDevice(t, s, d.ID); got.FirstConnectedAt != nil || got.Online {
			t.Errorf("after refused connections: first connected %v, online %v", got.FirstConnectedAt, got.Online)
		}
	})
	t.Run("presence", func(t *testing.T) {
		a, b := newDevice(t, s, tpl, nil), newDevice(t, s, tpl, nil)
		must(t, s.RecordPresence(t.Context(), []otos.Presence{
			{DeviceID: a.ID, Online: true, At: at(time.Minute)},
			{DeviceID: b.ID, Online: true, At: at(time.Minute)},
			{DeviceID: newID(), Online: true, At: at(time.Minute)}, // unknown: ignored
		}))
		for _, d := range []*otos.Device{a, b} {
			got := getDevice(t, s, d.ID)
			if !got.Online || !got.LastSeenAt.Equal(at(time.Minute)) || got.FirstConnectedAt != nil {
				t.Fatalf("after presence: online %v, last seen %v, first connected %v", got.Online, got.LastSeenAt, got.FirstConnectedAt)
			}
		}
		// An entry older than the stored one is stale: skipped.
		must(t, s.RecordPresence(t.Context(), []otos.Presence{{DeviceID: a.ID, At: at(time.Second)}}))
		if got := getDevice(t, s, a.ID); !got.Online || !got.LastSeenAt.Equal(at(time.Minute)) {
			t.Errorf("a stale offline entry won: online %v, last seen %v", got.Online, got.LastSeenAt)
		}
		must(t, s.RecordPresence(t.Context(), nil))
	})
	t.Run("reset", func(t *testing.T) {
		d := newDevice(t, s, tpl, nil)
		must(t, s.MarkConnected(t.Context(), d.ID, d.Credential.Lookup, at(time.Minute)))
		got, err := s.ResetDevice(t.Context(), d.ID, at(time.Hour))
		must(t, err)
		want := *d
		want.Credential, want.UpdatedAt, want.LastSeenAt = otos.Credential{}, at(time.Hour), ptr(at(time.Minute))
		sameDevice(t, got, &want)
		sameDevice(t, getDevice(t, s, d.ID), &want)
		if got.FirstConnectedAt != nil || got.Online || !got.Credential.IsZero() {
			t.Errorf("after reset: FirstConnectedAt %v, Online %v, Credential %+v; want nil, false, zero",
				got.FirstConnectedAt, got.Online, got.Credential)
		}
		_, err = s.DeviceByCredential(t.Context(), d.Credential.Lookup)
		wantCode(t, err, otos.ENOTFOUND)
	})
}
