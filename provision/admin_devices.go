package provision

import (
	"context"

	"github.com/otos-iot/otos"
)

// Device implements otos.Admin.
func (a *Admin) Device(ctx context.Context, p *otos.Principal, id string) (*otos.Device, error) {
	d, err := a.store.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.Scope.Owns(d.TenantID) {
		return nil, notFound("device")
	}
	return d, nil
}

// Devices implements otos.Admin.
func (a *Admin) Devices(ctx context.Context, p *otos.Principal, f otos.DeviceFilter) ([]*otos.Device, string, error) {
	f.TenantID = string(p.Scope)
	if f.ExpiringWithin > 0 {
		before := a.now().Add(f.ExpiringWithin)
		f.ExpiringBefore = &before
	}
	return a.store.Devices(ctx, f)
}

// SetDeviceStatus implements otos.Admin.
func (a *Admin) SetDeviceStatus(ctx context.Context, p *otos.Principal, id string, st otos.DeviceStatus) (*otos.Device, error) {
	action := otos.ActionDeviceEnable
	if st == otos.StatusDisabled {
		action = otos.ActionDeviceDisable
	}
	typ := otos.EventDeviceEnabled
	if st == otos.StatusDisabled {
		typ = otos.EventDeviceDisabled
	}
	return a.changeDevice(ctx, p, action, id, func(cur *otos.Device) (*otos.Device, error) {
		d, err := a.store.SetDeviceStatus(ctx, id, st, a.timestamp(), a.deviceEvent(typ, cur, ""))
		if err != nil {
			return nil, err
		}
		a.log.Info("device status set", "device_id", id, "status", string(st))
		if st == otos.StatusDisabled {
			a.views.revoke(id)
		} else {
			a.views.forgetDevice(id)
		}
		return d, nil
	})
}

// ResetDevice implements otos.Admin.
func (a *Admin) ResetDevice(ctx context.Context, p *otos.Principal, id string) (*otos.Device, error) {
	return a.changeDevice(ctx, p, otos.ActionDeviceReset, id, func(cur *otos.Device) (*otos.Device, error) {
		d, err := a.store.ResetDevice(ctx, id, a.timestamp(), a.deviceEvent(otos.EventDeviceReset, cur, ""))
		if err != nil {
			return nil, err
		}
		a.log.Info("device reset", "device_id", id)
		a.views.revoke(id)
		return d, nil
	})
}

// DeleteDevice implements otos.Admin.
func (a *Admin) DeleteDevice(ctx context.Context, p *otos.Principal, id string) error {
	_, err := a.changeDevice(ctx, p, otos.ActionDeviceDelete, id, func(d *otos.Device) (*otos.Device, error) {
		if err := a.store.DeleteDevice(ctx, id, a.deviceEvent(otos.EventDeviceDeleted, d, "")); err != nil {
			return nil, err
		}
		a.log.Info("device deleted", "device_id", id, "device_number", d.DeviceNumber)
		a.views.revoke(id)
		return nil, nil
	})
	return err
}

// changeDevice runs action of p on device id, one of p's devices: fn makes
// the change, given the device as it was, and the change is audited.
func (a *Admin) changeDevice(ctx context.Context, p *otos.Principal, action, id string,
	fn func(cur *otos.Device) (*otos.Device, error)) (_ *otos.Device, err error) {
	c, err := a.begin(p, action, id)
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	cur, err := a.Device(ctx, p, id)
	if err != nil {
		return nil, err
	}
	c.tenant = cur.TenantID
	return fn(cur)
}
