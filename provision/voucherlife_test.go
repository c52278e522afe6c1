package provision_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// clock is a settable clock for the core.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lifeRig is a core on SQLite with an injected clock that records which
// session keys it revoked and which sessions it asked to rotate.
type lifeRig struct {
	t       *testing.T
	s       *provision.Service
	store   otos.Store
	clock   *clock
	mu      sync.Mutex
	revoked []string
	asked   []*otos.Session
}

func newLifeRig(t *testing.T) *lifeRig {
	r := &lifeRig{t: t, store: newStore(t), clock: &clock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}}
	r.s = provision.New(provision.Config{Store: r.store, Keys: newKeys(t), Now: r.clock.Now,
		Revoked:           func(id string) { r.mu.Lock(); r.revoked = append(r.revoked, id); r.mu.Unlock() },
		RotationRequested: func(s *otos.Session) { r.mu.Lock(); r.asked = append(r.asked, s); r.mu.Unlock() }})
	return r
}

func (r *lifeRig) wasRevoked(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.revoked, key)
}

// connect authenticates and connects with v, as a broker would.
func (r *lifeRig) connect(v otos.Voucher) (*otos.Session, error) {
	ctx := context.Background()
	sess, err := r.s.Sessions.Authenticate(ctx, device, string(v.Username), string(v.Password))
	if err != nil {
		return nil, err
	}
	return sess, r.s.Sessions.Connected(ctx, sess)
}

func (r *lifeRig) mustConnect(v otos.Voucher) *otos.Session {
	r.t.Helper()
	sess, err := r.connect(v)
	if err != nil {
		r.t.Fatalf("connect: %v", err)
	}
	return sess
}

func (r *lifeRig) rotate(v otos.Voucher) (*otos.Issued, error) {
	ctx := context.Background()
	sess, err := r.s.Sessions.Authenticate(ctx, device, string(v.Username), string(v.Password))
	if err != nil {
		return nil, err
	}
	return r.s.Registrar.Rotate(ctx, sess)
}

func (r *lifeRig) mustRotate(v otos.Voucher) *otos.Issued {
	r.t.Helper()
	iss, err := r.rotate(v)
	if err != nil {
		r.t.Fatalf("rotate: %v", err)
	}
	return iss
}

func wantErr(t *testing.T, err error, code otos.Code) {
	t.Helper()
	if otos.ErrorCode(err) != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

// TestRotation: the old voucher works through the overlap until the new
// one is first used; then it is refused and its sessions are closed.
func TestRotation(t *testing.T) {
	r := newLifeRig(t)
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect, RotationOverlap: 3600})
	reg, err := register(context.Background(), r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rot-1"})
	if err != nil {
		t.Fatal(err)
	}
	old := reg.Voucher
	oldSess := r.mustConnect(old)

	iss := r.mustRotate(old)
	if iss.Voucher.Username == old.Username || iss.Device.PreviousUntil == nil ||
		!iss.Device.PreviousUntil.Equal(r.clock.Now().Add(time.Hour)) {
		t.Fatalf("rotation issued %v, previous until %v", iss.Voucher.Username, iss.Device.PreviousUntil)
	}
	// Inside the overlap both vouchers connect; the old one's session is
	// marked as such and ends with the overlap.
	r.clock.add(10 * time.Minute)
	again := r.mustConnect(old)
	if !again.Previous || again.Until == nil {
		t.Fatalf("old voucher's session: previous %v until %v", again.Previous, again.Until)
	}
	if r.wasRevoked(oldSess.VoucherKey()) {
		t.Fatal("old voucher's sessions closed before the new one was used")
	}
	// The new voucher's first use ends the overlap.
	r.mustConnect(iss.Voucher)
	if !r.wasRevoked(oldSess.VoucherKey()) {
		t.Fatal("old voucher's sessions not closed when the new one connected")
	}
	if _, err := r.connect(old); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Fatalf("old voucher after the new one was used: %v, want unauthorized", err)
	}
	r.mustConnect(iss.Voucher) // and the new one keeps working
}

// TestRotationOverlapEnds: unused, the new voucher leaves the old one
// working until the overlap ends; then the old one is refused and its live
// session closed.
func TestRotationOverlapEnds(t *testing.T) {
	r := newLifeRig(t)
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect, RotationOverlap: 600})
	reg, err := register(context.Background(), r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rot-2"})
	if err != nil {
		t.Fatal(err)
	}
	r.mustConnect(reg.Voucher)
	iss := r.mustRotate(reg.Voucher)
	r.s.Sessions.Disconnected(&otos.Session{DeviceID: reg.Device.ID})
	sess := r.mustConnect(reg.Voucher) // the device has not switched yet
	r.clock.add(599 * time.Second)
	if n := r.s.Sessions.Expire(); n != 0 {
		t.Fatalf("%d sessions closed before the overlap ended", n)
	}
	r.mustConnect(reg.Voucher)
	r.clock.add(time.Second)
	if n := r.s.Sessions.Expire(); n != 1 || !r.wasRevoked(sess.VoucherKey()) {
		t.Fatalf("at the overlap's end %d sessions closed (revoked %v), want the old voucher's", n, r.revoked)
	}
	if _, err := r.connect(reg.Voucher); otos.ErrorCode(err) != otos.EEXPIRED && otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Fatalf("old voucher after the overlap: %v", err)
	}
	// The old voucher cannot rotate either; the new one can.
	if _, err := r.rotate(reg.Voucher); err == nil {
		t.Fatal("old voucher rotated after its overlap")
	}
	r.mustRotate(iss.Voucher)
}

// TestRotationRace: two rotations with one voucher give one winner; a
// device that lost the answer gets a voucher by retrying after the gap.
func TestRotationRace(t *testing.T) {
	r := newLifeRig(t)
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect})
	reg, err := register(context.Background(), r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rot-3"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = r.rotate(reg.Voucher) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch otos.ErrorCode(err) {
		case "":
			won++
		case otos.EROTATED:
			if otos.AsError(err).RetryAfter != otos.RotationRetryGap {
				t.Errorf("the loser is told to retry after %v", otos.AsError(err).RetryAfter)
			}
		default:
			t.Fatalf("racing rotation: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 2 racing rotations won (%v), want 1", won, errs)
	}
	r.clock.add(otos.RotationRetryGap)
	retry := r.mustRotate(reg.Voucher) // the answer was lost
	r.mustConnect(retry.Voucher)
}

// TestExpiry: a template's lifetime ends its vouchers; an expired one is
// refused, a live session closed, and rotation renews.
func TestExpiry(t *testing.T) {
	r := newLifeRig(t)
	secret := createTemplate(t, r.s, &otos.Template{Name: "exp", DeviceType: otos.DeviceDirect, VoucherLifetime: 3600})
	reg, err := register(context.Background(), r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "exp-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := r.clock.Now().Add(time.Hour); reg.Device.VoucherExpiresAt == nil || !reg.Device.VoucherExpiresAt.Equal(want) {
		t.Fatalf("expires at %v, want %v", reg.Device.VoucherExpiresAt, want)
	}
	sess := r.mustConnect(reg.Voucher)
	r.clock.add(40 * time.Minute)
	renewed := r.mustRotate(reg.Voucher)
	if want := r.clock.Now().Add(time.Hour); !renewed.Device.VoucherExpiresAt.Equal(want) {
		t.Fatalf("renewed voucher expires at %v, want %v", renewed.Device.VoucherExpiresAt, want)
	}
	// The old voucher's overlap never outlives its own expiry.
	if !renewed.Device.PreviousUntil.Equal(*reg.Device.VoucherExpiresAt) {
		t.Fatalf("old voucher valid until %v, past its expiry %v", renewed.Device.PreviousUntil, reg.Device.VoucherExpiresAt)
	}
	r.clock.add(20 * time.Minute)
	if n := r.s.Sessions.Expire(); n != 1 || !r.wasRevoked(sess.VoucherKey()) {
		t.Fatalf("at expiry %d sessions closed", n)
	}
	r.clock.add(61 * time.Minute)
	_, err = r.connect(renewed.Voucher)
	wantErr(t, err, otos.EEXPIRED)
	_, err = r.rotate(renewed.Voucher)
	wantErr(t, err, otos.EEXPIRED)
	recs, _, err := r.s.Admin.AuditRecords(context.Background(), sys, otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(a *otos.AuditRecord) bool {
		return a.Kind == otos.AuditSession && a.Code == otos.EEXPIRED.Number() && a.DeviceNumber == "exp-1"
	}) {
		t.Fatal("the expired CONNECT is not audited")
	}
}

// TestForcedRotation: an operator's request reaches live sessions of the
// scope, shows at the next connect, and with a deadline expires the voucher.
func TestForcedRotation(t *testing.T) {
	r := newLifeRig(t)
	ctx := context.Background()
	tpl := &otos.Template{Name: "force", DeviceType: otos.DeviceDirect}
	secret := createTemplate(t, r.s, tpl)
	other := createTemplate(t, r.s, &otos.Template{Name: "other", DeviceType: otos.DeviceDirect})
	a, _ := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "force-a"})
	b, _ := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: other, DeviceNumber: "force-b"})
	r.mustConnect(a.Voucher)
	r.mustConnect(b.Voucher)
	deadline := r.clock.Now().Add(time.Hour)
	n, err := r.s.Admin.RequestRotation(ctx, sys, otos.RotationScope{TemplateID: tpl.ID}, &deadline)
	if err != nil || n != 1 {
		t.Fatalf("RequestRotation = %d, %v; want 1 device", n, err)
	}
	if len(r.asked) != 1 || r.asked[0].DeviceID != a.Device.ID || !r.asked[0].Until.Equal(deadline) {
		t.Fatalf("live sessions asked to rotate: %+v", r.asked)
	}
	sess := r.mustConnect(a.Voucher)
	if !sess.RotationRequested {
		t.Fatal("the next connect does not say a rotation is requested")
	}
	_, err = r.s.Admin.RequestRotation(ctx, sys, otos.RotationScope{}, nil)
	wantErr(t, err, otos.EINVALID)
	// A deadline given as a duration is counted from the service's clock.
	n, at, err := r.s.Admin.RequestRotationWithin(ctx, sys, otos.RotationScope{DeviceID: a.Device.ID}, 36*time.Hour)
	if err != nil || n != 1 || !at.Equal(r.clock.Now().Add(36*time.Hour)) {
		t.Fatalf("RequestRotationWithin(36h) = %d, %v, %v; want 1 device by the clock's now + 36h (%v)", n, at, err, r.clock.Now().Add(36*time.Hour))
	}
	past := r.clock.Now()
	_, err = r.s.Admin.RequestRotation(ctx, sys, otos.RotationScope{TemplateID: tpl.ID}, &past)
	wantErr(t, err, otos.EINVALID)
	tenant := &otos.Principal{Role: otos.RoleAdmin, Scope: "00000000-0000-7000-8000-000000000001"}
	_, err = r.s.Admin.RequestRotation(ctx, tenant, otos.RotationScope{DeviceID: a.Device.ID}, nil)
	wantErr(t, err, otos.ENOTFOUND) // another tenant's device

	iss := r.mustRotate(a.Voucher)
	if iss.Device.RotationRequestedAt != nil {
		t.Fatal("rotation did not clear the request")
	}
	r.clock.add(2 * time.Hour)
	r.mustConnect(iss.Voucher) // the deadline was the old voucher's
}

// TestHardwareRecovery: under the hardware policy, a factory-reset device
// gets a fresh voucher with its hardware identity, even after connecting;
// other hardware is refused as a clone; an enrolled key must sign.
func TestHardwareRecovery(t *testing.T) {
	r := newLifeRig(t)
	ctx := context.Background()
	secret := createTemplate(t, r.s, &otos.Template{Name: "hw", DeviceType: otos.DeviceDirect, Reregistration: otos.ReregHardware})
	pub, priv, _ := ed25519.GenerateKey(nil)
	first := &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hw-1", HardwareID: "chip-0001",
		HardwareKey: base64.StdEncoding.EncodeToString(pub)}
	reg, err := register(ctx, r.s, device, first)
	if err != nil {
		t.Fatal(err)
	}
	r.mustConnect(reg.Voucher)

	signed := func(hwID string, key ed25519.PrivateKey, nonce string) *otos.AuthRequest {
		req := &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hw-1", HardwareID: hwID,
			Timestamp: strconv.FormatInt(r.clock.Now().UnixMilli(), 10), Nonce: nonce}
		req.HardwareSign = base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(req.SigningString())))
		return req
	}
	// No signature, a wrong key's, then another chip: refused.
	_, err = register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hw-1", HardwareID: "chip-0001"})
	wantErr(t, err, otos.EBADSIGNATURE)
	_, wrong, _ := ed25519.GenerateKey(nil)
	_, err = register(ctx, r.s, device, signed("chip-0001", wrong, "nonce-0000000001"))
	wantErr(t, err, otos.EBADSIGNATURE)
	_, err = register(ctx, r.s, device, signed("chip-9999", priv, "nonce-0000000002"))
	wantErr(t, err, otos.EHARDWARE)
	_, err = register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hw-1"})
	wantErr(t, err, otos.EHARDWARE)
	r.mustConnect(reg.Voucher) // none of it touched the device's voucher

	rec, err := register(ctx, r.s, device, signed("chip-0001", priv, "nonce-0000000003"))
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	if !r.wasRevoked(reg.Device.ID) {
		t.Fatal("the old voucher's sessions were not closed")
	}
	if _, err := r.connect(reg.Voucher); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Fatalf("old voucher after recovery: %v", err)
	}
	r.mustConnect(rec.Voucher)
	_, err = register(ctx, r.s, device, signed("chip-0001", priv, "nonce-0000000003"))
	wantErr(t, err, otos.EREPLAY)

	evs, err := r.store.Events(ctx, otos.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e *otos.Event) bool { return e.Type == otos.EventHardwareMismatch }) {
		t.Fatal("no device.hardware_mismatch event for the clone")
	}

	// Unbound by an operator and reset, the number registers on new hardware.
	if _, err := r.s.Admin.UnbindHardware(ctx, sys, reg.Device.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Admin.ResetDevice(ctx, sys, reg.Device.ID); err != nil {
		t.Fatal(err)
	}
	swap, err := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hw-1", HardwareID: "chip-0002"})
	if err != nil {
		t.Fatalf("registration on the new board: %v", err)
	}
	r.mustConnect(swap.Voucher)
	_, err = register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hw-1", HardwareID: "chip-0001"})
	wantErr(t, err, otos.EHARDWARE)
}

// Regressions of a review of the voucher life, one per finding.

// TestRotationSessionEndsWithOverlap: a session opened with a voucher
// before it rotated is closed when the overlap ends, though the new voucher
// was never used and no revalidation runs (one node).
func TestRotationSessionEndsWithOverlap(t *testing.T) {
	r := newLifeRig(t)
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect, RotationOverlap: 600})
	reg, err := register(context.Background(), r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rev-1"})
	if err != nil {
		t.Fatal(err)
	}
	sess := r.mustConnect(reg.Voucher)
	r.mustRotate(reg.Voucher)
	r.clock.add(599 * time.Second)
	r.s.Sessions.Expire()
	if r.wasRevoked(sess.VoucherKey()) {
		t.Fatal("closed before the overlap ended")
	}
	r.clock.add(2 * time.Second)
	r.s.Sessions.Expire()
	if !r.wasRevoked(sess.VoucherKey()) {
		t.Fatal("the old voucher's session outlived its overlap")
	}
	_, err = r.connect(reg.Voucher)
	wantErr(t, err, otos.EEXPIRED) // said as such, not as an unknown voucher
}

// TestDoubleRotationVoidsFirst: rotating twice before reconnecting voids the
// first voucher at the second rotation, and closes its sessions.
func TestDoubleRotationVoidsFirst(t *testing.T) {
	r := newLifeRig(t)
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect, RotationOverlap: 600})
	reg, _ := register(context.Background(), r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rev-2"})
	v1 := r.mustConnect(reg.Voucher)
	a := r.mustRotate(reg.Voucher)
	r.mustRotate(a.Voucher)
	if !r.wasRevoked(v1.VoucherKey()) {
		t.Fatal("the first voucher's sessions were not closed by the second rotation")
	}
	if _, err := r.connect(reg.Voucher); err == nil {
		t.Fatal("the first voucher connects after two rotations")
	}
}

// TestDeadlineEndsPrevious: a forced rotation's deadline ends the previous
// voucher's overlap too, and it cannot mint a voucher after it.
func TestDeadlineEndsPrevious(t *testing.T) {
	r := newLifeRig(t)
	ctx := context.Background()
	tpl := &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect, RotationOverlap: 7 * 24 * 3600}
	secret := createTemplate(t, r.s, tpl)
	reg, _ := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rev-3"})
	old := r.mustConnect(reg.Voucher)
	r.mustRotate(reg.Voucher) // the new one unused
	dl := r.clock.Now().Add(time.Hour)
	if _, err := r.s.Admin.RequestRotation(ctx, sys, otos.RotationScope{DeviceID: reg.Device.ID}, &dl); err != nil {
		t.Fatal(err)
	}
	r.clock.add(2 * time.Hour)
	r.s.Sessions.Expire()
	if !r.wasRevoked(old.VoucherKey()) {
		t.Fatal("the previous voucher's session outlived the deadline")
	}
	if _, err := r.connect(reg.Voucher); err == nil {
		t.Fatal("the previous voucher connects past the deadline")
	}
	if _, err := r.rotate(reg.Voucher); err == nil {
		t.Fatal("the previous voucher rotated past the deadline")
	}
}

// TestRotateDisableRace: a disable that lands between a rotation's write
// and its view update wins: the new voucher is refused.
func TestRotateDisableRace(t *testing.T) {
	r := newLifeRig(t)
	ctx := context.Background()
	store := &disableAfterRotate{Store: r.store}
	r.s = provision.New(provision.Config{Store: store, Keys: newKeys(t), Now: r.clock.Now})
	store.admin = r.s.Admin
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect})
	reg, _ := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rev-4"})
	r.mustConnect(reg.Voucher)
	iss := r.mustRotate(reg.Voucher)
	_, err := r.connect(iss.Voucher)
	wantErr(t, err, otos.EFORBIDDEN)
}

// disableAfterRotate disables the device right after each rotation's write.
type disableAfterRotate struct {
	otos.Store
	admin otos.Admin
}

func (d *disableAfterRotate) RotateCredential(ctx context.Context, id string, r otos.Rotation, now time.Time, events ...*otos.Event) (*otos.Device, error) {
	dev, err := d.Store.RotateCredential(ctx, id, r, now, events...)
	if err == nil {
		_, err = d.admin.SetDeviceStatus(ctx, sys, id, otos.StatusDisabled)
	}
	return dev, err
}

// TestPreviousConnectClosesRegistration: a device that rotates before it
// first connects, then connects with the old voucher, is connected: a
// repeat registration no longer voids its voucher.
func TestPreviousConnectClosesRegistration(t *testing.T) {
	r := newLifeRig(t)
	ctx := context.Background()
	secret := createTemplate(t, r.s, &otos.Template{Name: "rot", DeviceType: otos.DeviceDirect})
	reg, _ := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rev-5"})
	r.mustRotate(reg.Voucher)
	r.mustConnect(reg.Voucher)
	_, err := register(ctx, r.s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "rev-5"})
	wantErr(t, err, otos.EDEVICEEXISTS)
}
