package provision

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/otos-iot/otos"
)

// Rotate implements otos.Registrar.
func (r *Registrar) Rotate(ctx context.Context, dev *otos.Session) (iss *otos.Issued, err error) {
	defer func() { r.audit.rotation(dev, err) }()
	if dev == nil || dev.IsService() || dev.Registration {
		return nil, otos.Errorf(otos.EFORBIDDEN, "only a device rotates its voucher, with the voucher itself")
	}
	d, err := r.store.Device(ctx, dev.DeviceID)
	if err != nil {
		return nil, ifNotFound(err, errBadCredentials)
	}
	now := r.timestamp()
	switch {
	case d.Status != otos.StatusEnabled:
		return nil, otos.Errorf(otos.EFORBIDDEN, "device is disabled")
	case bytes.Equal(d.Credential.Lookup, dev.Lookup):
		if otos.Expired(d.VoucherExpiresAt, now) {
			return nil, errExpired(false)
		}
	case bytes.Equal(d.Previous.Lookup, dev.Lookup) && d.PreviousValid(now):
	default:
		return nil, errBadCredentials // voided since the session was checked
	}
	t, err := r.views.template(ctx, d.TemplateID)
	if err != nil || t == nil {
		return nil, cmpErr(err, "template of the device not found")
	}
	if err := r.admitRate(t); err != nil { // a rotation costs what a registration does
		return nil, err
	}
	v, err := r.newVoucher(t.VoucherType)
	if err != nil {
		return nil, err
	}
	rot := otos.Rotation{Presented: dev.Lookup, New: v.Credential(), ExpiresAt: t.VoucherExpiry(now),
		PreviousUntil: overlapEnd(t, d, now), RetryBefore: now.Add(-otos.RotationRetryGap)}
	data := otos.DeviceEventData(d)
	data.ClientAddr, data.ExpiresAt, data.PreviousUntil = dev.From.Addr, rot.ExpiresAt, &rot.PreviousUntil
	d, err = r.store.RotateCredential(ctx, d.ID, rot, now, r.event(otos.EventVoucherRotated, d.TenantID, d.ID, data))
	switch otos.ErrorCode(err) {
	case "":
	case otos.ECONFLICT:
		return nil, &otos.Error{Code: otos.EROTATED, RetryAfter: otos.RotationRetryGap,
			Message: "This voucher was rotated a moment ago by another request: use the voucher that request received, or, if its answer was lost, retry in 30 seconds"}
	case otos.ENOTFOUND:
		return nil, errBadCredentials
	default:
		return nil, fmt.Errorf("rotate voucher: %w", err)
	}
	r.views.forgetDevice(d.ID)
	if !bytes.Equal(d.Previous.Lookup, dev.Lookup) {
		// A retry by the previous voucher replaced a voucher never used:
		// nothing should hold it, but should anything, it is void now.
		r.views.dropLocal(otos.VoucherKeyOf(d.Previous.Lookup))
	}
	r.log.Info("voucher rotated", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", d.TemplateID)
	return &otos.Issued{Device: d, Voucher: v}, nil
}

// overlapEnd is when the voucher that rotates now stops working, unless
// the new one is used sooner: after the template's overlap, but never
// later than the voucher's own expiry.
func overlapEnd(t *otos.Template, d *otos.Device, now time.Time) time.Time {
	end := now.Add(time.Duration(t.RotationOverlap) * time.Second)
	if t.RotationOverlap <= 0 {
		end = now.Add(otos.DefaultRotationOverlap * time.Second)
	}
	if d.VoucherExpiresAt != nil && d.VoucherExpiresAt.Before(end) {
		end = *d.VoucherExpiresAt
	}
	return end // a retry by the previous voucher keeps its end: the store ignores this
}

// cmpErr returns err, or else an EINTERNAL error saying what is missing.
func cmpErr(err error, missing string) error {
	if err != nil {
		return err
	}
	return otos.Errorf(otos.EINTERNAL, "%s", missing)
}
