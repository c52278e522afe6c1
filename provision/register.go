package provision

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/otos-iot/otos"
)

// Registration is the outcome of a successful device registration.
type Registration struct {
	Device  *otos.Device
	Voucher otos.Voucher
	// Reissued is true when a known device received a fresh voucher.
	Reissued bool
}

// Register runs the One Type One Secret flow for req: it finds the template by
// its secret (or checks a signed request), then creates the device, or
// re-issues the voucher of a known device that may register again, and
// returns the new voucher. Every attempt is audited. Errors are checked in
// ThingsPanel's order, with otos's own codes where they belong: EINVALID;
// ESECRETUNKNOWN, or for a signed request ESTALE, EBADSIGNATURE, EREPLAY;
// EREGISTRATIONOFF; ENOTALLOWED; ERATELIMITED; EDEVICEEXISTS;
// EPRODUCTUNKNOWN; ESUBDEVICEFIELDS; EPARENTUNKNOWN; ECAPREACHED;
// ESUBADDRTAKEN.
func (s *Service) Register(ctx context.Context, req *otos.AuthRequest) (reg *Registration, err error) {
	var t *otos.Template
	defer func() { s.auditRegistration(req, t, err) }()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if t, err = s.authTemplate(ctx, req); err != nil {
		return nil, err
	}
	if err := s.admit(ctx, t, req.DeviceNumber); err != nil {
		return nil, err
	}
	// A number not in the snapshot cache is taken to be new: the insert
	// finds out otherwise, which spares a new device a store read.
	known, err := s.repeatableCached(t, req.DeviceNumber)
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
	if err := s.bindProduct(ctx, t, req.ProductKey, d); err != nil {
		return nil, s.existsFirst(ctx, t, req.DeviceNumber, known, err)
	}
	if err := s.bindParent(ctx, t, req, d); err != nil {
		return nil, s.existsFirst(ctx, t, req.DeviceNumber, known, err)
	}
	v, err := s.newVoucher(t.VoucherType)
	if err != nil {
		return nil, err
	}
	if known != nil {
		return s.reissue(ctx, t, known, v)
	}
	return s.create(ctx, t, d, v)
}

// authTemplate returns the template whose secret the request proves: by the
// secret itself, or by a signature made with it.
func (s *Service) authTemplate(ctx context.Context, req *otos.AuthRequest) (*otos.Template, error) {
	if req.Signed() {
		return s.verifySigned(ctx, req)
	}
	t, err := s.templateBySecret(ctx, req.TemplateSecret)
	if err == nil && t.AuthMode == otos.AuthSigned {
		return nil, &otos.Error{Code: otos.EBADSIGNATURE, Field: "sign",
			Message: "This template accepts only signed requests: send template_id, timestamp, nonce, sign_method and sign, not the secret"}
	}
	return t, err
}

// admit applies the template's registration mode and rate limit.
func (s *Service) admit(ctx context.Context, t *otos.Template, number string) error {
	switch t.Registration {
	case otos.RegistrationOff:
		return otos.Errorf(otos.EREGISTRATIONOFF, "Auto-registration is disabled for this template")
	case otos.RegistrationAllowlist:
		ok, err := s.store.Allowed(ctx, t.ID, number)
		if err != nil {
			return err
		}
		if !ok {
			return &otos.Error{Code: otos.ENOTALLOWED, Field: "device_number",
				Message: "Device number is not on this template's allow-list"}
		}
	}
	return s.admitRate(t)
}

// templateBySecret finds the template by the keyed hash of secret.
func (s *Service) templateBySecret(ctx context.Context, secret otos.Secret) (*otos.Template, error) {
	hash, now := s.keys.Hash(secret), s.now()
	if t := s.tplCache.get(hash, now); t != nil {
		return t, nil
	}
	t, err := s.store.TemplateBySecret(ctx, hash, now)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return nil, otos.Errorf(otos.ESECRETUNKNOWN, "Template secret does not exist")
	}
	if err != nil {
		return nil, err
	}
	s.tplCache.put(hash, t, now)
	return t, nil
}

// repeatable returns nil for a new device number, the known device when it
// may register again, and EDEVICEEXISTS otherwise.
func (s *Service) repeatable(ctx context.Context, t *otos.Template, number string) (*otos.Device, error) {
	d, err := s.deviceByNumber(ctx, number)
	if d == nil || err != nil {
		return nil, err
	}
	return mayRepeat(t, d)
}

// repeatableCached is repeatable from the snapshot cache only: nil when the
// number is not in it.
func (s *Service) repeatableCached(t *otos.Template, number string) (*otos.Device, error) {
	d, _ := s.known.get(number, s.now())
	if d == nil {
		return nil, nil
	}
	return mayRepeat(t, d)
}

// mayRepeat returns d if it may register again under t, EDEVICEEXISTS
// otherwise. A device may register again while enabled, under the same
// template, never connected, and either reset by an operator (it holds no
// voucher) or under until_connected.
func mayRepeat(t *otos.Template, d *otos.Device) (*otos.Device, error) {
	if d.TemplateID != t.ID || d.Status != otos.StatusEnabled || d.FirstConnectedAt != nil ||
		t.Reregistration == otos.ReregNever && !d.Credential.IsZero() {
		return nil, deviceExists()
	}
	return d, nil
}

// existsFirst returns err, the refusal of a later check, unless the device
// number is taken by a device that may not register again: that refusal
// comes first in ThingsPanel's order. known is the device from the cache.
func (s *Service) existsFirst(ctx context.Context, t *otos.Template, number string, known *otos.Device, err error) error {
	if known != nil {
		return err
	}
	if _, rerr := s.repeatable(ctx, t, number); rerr != nil {
		return rerr
	}
	return err
}

func deviceExists() error {
	return otos.Errorf(otos.EDEVICEEXISTS, "Device already exists")
}

// bindProduct checks that key names a product of template t.
func (s *Service) bindProduct(ctx context.Context, t *otos.Template, key string, d *otos.Device) error {
	if key == "" {
		return nil
	}
	unknown := &otos.Error{Code: otos.EPRODUCTUNKNOWN, Field: "product_key",
		Message: "Product key does not exist or does not belong to this template"}
	p, err := s.store.ProductByKey(ctx, key)
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
func (s *Service) bindParent(ctx context.Context, t *otos.Template, req *otos.AuthRequest, d *otos.Device) error {
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
	p, err := s.store.DeviceByNumber(ctx, req.ParentDeviceNumber)
	if err != nil {
		return ifNotFound(err, unknown)
	}
	if p.TenantID != t.TenantID || p.Status != otos.StatusEnabled {
		return unknown
	}
	pt, err := s.store.Template(ctx, p.TemplateID)
	if err != nil {
		return err
	}
	if pt.DeviceType != otos.DeviceGateway {
		return unknown
	}
	d.ParentID, d.SubDeviceAddr = p.ID, req.SubDeviceAddr
	return nil
}

// create inserts a new device. When a concurrent request registered the same
// number first, the outcome is that of a repeat.
func (s *Service) create(ctx context.Context, t *otos.Template, d *otos.Device, v otos.Voucher) (*Registration, error) {
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	now := s.timestamp()
	d.ID, d.CreatedAt, d.UpdatedAt, d.Credential = id, now, now, v.Credential()
	// The device connects next, most likely to this node: its voucher goes
	// into the broker's cache, unless a change voided the cache meanwhile.
	_, epoch := s.creds.get(d.Credential.Lookup, now)
	err = s.store.CreateDevice(ctx, d)
	if err == nil {
		s.creds.put(d.Credential.Lookup, brokerView(d, t.DeviceType, s.now()), epoch)
		s.log.Info("device registered", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", t.ID)
		return &Registration{Device: d, Voucher: v}, nil
	}
	if otos.ErrorCode(err) != otos.ECONFLICT {
		return nil, fmt.Errorf("create device: %w", err)
	}
	// The database said no. Decide which rule, in SPEC order: the number first.
	known, rerr := s.repeatable(ctx, t, d.DeviceNumber)
	switch {
	case rerr != nil:
		return nil, rerr
	case known != nil:
		return s.reissue(ctx, t, known, v)
	case otos.ErrorField(err) == "sub_device_addr":
		return nil, &otos.Error{Code: otos.ESUBADDRTAKEN, Field: "sub_device_addr",
			Message: "Sub-device address already exists under this parent"}
	case otos.ErrorField(err) == "device_number":
		return nil, deviceExists() // taken, then deleted, while we looked
	case otos.ErrorField(err) == "max_devices":
		return nil, otos.Errorf(otos.ECAPREACHED, "This template has reached its device limit (max_devices %d)", t.MaxDevices)
	default:
		return nil, fmt.Errorf("create device: %w", err)
	}
}

// reissue gives a known device a fresh voucher, voiding its old one.
func (s *Service) reissue(ctx context.Context, t *otos.Template, d *otos.Device, v otos.Voucher) (*Registration, error) {
	onlyIfVoid := t.Reregistration == otos.ReregNever // a reset device, once
	d, err := s.store.ReissueCredential(ctx, d.ID, t.ID, v.Credential(), onlyIfVoid, s.timestamp())
	switch otos.ErrorCode(err) {
	case "":
	case otos.ECONFLICT, otos.ENOTFOUND:
		// It connected, was disabled or was deleted in the meantime.
		return nil, deviceExists()
	default:
		return nil, fmt.Errorf("reissue voucher: %w", err)
	}
	s.log.Info("voucher re-issued", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", t.ID)
	s.changed(d, true)
	return &Registration{Device: d, Voucher: v, Reissued: true}, nil
}
