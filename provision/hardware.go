package provision

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

var errHardware = &otos.Error{Code: otos.EHARDWARE, Field: "hardware_id",
	Message: "This device number is bound to other hardware: the request comes from a clone, or from a board an operator has not unbound"}

// hardwareOf is what otos keeps of the hardware identity req sends: a keyed
// hash of the id, so that a leak of the store does not list the serials,
// and the public key, if any.
func (r *Registrar) hardwareOf(t *otos.Template, req *otos.AuthRequest) (otos.Hardware, error) {
	if req.HardwareID == "" {
		return otos.Hardware{}, nil
	}
	h := otos.Hardware{IDHash: r.hardwareHash(t, req.HardwareID)}
	if req.HardwareKey != "" {
		key, err := otos.ParseHardwareKey(req.HardwareKey)
		if err != nil {
			return otos.Hardware{}, err
		}
		h.PublicKey = key
	}
	return h, nil
}

// hardwareHash is the keyed hash of a hardware id within t's tenant.
func (r *Registrar) hardwareHash(t *otos.Template, id string) []byte {
	return r.keys.Hash(otos.Secret("hardware\x00" + t.TenantID + "\x00" + id))
}

// repeat answers a registration of the known device d: under the hardware
// policy, a device bound to its hardware recovers by proving it; any other
// gets a fresh voucher by the rules of its template.
func (r *Registrar) repeat(ctx context.Context, from otos.Client, t *otos.Template, d *otos.Device, req *otos.AuthRequest, hw otos.Hardware, v otos.Voucher) (*otos.Issued, error) {
	if t.Reregistration == otos.ReregHardware && d.Hardware.Bound() {
		return r.recover(ctx, from, t, d, req, hw, v)
	}
	return r.reissue(ctx, from, t, d, hw, v)
}

// recover re-issues the voucher of d, bound to its hardware, to a request
// that proves the same hardware identity, and with it the key enrolled, if
// any: a factory-reset device, connected before or not. The old voucher is
// void. A different identity is a clone: refused, and told as an event.
func (r *Registrar) recover(ctx context.Context, from otos.Client, t *otos.Template, d *otos.Device, req *otos.AuthRequest, hw otos.Hardware, v otos.Voucher) (*otos.Issued, error) {
	if !hw.Bound() || subtle.ConstantTimeCompare(hw.IDHash, d.Hardware.IDHash) != 1 {
		r.hardwareMismatch(ctx, from, d)
		return nil, errHardware
	}
	if len(d.Hardware.PublicKey) > 0 {
		if err := r.verifyHardwareSign(ctx, t, req, d.Hardware.PublicKey); err != nil {
			return nil, err
		}
	}
	now := r.timestamp()
	ri := otos.Reissue{TemplateID: t.ID, New: v.Credential(), ExpiresAt: t.VoucherExpiry(now), Recover: hw.IDHash}
	got, err := r.store.ReissueCredential(ctx, d.ID, ri, now, r.deviceEvent(otos.EventDeviceReissued, d, from.Addr))
	switch otos.ErrorCode(err) {
	case "":
	case otos.ECONFLICT, otos.ENOTFOUND:
		return nil, errDeviceExists // disabled, unbound or deleted meanwhile
	default:
		return nil, fmt.Errorf("recover voucher: %w", err)
	}
	r.log.Info("voucher recovered by hardware identity", "device_id", d.ID, "device_number", d.DeviceNumber, "template_id", t.ID)
	r.views.revoke(d.ID)
	return &otos.Issued{Device: got, Voucher: v, Reissued: true}, nil
}

// verifyHardwareSign checks the enrolled key's signature of req, its
// timestamp and, unless the template signature spent it already, its
// nonce: a recorded recovery cannot be replayed.
func (r *Registrar) verifyHardwareSign(ctx context.Context, t *otos.Template, req *otos.AuthRequest, key []byte) error {
	if req.HardwareSign == "" {
		return &otos.Error{Code: otos.EBADSIGNATURE, Field: "hardware_sign",
			Message: "This device enrolled a hardware key: sign the request with it (hardware_sign, with timestamp and nonce)"}
	}
	now := r.now()
	ms, _ := strconv.ParseInt(req.Timestamp, 10, 64)
	if d := now.Sub(time.UnixMilli(ms)); d > otos.SignWindow || d < -otos.SignWindow {
		return &otos.Error{Code: otos.ESTALE, Field: "timestamp",
			Message: "timestamp is more than 5 minutes from the server's time; check the device clock"}
	}
	if !req.VerifyHardwareSign(key) {
		return &otos.Error{Code: otos.EBADSIGNATURE, Field: "hardware_sign", Message: "The hardware key's signature does not verify"}
	}
	if req.Signed() {
		return nil
	}
	err := r.store.UseNonce(ctx, t.ID, req.Nonce, now.Add(2*otos.SignWindow), now)
	if otos.ErrorCode(err) == otos.ECONFLICT {
		return &otos.Error{Code: otos.EREPLAY, Field: "nonce", Message: "nonce was already used; send a fresh one"}
	}
	return err
}

// hardwareMismatch tells of a registration of d from other hardware.
func (r *Registrar) hardwareMismatch(ctx context.Context, from otos.Client, d *otos.Device) {
	r.log.Warn("registration from other hardware refused: a clone?", "device_id", d.ID,
		"device_number", d.DeviceNumber, "client", from.Addr)
	ev := r.deviceEvent(otos.EventHardwareMismatch, d, from.Addr)
	if err := r.store.AppendEvents(ctx, []*otos.Event{ev}); err != nil {
		r.log.Warn("hardware mismatch: event not written", "err", err)
	}
}
