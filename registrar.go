package otos

import "context"

// Issued is what a successful registration issued: the device and its new
// voucher, the only copy of it anywhere.
type Issued struct {
	Device  *Device
	Voucher Voucher
	// Reissued is true when a known device received a fresh voucher.
	Reissued bool
}

// Registrar is the core's registration service, for every protocol that
// carries the device auth request (HTTP today, MQTT next).
type Registrar interface {
	// Register runs one registration attempt of client from. A locked-out
	// client is refused (ELOCKEDOUT) before decode runs; otherwise decode
	// supplies the request as the protocol received it (DecodeAuthRequest
	// reads the JSON form), and its error refuses the attempt. Errors come
	// in ThingsPanel's order: EINVALID; ESECRETUNKNOWN, or for a signed
	// request ESTALE, EBADSIGNATURE, EREPLAY; EREGISTRATIONOFF; ENOTALLOWED;
	// ERATELIMITED; EDEVICEEXISTS; EPRODUCTUNKNOWN; ESUBDEVICEFIELDS;
	// EPARENTUNKNOWN; ECAPREACHED; ESUBADDRTAKEN. Every attempt is audited,
	// and a failed secret or signature counts toward from's lock-out.
	Register(ctx context.Context, from Client, decode func() (*AuthRequest, error)) (*Issued, error)
	// RegisterSubDevices registers the sub-devices of the gateway whose
	// session gateway is (Sessions.Authenticate with its voucher), under the
	// sub-device templates its template grants (Template.SubTemplates), one
	// outcome per entry in order: each entry is registered or refused on
	// its own, as Register would with the sub-device template's secret,
	// plus ENOTGRANTED for a template not granted. The batch as a whole is
	// refused when decode fails, and with EFORBIDDEN when gateway is not an
	// enabled gateway. Every entry is audited.
	RegisterSubDevices(ctx context.Context, gateway *Session, decode func() ([]SubDeviceRequest, error)) ([]SubDeviceOutcome, error)
	// Rotate gives the device of session dev (Sessions.Authenticate with
	// its voucher) a new voucher. The one it presented keeps working for
	// its template's rotation overlap, or until the new one is first used.
	// A previous voucher within its overlap may rotate again once
	// RotationRetryGap has passed (the device lost the answer); EROTATED
	// when another rotation with the same voucher won, EFORBIDDEN for a
	// session that is not a device's, EUNAUTHORIZED when the voucher was
	// voided meanwhile. Every attempt is audited.
	Rotate(ctx context.Context, dev *Session) (*Issued, error)
}
