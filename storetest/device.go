package storetest

import (
	"testing"

	"github.com/otos-iot/otos"
)

func testDevices(t *testing.T, s otos.Store) {
	direct, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	gateways, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceGateway)
	subs, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceSubDevice)
	product := newProduct(t, s, direct)

	// wantFound fails the test unless d can be found by id, number and credential.
	wantFound := func(t *testing.T, d *otos.Device) {
		t.Helper()
		sameDevice(t, getDevice(t, s, d.ID), d)
		got, err := s.DeviceByNumber(t.Context(), d.DeviceNumber)
		must(t, err)
		sameDevice(t, got, d)
		if !d.Credential.IsZero() {
			got, err = s.DeviceByCredential(t.Context(), d.Credential.Lookup)
			must(t, err)
			sameDevice(t, got, d)
		}
	}

	t.Run("create/direct", func(t *testing.T) {
		d := newDevice(t, s, direct, func(d *otos.Device) { d.ProductID, d.Name = product.ID, "meter 7" })
		wantFound(t, d)
	})
	t.Run("create/access-token", func(t *testing.T) {
		d := newDevice(t, s, direct, func(d *otos.Device) {
			d.Credential = otos.Voucher{Username: otos.Secret(newID())}.Credential()
		})
		wantFound(t, d)
	})
	t.Run("create/no-credential", func(t *testing.T) {
		d := newDevice(t, s, direct, func(d *otos.Device) { d.Credential = otos.Credential{} })
		wantFound(t, d)
		if got := getDevice(t, s, d.ID); !got.Credential.IsZero() {
			t.Errorf("Credential = %+v, want zero", got.Credential)
		}
	})
	t.Run("create/gateway-and-sub-devices", func(t *testing.T) {
		gw := newDevice(t, s, gateways, nil)
		wantFound(t, gw)
		wantFound(t, newDevice(t, s, subs, under(gw, "1")))
		wantFound(t, newDevice(t, s, subs, under(gw, "2")))
	})
	t.Run("create/same-addr-other-parent", func(t *testing.T) {
		gw1, gw2 := newDevice(t, s, gateways, nil), newDevice(t, s, gateways, nil)
		newDevice(t, s, subs, under(gw1, "modbus-1"))
		wantFound(t, newDevice(t, s, subs, under(gw2, "modbus-1")))
	})
	t.Run("fail/number-taken", func(t *testing.T) {
		d := newDevice(t, s, direct, nil)
		again := deviceOf(direct)
		again.DeviceNumber = d.DeviceNumber
		wantField(t, s.CreateDevice(t.Context(), again), otos.ECONFLICT, "device_number")
		wantFound(t, d)
		_, err := s.Device(t.Context(), again.ID)
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("fail/addr-taken", func(t *testing.T) {
		gw := newDevice(t, s, gateways, nil)
		newDevice(t, s, subs, under(gw, "7"))
		again := deviceOf(subs)
		under(gw, "7")(again)
		wantField(t, s.CreateDevice(t.Context(), again), otos.ECONFLICT, "sub_device_addr")
		_, err := s.DeviceByNumber(t.Context(), again.DeviceNumber)
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("fail/id-taken", func(t *testing.T) {
		d := newDevice(t, s, direct, nil)
		again := deviceOf(direct)
		again.ID = d.ID
		wantCode(t, s.CreateDevice(t.Context(), again), otos.ECONFLICT)
	})
	t.Run("fail/credential-taken", func(t *testing.T) {
		d := newDevice(t, s, direct, nil)
		again := deviceOf(direct)
		again.Credential = d.Credential
		wantCode(t, s.CreateDevice(t.Context(), again), otos.ECONFLICT)
	})
	t.Run("fail/unknown-reference", func(t *testing.T) {
		for name, edit := range map[string]func(*otos.Device){
			"tenant":   func(d *otos.Device) { d.TenantID = newID() },
			"template": func(d *otos.Device) { d.TemplateID = newID() },
			"product":  func(d *otos.Device) { d.ProductID = newID() },
			"parent":   func(d *otos.Device) { d.ParentID, d.SubDeviceAddr = newID(), "1" },
		} {
			t.Run(name, func(t *testing.T) {
				d := deviceOf(direct)
				edit(d)
				wantCode(t, s.CreateDevice(t.Context(), d), otos.ENOTFOUND)
				_, err := s.Device(t.Context(), d.ID)
				wantCode(t, err, otos.ENOTFOUND)
			})
		}
	})
	t.Run("fail/not-found", func(t *testing.T) {
		ctx, id := t.Context(), newID()
		_, err := s.Device(ctx, id)
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.DeviceByNumber(ctx, "dn-"+id)
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.DeviceByCredential(ctx, randomBytes())
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.DeviceByCredential(ctx, nil)
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.ReissueCredential(ctx, id, otos.Reissue{TemplateID: direct.ID, New: newCredential()}, t0)
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.SetDeviceStatus(ctx, id, otos.StatusDisabled, t0)
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.ResetDevice(ctx, id, t0)
		wantCode(t, err, otos.ENOTFOUND)
		wantCode(t, s.DeleteDevice(ctx, id), otos.ENOTFOUND)
		wantCode(t, s.MarkConnected(ctx, id, randomBytes(), t0), otos.ENOTFOUND)
		must(t, s.RecordPresence(ctx, []otos.Presence{{DeviceID: id, Online: true, At: t0}})) // ignored
	})
	t.Run("delete", func(t *testing.T) {
		d := newDevice(t, s, direct, nil)
		must(t, s.DeleteDevice(t.Context(), d.ID))
		_, err := s.Device(t.Context(), d.ID)
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.DeviceByCredential(t.Context(), d.Credential.Lookup)
		wantCode(t, err, otos.ENOTFOUND)
		wantCode(t, s.DeleteDevice(t.Context(), d.ID), otos.ENOTFOUND)
		// The number is free again.
		newDevice(t, s, direct, func(n *otos.Device) { n.DeviceNumber = d.DeviceNumber })
	})
	t.Run("delete/gateway", func(t *testing.T) {
		gw := newDevice(t, s, gateways, nil)
		sub := newDevice(t, s, subs, under(gw, "1"))
		err := s.DeleteDevice(t.Context(), gw.ID)
		wantCode(t, err, otos.ECONFLICT)
		if msg := otos.ErrorMessage(err); msg != "device has sub-devices; delete them first" {
			t.Errorf("message = %q", msg)
		}
		wantFound(t, gw)
		must(t, s.DeleteDevice(t.Context(), sub.ID))
		must(t, s.DeleteDevice(t.Context(), gw.ID))
	})
}
