package provision_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/storetest"
)

// regFixture is a core on SQLite behind a fault injector, with a template
// of each kind and the devices the check order is tested against, on a
// clock that each case moves a minute on, past every view's lifetime.
type regFixture struct {
	s      *provision.Service
	store  *storetest.Faults
	now    time.Time
	secret map[string]otos.Secret
	tpl    map[string]*otos.Template
	// productKey is bound to "direct", otherProductKey to "gateway".
	productKey, otherProductKey string
}

func newRegFixture(t *testing.T) *regFixture {
	t.Helper()
	ctx := context.Background()
	f := &regFixture{store: storetest.NewFaults(newStore(t)), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		secret: map[string]otos.Secret{}, tpl: map[string]*otos.Template{}}
	f.s = provision.New(provision.Config{Store: f.store, Keys: newKeys(t), Now: func() time.Time { return f.now }})
	other, err := f.s.Admin.CreateTenant(ctx, sys, "other")
	if err != nil {
		t.Fatal(err)
	}
	for name, tpl := range map[string]*otos.Template{
		"direct":  {DeviceType: otos.DeviceDirect},
		"gateway": {DeviceType: otos.DeviceGateway},
		"sub":     {DeviceType: otos.DeviceSubDevice},
		"off":     {DeviceType: otos.DeviceDirect, Registration: otos.RegistrationOff},
		"never":   {DeviceType: otos.DeviceDirect, Reregistration: otos.ReregNever},
		"allow":   {DeviceType: otos.DeviceDirect, Registration: otos.RegistrationAllowlist},
		"signed":  {DeviceType: otos.DeviceDirect, AuthMode: otos.AuthSigned},
		"capped":  {DeviceType: otos.DeviceDirect, MaxDevices: 1},
		"limited": {DeviceType: otos.DeviceDirect, RateLimit: 1},
		"foreign": {DeviceType: otos.DeviceGateway, TenantID: other.ID},
		"hw":      {DeviceType: otos.DeviceDirect, Reregistration: otos.ReregHardware},
	} {
		tpl.Name = name
		f.secret[name], f.tpl[name] = createTemplate(t, f.s, tpl), tpl
	}
	for field, tpl := range map[*string]string{&f.productKey: "direct", &f.otherProductKey: "gateway"} {
		p := &otos.Product{Name: tpl, TemplateID: f.tpl[tpl].ID}
		if err := f.s.Admin.CreateProduct(ctx, sys, p); err != nil {
			t.Fatal(err)
		}
		*field = p.ProductKey
	}
	if _, err := f.s.Admin.ImportAllowlist(ctx, sys, f.tpl["allow"].ID, []string{"allowed-1", "allowed-2"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ tpl, number string }{
		{"gateway", "gw-1"}, {"gateway", "gw-off"}, {"foreign", "gw-other"}, {"direct", "direct-1"},
		{"never", "never-1"}, {"never", "never-reset"}, {"direct", "rep-1"}, {"direct", "rep-2"}, {"capped", "cap-1"},
	} {
		iss := f.mustRegister(t, &otos.AuthRequest{TemplateSecret: f.secret[d.tpl], DeviceNumber: d.number})
		switch d.number {
		case "direct-1": // has connected: it may not register again
			if err := f.store.MarkConnected(ctx, iss.Device.ID, iss.Device.Credential.Lookup, f.now); err != nil {
				t.Fatal(err)
			}
		case "gw-off":
			if _, err := f.s.Admin.SetDeviceStatus(ctx, sys, iss.Device.ID, otos.StatusDisabled); err != nil {
				t.Fatal(err)
			}
		case "never-reset":
			if _, err := f.s.Admin.ResetDevice(ctx, sys, iss.Device.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.mustRegister(t, &otos.AuthRequest{TemplateSecret: f.secret["sub"], DeviceNumber: "sub-1",
		ParentDeviceNumber: "gw-1", SubDeviceAddr: "0x01"})
	return f
}

func (f *regFixture) mustRegister(t *testing.T, req *otos.AuthRequest) *otos.Issued {
	t.Helper()
	iss, err := register(context.Background(), f.s, device, req)
	if err != nil {
		t.Fatalf("register %s: %v", req.DeviceNumber, err)
	}
	return iss
}

// signed returns a signed request of template tpl for number, at the
// fixture's time moved by skew, signed with secret. The nonce is made
// fresh by the minute, so that a case can run more than once.
func (f *regFixture) signed(tpl, number, nonce string, skew time.Duration, secret otos.Secret) *otos.AuthRequest {
	nonce += "-" + strconv.FormatInt(f.now.Unix()/60, 10)
	r := &otos.AuthRequest{TemplateID: f.tpl[tpl].ID, DeviceNumber: number, Nonce: nonce,
		Timestamp: strconv.FormatInt(f.now.Add(skew).UnixMilli(), 10), SignMethod: otos.SignMethodHMACSHA256}
	r.Sign = otos.Sign(secret, r.SigningString())
	return r
}

// regCase is one registration attempt and the outcome the rules give it.
type regCase struct {
	name   string
	req    func(f *regFixture) *otos.AuthRequest
	before func(t *testing.T, f *regFixture) // sets up what the case needs
	fault  map[string]error                  // store faults during the attempt
	decode error                             // the adapter could not decode the request
	code   otos.Code                         // "" for success
	field  string
}

// plain is a plain request of template tpl; more are field pairs.
func plain(tpl, number string, more ...string) func(f *regFixture) *otos.AuthRequest {
	return func(f *regFixture) *otos.AuthRequest {
		r := &otos.AuthRequest{TemplateSecret: f.secret[tpl], DeviceNumber: number}
		if tpl == "" {
			r.TemplateSecret = "no-such-secret"
		}
		for i := 0; i+1 < len(more); i += 2 {
			switch v := more[i+1]; more[i] {
			case "product_key":
				r.ProductKey = map[string]string{"mine": f.productKey, "other": f.otherProductKey}[v]
				if r.ProductKey == "" {
					r.ProductKey = v
				}
			case "parent":
				r.ParentDeviceNumber = v
			case "addr":
				r.SubDeviceAddr = v
			case "secret":
				r.TemplateSecret = otos.Secret(v)
			case "hardware_id":
				r.HardwareID = v
			}
		}
		return r
	}
}

var regCases = []regCase{
	{name: "ok/new", req: plain("direct", "new-1")},
	{name: "ok/product-key", req: plain("direct", "new-2", "product_key", "mine")},
	{name: "ok/sub-fields-ignored-for-direct", req: plain("direct", "new-3", "parent", "nope", "addr", "x")},
	{name: "ok/sub-device", req: plain("sub", "sub-2", "parent", "gw-1", "addr", "0x02")},
	{name: "ok/reissue-until-connected", req: plain("direct", "rep-1")},
	{name: "ok/reset-device-under-never", req: plain("never", "never-reset")},
	{name: "ok/allowlisted", req: plain("allow", "allowed-1")},
	{name: "ok/signed", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "signed-1", "nonce-ok-1", 0, f.secret["signed"])
	}},

	{name: "fail/invalid/missing-number", req: plain("direct", ""), code: otos.EINVALID, field: "device_number"},
	{name: "fail/invalid/missing-secret", req: plain("direct", "x-1", "secret", ""), code: otos.EINVALID, field: "template_secret"},
	{name: "fail/decode/malformed", decode: otos.Errorf(otos.EINVALID, "Request body is not valid JSON"), code: otos.EINVALID},
	{name: "fail/decode/too-large", decode: otos.Errorf(otos.ETOOLARGE, "Request body exceeds 16384 bytes"), code: otos.ETOOLARGE},
	{name: "fail/secret-unknown", req: plain("", "x-2"), code: otos.ESECRETUNKNOWN},
	{name: "fail/registration-off", req: plain("off", "x-3"), code: otos.EREGISTRATIONOFF},
	{name: "fail/not-allowed", req: plain("allow", "x-4"), code: otos.ENOTALLOWED, field: "device_number"},
	{name: "fail/template-rate", req: plain("limited", "x-5"), code: otos.ERATELIMITED,
		before: func(t *testing.T, f *regFixture) { f.mustRegister(t, plain("limited", "x-5a")(f)) }},
	{name: "fail/exists/connected", req: plain("direct", "direct-1"), code: otos.EDEVICEEXISTS},
	{name: "fail/exists/never", req: plain("never", "never-1"), code: otos.EDEVICEEXISTS},
	{name: "fail/exists/other-template", req: plain("direct", "gw-1"), code: otos.EDEVICEEXISTS},
	{name: "fail/exists/disabled", req: plain("gateway", "gw-off"), code: otos.EDEVICEEXISTS},
	{name: "fail/product-unknown", req: plain("direct", "x-6", "product_key", "nope"), code: otos.EPRODUCTUNKNOWN, field: "product_key"},
	{name: "fail/product-other-template", req: plain("direct", "x-7", "product_key", "other"), code: otos.EPRODUCTUNKNOWN},
	{name: "fail/sub-missing-parent", req: plain("sub", "x-8", "addr", "0x03"), code: otos.ESUBDEVICEFIELDS, field: "parent_device_number"},
	{name: "fail/sub-missing-addr", req: plain("sub", "x-9", "parent", "gw-1"), code: otos.ESUBDEVICEFIELDS, field: "sub_device_addr"},
	{name: "fail/parent-unknown", req: plain("sub", "x-10", "parent", "nope", "addr", "0x04"), code: otos.EPARENTUNKNOWN},
	{name: "fail/parent-not-gateway", req: plain("sub", "x-11", "parent", "direct-1", "addr", "0x04"), code: otos.EPARENTUNKNOWN},
	{name: "fail/parent-disabled", req: plain("sub", "x-12", "parent", "gw-off", "addr", "0x04"), code: otos.EPARENTUNKNOWN},
	{name: "fail/parent-other-tenant", req: plain("sub", "x-13", "parent", "gw-other", "addr", "0x04"), code: otos.EPARENTUNKNOWN},
	{name: "fail/sub-addr-taken", req: plain("sub", "x-14", "parent", "gw-1", "addr", "0x01"), code: otos.ESUBADDRTAKEN, field: "sub_device_addr"},
	{name: "fail/cap-reached", req: plain("capped", "x-15"), code: otos.ECAPREACHED},
	{name: "fail/signed/plain-secret-to-signed-template", req: plain("signed", "x-16"), code: otos.EBADSIGNATURE, field: "sign"},
	{name: "fail/signed/unknown-template", req: func(f *regFixture) *otos.AuthRequest {
		r := f.signed("signed", "x-17", "nonce-x-17", 0, f.secret["signed"])
		r.TemplateID = "01900000-0000-7000-8000-000000000000"
		return r
	}, code: otos.ESECRETUNKNOWN},
	{name: "fail/signed/stale", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "x-18", "nonce-x-18", -6*time.Minute, f.secret["signed"])
	}, code: otos.ESTALE, field: "timestamp"},
	{name: "fail/signed/bad-signature", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "x-19", "nonce-x-19", 0, "not-the-secret")
	}, code: otos.EBADSIGNATURE, field: "sign"},
	{name: "fail/signed/replay", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "x-20", "nonce-x-20", 0, f.secret["signed"])
	}, code: otos.EREPLAY, field: "nonce", before: func(t *testing.T, f *regFixture) {
		f.mustRegister(t, f.signed("signed", "x-20a", "nonce-x-20", 0, f.secret["signed"]))
	}},

	// ThingsPanel's order: the first rule that fails decides.
	{name: "order/invalid-before-secret", req: plain("", ""), code: otos.EINVALID},
	{name: "order/secret-before-exists", req: plain("", "gw-1"), code: otos.ESECRETUNKNOWN},
	{name: "order/off-before-exists", req: plain("off", "direct-1"), code: otos.EREGISTRATIONOFF},
	{name: "order/allowlist-before-exists", req: plain("allow", "direct-1"), code: otos.ENOTALLOWED},
	{name: "order/rate-before-exists", req: plain("limited", "direct-1"), code: otos.ERATELIMITED,
		before: func(t *testing.T, f *regFixture) { f.mustRegister(t, plain("limited", "x-21")(f)) }},
	{name: "order/exists-before-product", req: plain("never", "never-1", "product_key", "nope"), code: otos.EDEVICEEXISTS},
	{name: "order/exists-before-sub-fields", req: plain("sub", "gw-1"), code: otos.EDEVICEEXISTS},
	{name: "order/exists-before-parent", req: plain("sub", "gw-1", "parent", "nope", "addr", "0x09"), code: otos.EDEVICEEXISTS},
	{name: "order/product-before-sub-fields", req: plain("sub", "x-22", "product_key", "nope"), code: otos.EPRODUCTUNKNOWN},
	{name: "order/sub-fields-before-parent", req: plain("sub", "x-23", "parent", "nope"), code: otos.ESUBDEVICEFIELDS},
	{name: "order/parent-before-addr-taken", req: plain("sub", "x-24", "parent", "direct-1", "addr", "0x01"), code: otos.EPARENTUNKNOWN},
	{name: "order/stale-before-signature", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "x-25", "nonce-x-25", 10*time.Minute, "not-the-secret")
	}, code: otos.ESTALE},
	{name: "order/signature-before-replay", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "x-26", "nonce-x-26", 0, "not-the-secret")
	}, code: otos.EBADSIGNATURE, before: func(t *testing.T, f *regFixture) {
		f.mustRegister(t, f.signed("signed", "x-26a", "nonce-x-26", 0, f.secret["signed"]))
	}},

	// The store fails: unavailable, too slow, or refusing the write.
	{name: "store/unavailable/secret", req: plain("direct", "x-27"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"TemplateBySecret": otos.Errorf(otos.EUNAVAILABLE, "database unreachable")}},
	{name: "store/unavailable/allowlist", req: plain("allow", "allowed-2"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"Allowed": otos.Errorf(otos.EUNAVAILABLE, "database unreachable")}},
	{name: "store/unavailable/product", req: plain("direct", "x-28", "product_key", "mine"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"ProductByKey": otos.Errorf(otos.EUNAVAILABLE, "database unreachable")}},
	{name: "store/unavailable/parent", req: plain("sub", "x-29", "parent", "gw-1", "addr", "0x05"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"DeviceByNumber": otos.Errorf(otos.EUNAVAILABLE, "database unreachable")}},
	{name: "store/unavailable/exists-check", req: plain("direct", "x-30", "product_key", "nope"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"DeviceByNumber": otos.Errorf(otos.EUNAVAILABLE, "database unreachable")}},
	{name: "store/unavailable/insert", req: plain("direct", "x-31"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"CreateDevice": otos.Errorf(otos.EUNAVAILABLE, "database unreachable")}},
	{name: "store/timeout/insert", req: plain("direct", "x-32"), code: otos.EUNAVAILABLE,
		fault: map[string]error{"CreateDevice": storetest.Hang}},
	{name: "store/timeout/nonce", req: func(f *regFixture) *otos.AuthRequest {
		return f.signed("signed", "x-33", "nonce-x-33", 0, f.secret["signed"])
	}, code: otos.EUNAVAILABLE, fault: map[string]error{"UseNonce": storetest.Hang}},
	{name: "store/internal/insert", req: plain("direct", "x-34"), code: otos.EINTERNAL,
		fault: map[string]error{"CreateDevice": errors.New("disk on fire")}},
	{name: "store/conflict/number-taken-then-gone", req: plain("direct", "x-35"), code: otos.EDEVICEEXISTS,
		fault: map[string]error{"CreateDevice": &otos.Error{Code: otos.ECONFLICT, Field: "device_number"}}},
	{name: "store/conflict/cap-at-insert", req: plain("direct", "x-36"), code: otos.ECAPREACHED,
		fault: map[string]error{"CreateDevice": &otos.Error{Code: otos.ECONFLICT, Field: "max_devices"}}},
	{name: "ok/hardware/recovery", req: plain("hw", "hw-1", "hardware_id", "chip-1"),
		before: func(t *testing.T, f *regFixture) { f.mustRegister(t, plain("hw", "hw-1", "hardware_id", "chip-1")(f)) }},
	{name: "fail/hardware/other", req: plain("hw", "hw-2", "hardware_id", "chip-x"), code: otos.EHARDWARE, field: "hardware_id",
		before: func(t *testing.T, f *regFixture) { f.mustRegister(t, plain("hw", "hw-2", "hardware_id", "chip-2")(f)) }},
	{name: "store/conflict/connected-while-reissued", req: plain("direct", "rep-2"), code: otos.EDEVICEEXISTS,
		fault: map[string]error{"ReissueCredential": &otos.Error{Code: otos.ECONFLICT}}},
}

// TestRegisterRules runs every rule of registration, in ThingsPanel's check
// order, with every code a registration can end in, where the rules live:
// the core, over the real SQLite store. Each attempt leaves an audit record
// with its code.
func TestRegisterRules(t *testing.T) {
	f := newRegFixture(t)
	covered := map[otos.Code]bool{}
	for _, c := range regCases {
		t.Run(c.name, func(t *testing.T) {
			iss, req, err := f.attempt(t, c)
			covered[c.code] = true
			if got := otos.ErrorCode(err); got != c.code || c.field != "" && otos.ErrorField(err) != c.field {
				t.Fatalf("got %v (code %q, field %q), want code %q field %q", err, got, otos.ErrorField(err), c.code, c.field)
			}
			if err == nil && (iss.Device.DeviceNumber != req.DeviceNumber || iss.Voucher.Username == "") {
				t.Fatalf("issued %+v for %s", iss, req.DeviceNumber)
			}
			if err != nil && iss != nil {
				t.Fatalf("a refusal issued %+v", iss)
			}
		})
	}
	// Every code a registration can end in has a case: all but those of
	// the admin API, and the lock-out's (TestRegisterLockout).
	// ENOTGRANTED is a gateway batch's (TestRegisterSubDevices).
	// EROTATED and EEXPIRED are a rotation's and a session's (TestRotation*, TestExpiry).
	adminOnly := map[otos.Code]bool{otos.EUNAUTHORIZED: true, otos.EFORBIDDEN: true, otos.ENOTFOUND: true,
		otos.ECONFLICT: true, otos.ELOCKEDOUT: true, otos.ENOTGRANTED: true, otos.EROTATED: true, otos.EEXPIRED: true}
	for _, c := range otos.Codes() {
		if !adminOnly[c] && !covered[c] {
			t.Errorf("no case ends in %s (%d)", c, c.Number())
		}
	}
	f.s.FlushAudit(context.Background())
	rs, _, err := f.store.Audit(context.Background(), otos.AuditFilter{Page: otos.Page{Limit: otos.MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[int]int{}
	for _, r := range rs {
		if r.Kind == otos.AuditRegistration {
			audited[r.Code] += r.Count
		}
	}
	for c := range covered {
		code := otos.CodeOK
		if c != "" {
			code = c.Number()
		}
		if audited[code] == 0 {
			t.Errorf("no attempt with code %d was audited", code)
		}
	}
}

// TestRegisterReissues: a voucher re-issued to a device that may register
// again voids the old one, and a device reset under reregistration never
// registers again once, and then no more.
func TestRegisterReissues(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t)
	first := f.mustRegister(t, plain("direct", "re-1")(f))
	second := f.mustRegister(t, plain("direct", "re-1")(f))
	if !second.Reissued || second.Device.ID != first.Device.ID || second.Voucher == first.Voucher {
		t.Fatalf("repeat of a never-connected device: %+v after %+v", second, first)
	}
	if _, err := f.s.Sessions.Authenticate(ctx, device, string(first.Voucher.Username), string(first.Voucher.Password)); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Errorf("the voided voucher: %v, want EUNAUTHORIZED", err)
	}
	if _, err := f.s.Sessions.Authenticate(ctx, device, string(second.Voucher.Username), string(second.Voucher.Password)); err != nil {
		t.Errorf("the new voucher: %v", err)
	}
	f.now = f.now.Add(time.Minute)
	f.mustRegister(t, plain("never", "never-reset")(f))
	if _, err := register(ctx, f.s, device, plain("never", "never-reset")(f)); otos.ErrorCode(err) != otos.EDEVICEEXISTS {
		t.Errorf("second registration after a reset under never: %v, want EDEVICEEXISTS", err)
	}
}

// caseNamed returns the case of regCases with this name.
func caseNamed(t *testing.T, name string) regCase {
	t.Helper()
	for _, c := range regCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return regCase{}
}

// attempt runs case c once, at the fixture's clock moved a minute on, past
// every view, so that each attempt reads the store; it returns what was
// issued and the request the adapter handed over.
func (f *regFixture) attempt(t *testing.T, c regCase) (*otos.Issued, *otos.AuthRequest, error) {
	t.Helper()
	f.now = f.now.Add(time.Minute)
	if c.before != nil {
		c.before(t, f)
	}
	for m, err := range c.fault {
		f.store.Fail(m, err)
	}
	defer f.store.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var req *otos.AuthRequest
	iss, err := f.s.Registrar.Register(ctx, device, func() (*otos.AuthRequest, error) {
		if c.decode != nil {
			return nil, c.decode
		}
		req = c.req(f)
		return req, nil
	})
	return iss, req, err
}

// TestRegisterLockout: failed secrets and signatures lock the client out,
// and then the core refuses it before reading its request; nothing else
// counts. The lock-out is the core's, so every protocol gets it.
func TestRegisterLockout(t *testing.T) {
	for _, name := range []string{
		"fail/secret-unknown", "fail/signed/plain-secret-to-signed-template", "fail/signed/stale",
		"fail/signed/bad-signature", "fail/signed/replay", // these count
		"ok/new", "ok/signed", "fail/decode/malformed", "fail/invalid/missing-number", "fail/registration-off",
		"fail/template-rate", "fail/exists/never", "store/unavailable/insert", "store/internal/insert",
	} {
		c := caseNamed(t, name)
		t.Run(name, func(t *testing.T) {
			f := newRegFixture(t)
			f.s = provision.New(provision.Config{Store: f.store, Keys: newKeys(t), Now: func() time.Time { return f.now },
				Lockout: limit.NewLockout(limit.LockoutConfig{Threshold: 3, Window: time.Hour, Duration: time.Hour})})
			for i := range 3 {
				if _, _, err := f.attempt(t, c); otos.ErrorCode(err) != c.code {
					t.Fatalf("attempt %d: %v, want %q", i+1, err, c.code)
				}
			}
			decoded := false
			_, err := f.s.Registrar.Register(context.Background(), device, func() (*otos.AuthRequest, error) {
				decoded = true
				return plain("direct", "after-1")(f), nil
			})
			locked := otos.ErrorCode(err) == otos.ELOCKEDOUT
			if locked != c.code.CountsTowardLockout() || locked && decoded {
				t.Fatalf("after 3 × %s: %v (request read: %v); want locked out: %v", name, err, decoded, c.code.CountsTowardLockout())
			}
			if locked && otos.AsError(err).RetryAfter <= 0 {
				t.Errorf("the lock-out carries no wait: %+v", err)
			}
			other := otos.Client{Addr: "192.0.2.99", Key: "192.0.2.99"}
			if _, err := register(context.Background(), f.s, other, plain("direct", "other-1")(f)); err != nil {
				t.Errorf("another client: %v", err)
			}
		})
	}
}
