package provision

import (
	"context"
	"time"

	"github.com/otos-iot/otos"
)

// minDeadline is how far ahead a forced rotation's deadline must be: a
// device online needs a moment to rotate.
const minDeadline = time.Minute

// RequestRotationWithin is RequestRotation with a deadline within of now,
// by the service's clock (not the caller's); it returns the deadline too.
func (a *Admin) RequestRotationWithin(ctx context.Context, p *otos.Principal, sc otos.RotationScope, within time.Duration) (int64, time.Time, error) {
	deadline := a.timestamp().Add(within)
	n, err := a.RequestRotation(ctx, p, sc, &deadline)
	return n, deadline, err
}

// RequestRotation implements otos.Admin.
func (a *Admin) RequestRotation(ctx context.Context, p *otos.Principal, sc otos.RotationScope, deadline *time.Time) (_ int64, err error) {
	c, err := a.begin(p, otos.ActionRotationRequest, sc.DeviceID+sc.TemplateID)
	defer func() { c.end(err) }()
	if err != nil {
		return 0, err
	}
	now := a.timestamp()
	if deadline != nil && deadline.Before(now.Add(minDeadline)) {
		return 0, otos.FieldError("deadline", otos.ReasonValue, "deadline must be at least a minute from now")
	}
	subject, err := a.rotationScope(ctx, p, &sc)
	if err != nil {
		return 0, err
	}
	c.tenant = sc.TenantID
	n, err := a.store.RequestRotation(ctx, sc, deadline, now)
	if err != nil {
		return 0, err
	}
	a.log.Info("voucher rotation requested", "tenant_id", sc.TenantID, "template_id", sc.TemplateID,
		"device_id", sc.DeviceID, "devices", n)
	if n > 0 {
		data := otos.EventData{DeviceID: sc.DeviceID, TemplateID: sc.TemplateID, Count: int(n), Deadline: deadline}
		if err := a.store.AppendEvents(ctx, []*otos.Event{a.event(otos.EventRotationRequested, sc.TenantID, subject, data)}); err != nil {
			a.log.Warn("rotation requested: event not written", "err", err)
		}
	}
	a.views.rotationRequested(sc, deadline)
	return n, nil
}

// rotationScope checks that scope names exactly one object of p's and
// fills in its tenant; it returns the id of that object, the subject of
// the event.
func (a *Admin) rotationScope(ctx context.Context, p *otos.Principal, sc *otos.RotationScope) (string, error) {
	named := 0
	for _, id := range []string{sc.DeviceID, sc.TemplateID, sc.TenantID} {
		if id != "" {
			named++
		}
	}
	switch {
	case named > 1:
		return "", otos.FieldError("device_id", otos.ReasonValue, "name one of device_id, template_id or tenant_id")
	case sc.DeviceID != "":
		d, err := a.Device(ctx, p, sc.DeviceID)
		if err != nil {
			return "", err
		}
		sc.TenantID = d.TenantID
		return d.ID, nil
	case sc.TemplateID != "":
		t, err := a.Template(ctx, p, sc.TemplateID)
		if err != nil {
			return "", err
		}
		sc.TenantID = t.TenantID
		return t.ID, nil
	case sc.TenantID == "" && p.Scope == "":
		return "", otos.FieldError("tenant_id", otos.ReasonRequired, "name the device_id, template_id or tenant_id whose vouchers rotate")
	}
	scope, err := a.creationScope(ctx, p.Scope, sc.TenantID)
	if err != nil {
		return "", err
	}
	sc.TenantID = string(scope)
	return sc.TenantID, nil
}

// UnbindHardware implements otos.Admin.
func (a *Admin) UnbindHardware(ctx context.Context, p *otos.Principal, id string) (*otos.Device, error) {
	return a.changeDevice(ctx, p, otos.ActionHardwareUnbind, id, func(cur *otos.Device) (*otos.Device, error) {
		d, err := a.store.SetHardware(ctx, id, otos.Hardware{}, a.timestamp(), a.deviceEvent(otos.EventHardwareUnbound, cur, ""))
		if err != nil {
			return nil, err
		}
		a.log.Info("device hardware unbound", "device_id", id)
		a.views.forgetDevice(id)
		return d, nil
	})
}
