package provision

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/otos-iot/otos"
)

// Rotate implements otos.Registrar. It works from the session, as the
// broker's view gave it, and lets the store's conditional update decide:
// a rotation costs one write and no read; only a refusal reads the device,
// to say why.
func (r *Registrar) Rotate(ctx context.Context, dev *otos.Session) (iss *otos.Issued, err error) {
	defer func() { r.audit.rotation(dev, err) }()
	if dev == nil || dev.IsService() || dev.Registration {
		return nil, otos.Errorf(otos.EFORBIDDEN, "only a device rotates its voucher, with the voucher itself")
	}
	now := r.timestamp()
	if otos.Expired(dev.Until, now) {
		return nil, errExpired(dev.Previous)
	}
	t, err := r.views.template(ctx, dev.TemplateID)
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
		PreviousUntil: overlapEnd(t, dev, now), RetryBefore: now.Add(-otos.RotationRetryGap)}
	data := otos.EventData{DeviceID: dev.DeviceID, DeviceNumber: dev.DeviceNumber, TemplateID: dev.TemplateID,
		ClientAddr: dev.From.Addr, ExpiresAt: rot.ExpiresAt, PreviousUntil: &rot.PreviousUntil}
	// What the rotation voids outright: for the current voucher the one it
	// replaced before, for a previous one (a retry) the current one.
	var voided []byte
	if e, err := r.views.voucher(ctx, dev.Lookup); err == nil && e != nil {
		voided = e.other
	}
	epoch := r.views.vouchers.Epoch()
	d, err := r.store.RotateCredential(ctx, dev.DeviceID, rot, now, r.event(otos.EventVoucherRotated, dev.TenantID, dev.DeviceID, data))
	switch otos.ErrorCode(err) {
	case "":
	case otos.ECONFLICT:
		return nil, r.rotationRefused(ctx, dev, now)
	case otos.ENOTFOUND:
		return nil, errBadCredentials
	default:
		return nil, fmt.Errorf("rotate voucher: %w", err)
	}
	r.views.rotated(d, dev.DeviceType, dev.Lookup, epoch)
	if voided != nil && !bytes.Equal(voided, d.Credential.Lookup) && !bytes.Equal(voided, d.Previous.Lookup) {
		r.views.revoke(otos.VoucherKeyOf(voided))
	}
	// The sessions of the voucher that asked end with its overlap, here and
	// on the other nodes, unless the new voucher's first use ends them first.
	if d.PreviousUntil != nil {
		r.views.expireAt(dev, *d.PreviousUntil)
	}
	r.log.Info("voucher rotated", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", d.TemplateID)
	return &otos.Issued{Device: d, Voucher: v}, nil
}

// rotationRefused says why the store refused the rotation of dev's voucher:
// the device was disabled or the voucher voided since the session was
// checked, or another rotation with the same voucher won (EROTATED).
func (r *Registrar) rotationRefused(ctx context.Context, dev *otos.Session, now time.Time) error {
	d, err := r.store.Device(ctx, dev.DeviceID)
	switch {
	case err != nil:
		return ifNotFound(err, errBadCredentials)
	case d.Status != otos.StatusEnabled:
		return otos.Errorf(otos.EFORBIDDEN, "device is disabled")
	case !bytes.Equal(d.Credential.Lookup, dev.Lookup) && !(bytes.Equal(d.Previous.Lookup, dev.Lookup) && d.PreviousValid(now)):
		if bytes.Equal(d.Previous.Lookup, dev.Lookup) {
			return errExpired(true)
		}
		return errBadCredentials
	}
	return &otos.Error{Code: otos.EROTATED, RetryAfter: otos.RotationRetryGap,
		Message: "This voucher was rotated a moment ago by another request: use the voucher that request received, or, if its answer was lost, retry in 30 seconds"}
}

// overlapEnd is when the voucher that rotates now stops working, unless
// the new one is used sooner: after the template's overlap, but never
// later than the voucher's own expiry.
func overlapEnd(t *otos.Template, dev *otos.Session, now time.Time) time.Time {
	end := now.Add(time.Duration(t.RotationOverlap) * time.Second)
	if t.RotationOverlap <= 0 {
		end = now.Add(otos.DefaultRotationOverlap * time.Second)
	}
	if dev.Until != nil && !dev.Previous && dev.Until.Before(end) {
		end = *dev.Until
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
