package provision

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
)

// Registrar is the registration service (otos.Registrar): the secret or
// signature check, admission (registration mode, allow-list, rate limit),
// and the creation of a device or the re-issue of its voucher.
type Registrar struct {
	*core
	rates *limit.Rate // per-template registrations a second
}

// Refusals that carry nothing of the request: shared, never changed.
var (
	errSecretUnknown = otos.Errorf(otos.ESECRETUNKNOWN, "Template secret does not exist")
	errDeviceExists  = otos.Errorf(otos.EDEVICEEXISTS, "Device already exists")
)

// Register implements otos.Registrar.
func (r *Registrar) Register(ctx context.Context, from otos.Client, decode func() (*otos.AuthRequest, error)) (iss *otos.Issued, err error) {
	var req *otos.AuthRequest // once valid, for the audit and the log
	var t *otos.Template
	defer func() {
		r.refused(ctx, from, req, t, err)
		r.stats.registration(t, from, iss, err, r.now())
	}()
	if err := r.guard.check(from); err != nil {
		return nil, err
	}
	in, err := decode()
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	req = in
	if t, err = r.authTemplate(ctx, req); err != nil {
		return nil, err
	}
	return r.register(ctx, from, t, req)
}

// refused audits an attempt, counts a failed credential against the
// client, and logs a refusal of a valid request.
func (r *Registrar) refused(ctx context.Context, from otos.Client, req *otos.AuthRequest, t *otos.Template, err error) {
	r.audit.registration(from, req, t, err)
	if err == nil {
		return
	}
	r.guard.count(from, err)
	r.core.refused.add(t, otos.ErrorCode(err).Number(), r.timestamp())
	if req != nil && r.log.Enabled(ctx, slog.LevelInfo) {
		r.log.InfoContext(ctx, "registration refused", "code", otos.ErrorCode(err).Number(),
			"device_number", req.DeviceNumber, "client", from.Addr)
	}
}

// register admits req under template t, then creates the device or
// re-issues the voucher of a known device that may register again.
func (r *Registrar) register(ctx context.Context, from otos.Client, t *otos.Template, req *otos.AuthRequest) (*otos.Issued, error) {
	if err := r.admit(ctx, t, req.DeviceNumber); err != nil {
		return nil, err
	}
	// A number not in the view is taken to be new: the insert finds out
	// otherwise, which spares a new device a store read.
	known, err := r.repeatableCached(t, req)
	if err != nil {
		return nil, err
	}
	d := &otos.Device{
		TenantID:     t.TenantID,
		TemplateID:   t.ID,
		DeviceNumber: req.DeviceNumber,
		Name:         req.DeviceName,
		Status:       otos.StatusEnabled,
	}
	if err := r.bindProduct(ctx, t, req.ProductKey, d); err != nil {
		return nil, r.existsFirst(ctx, t, req, known, err)
	}
	if err := r.bindParent(ctx, t, req, d); err != nil {
		return nil, r.existsFirst(ctx, t, req, known, err)
	}
	hw, err := r.hardwareOf(t, req)
	if err != nil {
		return nil, err
	}
	d.Hardware = hw
	v, err := r.newVoucher(t.VoucherType)
	if err != nil {
		return nil, err
	}
	if known != nil {
		if !sameParent(known, d) {
			return nil, errDeviceExists
		}
		return r.repeat(ctx, from, t, known, req, hw, v)
	}
	return r.create(ctx, from, t, req, d, v)
}

// sameParent reports whether a known sub-device registers again under the
// parent it has: another gateway must not take it over (and void its
// voucher) by naming its number.
func sameParent(known, d *otos.Device) bool {
	return known.ParentID == d.ParentID
}

// authTemplate returns the template whose secret the request proves: by the
// secret itself, or by a signature made with it.
func (r *Registrar) authTemplate(ctx context.Context, req *otos.AuthRequest) (*otos.Template, error) {
	if req.Signed() {
		return r.verifySigned(ctx, req)
	}
	t, err := r.views.templateBySecret(ctx, r.keys.Hash(req.TemplateSecret))
	switch {
	case err != nil:
		return nil, err
	case t == nil:
		return nil, errSecretUnknown
	case t.AuthMode == otos.AuthSigned:
		return nil, &otos.Error{Code: otos.EBADSIGNATURE, Field: "sign",
			Message: "This template accepts only signed requests: send template_id, timestamp, nonce, sign_method and sign, not the secret"}
	}
	return t, nil
}

// admit applies the template's registration mode and rate limit.
func (r *Registrar) admit(ctx context.Context, t *otos.Template, number string) error {
	switch t.Registration {
	case otos.RegistrationOff:
		return otos.Errorf(otos.EREGISTRATIONOFF, "Auto-registration is disabled for this template")
	case otos.RegistrationAllowlist:
		ok, err := r.store.Allowed(ctx, t.ID, number)
		if err != nil {
			return err
		}
		if !ok {
			return &otos.Error{Code: otos.ENOTALLOWED, Field: "device_number",
				Message: "Device number is not on this template's allow-list"}
		}
	}
	return r.admitRate(t)
}

// admitRate takes one registration from template t's rate limit (RateLimit
// registrations a second, in bursts of up to one second's worth) and returns
// ERATELIMITED, carrying the wait in RetryAfter, when the template is over
// it. A template without a limit is always admitted. The limit is kept in
// this process's memory: each otos node applies it separately.
func (r *Registrar) admitRate(t *otos.Template) error {
	if t.RateLimit <= 0 {
		return nil
	}
	wait, ok := r.rates.Allow(t.ID, float64(t.RateLimit), t.RateLimit, r.now())
	if ok {
		return nil
	}
	return &otos.Error{Code: otos.ERATELIMITED, RetryAfter: wait,
		Message: "Too many registrations for this template right now; retry shortly"}
}

// repeatable returns nil for a new device number, the known device when it
// may register again, and EDEVICEEXISTS otherwise.
func (r *Registrar) repeatable(ctx context.Context, t *otos.Template, req *otos.AuthRequest) (*otos.Device, error) {
	d, err := r.views.device(ctx, req.DeviceNumber)
	if d == nil || err != nil {
		return nil, err
	}
	return mayRepeat(t, d, req)
}

// repeatableCached is repeatable from the view only: nil when the number is
// not in it.
func (r *Registrar) repeatableCached(t *otos.Template, req *otos.AuthRequest) (*otos.Device, error) {
	d := r.views.peekDevice(req.DeviceNumber)
	if d == nil {
		return nil, nil
	}
	return mayRepeat(t, d, req)
}

// mayRepeat returns d if it may register again under t, EDEVICEEXISTS
// otherwise. A device may register again while enabled, under the same
// template, never connected, and either reset by an operator (it holds no
// voucher) or under until_connected. Under hardware, a device bound to its
// hardware is left to the hardware check (Registrar.recover), connected or
// not.
func mayRepeat(t *otos.Template, d *otos.Device, req *otos.AuthRequest) (*otos.Device, error) {
	if d.TemplateID != t.ID || d.Status != otos.StatusEnabled {
		return nil, errDeviceExists
	}
	if t.Reregistration == otos.ReregHardware && d.Hardware.Bound() {
		return d, nil
	}
	if d.FirstConnectedAt != nil || t.Reregistration == otos.ReregNever && !d.Credential.IsZero() {
		return nil, errDeviceExists
	}
	return d, nil
}

// existsFirst returns err, the refusal of a later check, unless the device
// number is taken by a device that may not register again: that refusal
// comes first in ThingsPanel's order. known is the device from the view.
func (r *Registrar) existsFirst(ctx context.Context, t *otos.Template, req *otos.AuthRequest, known *otos.Device, err error) error {
	if known != nil {
		return err
	}
	if _, rerr := r.repeatable(ctx, t, req); rerr != nil {
		return rerr
	}
	return err
}

// bindProduct checks that key names a product of template t.
func (r *Registrar) bindProduct(ctx context.Context, t *otos.Template, key string, d *otos.Device) error {
	if key == "" {
		return nil
	}
	unknown := &otos.Error{Code: otos.EPRODUCTUNKNOWN, Field: "product_key",
		Message: "Product key does not exist or does not belong to this template"}
	p, err := r.store.ProductByKey(ctx, key)
	if err != nil {
		return ifNotFound(err, unknown)
	}
	if p.TemplateID != t.ID || subtle.ConstantTimeCompare([]byte(p.ProductKey), []byte(key)) != 1 {
		return unknown
	}
	d.ProductID = p.ID
	return nil
}

// bindParent checks the sub-device fields for a sub-device template; other
// templates ignore them, as ThingsPanel does.
func (r *Registrar) bindParent(ctx context.Context, t *otos.Template, req *otos.AuthRequest, d *otos.Device) error {
	if t.DeviceType != otos.DeviceSubDevice {
		return nil
	}
	if req.ParentDeviceNumber == "" || req.SubDeviceAddr == "" {
		field := "parent_device_number"
		if req.ParentDeviceNumber != "" {
			field = "sub_device_addr"
		}
		return &otos.Error{Code: otos.ESUBDEVICEFIELDS, Field: field,
			Message: "Sub-device registration needs parent_device_number and sub_device_addr"}
	}
	unknown := &otos.Error{Code: otos.EPARENTUNKNOWN, Field: "parent_device_number",
		Message: "Parent device does not exist or is not a gateway of this tenant"}
	p, err := r.views.device(ctx, req.ParentDeviceNumber)
	if err != nil {
		return err
	}
	if p == nil || p.TenantID != t.TenantID || p.Status != otos.StatusEnabled {
		return unknown
	}
	typ, err := r.views.deviceType(ctx, p.TemplateID)
	if err != nil {
		return err
	}
	if typ != otos.DeviceGateway {
		return unknown
	}
	d.ParentID, d.SubDeviceAddr = p.ID, req.SubDeviceAddr
	return nil
}

// create inserts a new device. When a concurrent request registered the same
// number first, the outcome is that of a repeat.
func (r *Registrar) create(ctx context.Context, from otos.Client, t *otos.Template, req *otos.AuthRequest, d *otos.Device, v otos.Voucher) (*otos.Issued, error) {
	id, err := r.newID()
	if err != nil {
		return nil, err
	}
	now := r.timestamp()
	d.ID, d.CreatedAt, d.UpdatedAt, d.Credential = id, now, now, v.Credential()
	d.VoucherExpiresAt = t.VoucherExpiry(now)
	epoch := r.views.vouchers.Epoch()
	err = r.store.CreateDevice(ctx, d, r.deviceEvent(otos.EventDeviceRegistered, d, from.Addr))
	if err == nil {
		r.views.registered(d, t.DeviceType, epoch)
		r.log.Info("device registered", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", t.ID)
		return &otos.Issued{Device: d, Voucher: v}, nil
	}
	if otos.ErrorCode(err) != otos.ECONFLICT {
		return nil, fmt.Errorf("create device: %w", err)
	}
	// The database said no. Decide which rule, in SPEC order: the number first.
	known, rerr := r.repeatable(ctx, t, req)
	switch {
	case rerr != nil:
		return nil, rerr
	case known != nil && sameParent(known, d):
		return r.repeat(ctx, from, t, known, req, d.Hardware, v)
	case known != nil:
		return nil, errDeviceExists
	case otos.ErrorField(err) == "sub_device_addr":
		return nil, &otos.Error{Code: otos.ESUBADDRTAKEN, Field: "sub_device_addr",
			Message: "Sub-device address already exists under this parent"}
	case otos.ErrorField(err) == "device_number":
		return nil, errDeviceExists // taken, then deleted, while we looked
	case otos.ErrorField(err) == "max_devices":
		return nil, otos.Errorf(otos.ECAPREACHED, "This template has reached its device limit (max_devices %d)", t.MaxDevices)
	default:
		return nil, fmt.Errorf("create device: %w", err)
	}
}

// reissue gives a known device a fresh voucher, voiding its old one, and
// binds it to hw unless it is bound.
func (r *Registrar) reissue(ctx context.Context, from otos.Client, t *otos.Template, d *otos.Device, hw otos.Hardware, v otos.Voucher) (*otos.Issued, error) {
	now := r.timestamp()
	ri := otos.Reissue{TemplateID: t.ID, New: v.Credential(), ExpiresAt: t.VoucherExpiry(now), Hardware: hw,
		OnlyIfVoid:  t.Reregistration == otos.ReregNever, // a reset device, once
		OnlyUnbound: t.Reregistration == otos.ReregHardware}
	d, err := r.store.ReissueCredential(ctx, d.ID, ri, now, r.deviceEvent(otos.EventDeviceReissued, d, from.Addr))
	switch otos.ErrorCode(err) {
	case "":
	case otos.ECONFLICT, otos.ENOTFOUND:
		// It connected, was disabled or was deleted in the meantime.
		return nil, errDeviceExists
	default:
		return nil, fmt.Errorf("reissue voucher: %w", err)
	}
	r.log.Info("voucher re-issued", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", t.ID)
	r.views.revoke(d.ID)
	return &otos.Issued{Device: d, Voucher: v, Reissued: true}, nil
}

// newVoucher mints a voucher of type t. A BASIC voucher has a UUIDv7
// username, which need not be secret and whose time order keeps its lookup
// key's index append-only (otos.VoucherLookup), and a 192-bit password. An
// ACCESSTOKEN voucher's username is its secret: a random UUIDv4.
func (r *Registrar) newVoucher(t otos.VoucherType) (otos.Voucher, error) {
	if t != otos.VoucherBasic {
		u, err := uuid.NewRandomFromReader(r.rand)
		if err != nil {
			return otos.Voucher{}, err
		}
		return otos.Voucher{Username: otos.Secret(u.String())}, nil
	}
	u, err := uuid.NewV7FromReader(r.rand)
	if err != nil {
		return otos.Voucher{}, err
	}
	v := otos.Voucher{Username: otos.Secret(u.String())}
	if v.Password, err = randomString(r.rand, passwordBytes); err != nil {
		return otos.Voucher{}, err
	}
	return v, nil
}
