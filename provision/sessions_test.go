package provision_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/storetest"
)

// TestVoucherCache: a hot device costs no store read per CONNECT, and every
// change that voids or blocks its voucher is seen at the next CONNECT.
func TestVoucherCache(t *testing.T) {
	ctx := context.Background()
	store := storetest.NewFaults(newStore(t))
	var revoked []string
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t), Revoked: func(id string) { revoked = append(revoked, id) }})

	tpl := &otos.Template{Name: "t", DeviceType: otos.DeviceDirect}
	secret, err := s.Admin.CreateTemplate(ctx, sys, tpl)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "hot-1"})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := string(reg.Voucher.Username), string(reg.Voucher.Password)
	connect := func() error {
		t.Helper()
		sess, err := s.Sessions.Authenticate(ctx, device, user, pass)
		if err == nil {
			err = s.Sessions.Connected(ctx, sess)
		}
		return err
	}

	for range 5 {
		if err := connect(); err != nil {
			t.Fatal(err)
		}
	}
	// The node that registered the device cached its voucher.
	if n := store.Calls("DeviceByCredential"); n != 0 {
		t.Fatalf("5 CONNECTs after the registration read the store %d times, want 0", n)
	}
	if _, err := s.Sessions.Authenticate(ctx, device, user, pass+"x"); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Errorf("wrong password from the cache: %v", err)
	}

	if _, err := s.Admin.SetDeviceStatus(ctx, sys, reg.Device.ID, otos.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if err := connect(); otos.ErrorCode(err) != otos.EFORBIDDEN {
		t.Errorf("disabled device: %v, want EFORBIDDEN", err)
	}
	if _, err := s.Admin.SetDeviceStatus(ctx, sys, reg.Device.ID, otos.StatusEnabled); err != nil {
		t.Fatal(err)
	}
	if err := connect(); err != nil {
		t.Errorf("enabled again: %v", err)
	}
	if n := store.Calls("DeviceByCredential"); n == 0 {
		t.Error("CONNECTs after a change of the device never read the store")
	}
	if _, err := s.Admin.ResetDevice(ctx, sys, reg.Device.ID); err != nil {
		t.Fatal(err)
	}
	if err := connect(); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Errorf("reset device: %v, want EUNAUTHORIZED", err)
	}
	if len(revoked) != 2 || revoked[0] != reg.Device.ID {
		t.Errorf("sessions dropped for %v, want the device on disable and reset", revoked)
	}
}

// TestUnknownUsernameFlood: the same unknown username again and again (a
// device whose voucher was voided, retrying from many addresses) reads
// the store once, not once per CONNECT.
func TestUnknownUsernameFlood(t *testing.T) {
	ctx := context.Background()
	store := storetest.NewFaults(newStore(t))
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t)})
	for i := range 100 {
		addr := fmt.Sprintf("198.51.100.%d", i)
		from := otos.Client{Addr: addr, Key: addr}
		if _, err := s.Sessions.Authenticate(ctx, from, "0190a1b2-0000-7000-8000-000000000000", "x"); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
			t.Fatalf("unknown username: %v", err)
		}
	}
	if n := store.Calls("DeviceByCredential"); n != 1 {
		t.Errorf("100 CONNECTs with one unknown username read the store %d times, want 1", n)
	}
	// And a wrong template secret, likewise.
	for range 100 {
		if _, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: "wrong", DeviceNumber: "d"}); otos.ErrorCode(err) != otos.ESECRETUNKNOWN {
			t.Fatalf("wrong secret: %v", err)
		}
	}
	if n := store.Calls("TemplateBySecret"); n != 1 {
		t.Errorf("100 wrong secrets read the store %d times, want 1", n)
	}
}

// TestSessionLockout: wrong passwords and unknown usernames lock the
// client's address out of the broker, which then refuses even a good
// voucher without reading the store; and the lock-out is the same one that
// registrations answer to.
func TestSessionLockout(t *testing.T) {
	ctx := context.Background()
	store := storetest.NewFaults(newStore(t))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t), Now: func() time.Time { return now },
		Lockout: limit.NewLockout(limit.LockoutConfig{Threshold: 3, Window: time.Minute, Duration: 5 * time.Minute})})
	secret := createTemplate(t, s, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	iss, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "lock-1"})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := string(iss.Voucher.Username), string(iss.Voucher.Password)
	attacker := otos.Client{Addr: "203.0.113.5", Key: "203.0.113.5"}
	for _, c := range []struct{ user, pass string }{{user, "wrong"}, {"0190a1b2-0000-7000-8000-000000000001", ""}, {otos.ServiceUsernamePrefix + "x", "y"}} {
		if _, err := s.Sessions.Authenticate(ctx, attacker, c.user, c.pass); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
			t.Fatalf("%s: %v", c.user, err)
		}
	}
	reads := store.Calls("DeviceByCredential") + store.Calls("TokenByHash")
	_, err = s.Sessions.Authenticate(ctx, attacker, user, pass)
	if otos.ErrorCode(err) != otos.ELOCKEDOUT {
		t.Fatalf("the good voucher from a locked-out address: %v, want ELOCKEDOUT", err)
	}
	if n := store.Calls("DeviceByCredential") + store.Calls("TokenByHash"); n != reads {
		t.Errorf("a locked-out CONNECT read the store (%d reads, %d before)", n, reads)
	}
	if _, err := register(ctx, s, attacker, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "lock-2"}); otos.ErrorCode(err) != otos.ELOCKEDOUT {
		t.Errorf("a registration from the locked-out address: %v, want ELOCKEDOUT", err)
	}
	if _, err := s.Sessions.Authenticate(ctx, device, user, pass); err != nil {
		t.Errorf("the voucher from its own address: %v", err)
	}
	// A disabled device is no guess: it never locks its address out.
	if _, err := s.Admin.SetDeviceStatus(ctx, sys, iss.Device.ID, otos.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := s.Sessions.Authenticate(ctx, device, user, pass); otos.ErrorCode(err) != otos.EFORBIDDEN {
			t.Fatalf("disabled device: %v, want EFORBIDDEN", err)
		}
	}
	now = now.Add(5 * time.Minute)
	if _, err := s.Sessions.Authenticate(ctx, attacker, user, "wrong"); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Errorf("after the cool-down: %v, want EUNAUTHORIZED again", err)
	}
}

// TestAuthorizeServiceAccount: a service account publishes downlinks only
// to its own tenant's devices and subscribes only to its tenant's consumer
// topics; a device keeps to its own topics.
func TestAuthorizeServiceAccount(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	other, err := s.Admin.CreateTenant(ctx, sys, "other")
	if err != nil {
		t.Fatal(err)
	}
	mine := createTemplate(t, s, &otos.Template{Name: "mine", DeviceType: otos.DeviceDirect})
	theirs := createTemplate(t, s, &otos.Template{Name: "theirs", DeviceType: otos.DeviceDirect, TenantID: other.ID})
	for secret, number := range map[otos.Secret]string{mine: "AA01", theirs: "BB02"} {
		if _, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: number}); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := s.Admin.CreateServiceAccount(ctx, sys, "", "backend")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Sessions.Authenticate(ctx, device, acct.Username, acct.Password)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic   string
		publish bool
		want    bool
	}{
		{"devices/command/AA01/1", true, true},
		{"devices/command/BB02/1", true, false},
		{"devices/command/CC03/1", true, false},
		{"devices/telemetry", true, false},
		{"otos/" + otos.DefaultTenantID + "/#", false, true},
		{"otos/" + other.ID + "/#", false, false},
	} {
		if got := s.Sessions.Authorize(ctx, sess, c.topic, c.publish); got != c.want {
			t.Errorf("service account, %s (publish %v): %v, want %v", c.topic, c.publish, got, c.want)
		}
	}
}

// recorder is a Notifier that keeps what it is asked to publish.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Publish(_ context.Context, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *recorder) Subscribe(func(string)) {}

func (r *recorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.msgs, msg)
}

// TestChangesTellTheOtherNodes: each kind of change drops its views and
// tells the other nodes with one message; a node that receives one drops
// the same views, so that a registration there sees the change at once,
// without waiting for a view to expire.
func TestChangesTellTheOtherNodes(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sent := &recorder{}
	var dropped []string
	a := provision.New(provision.Config{Store: store, Keys: newKeys(t), Now: clock, Notifier: sent})
	b := provision.New(provision.Config{Store: store, Keys: newKeys(t), Now: clock, Notifier: &recorder{},
		Revoked: func(id string) { dropped = append(dropped, id) }})
	tpl := &otos.Template{Name: "t", DeviceType: otos.DeviceDirect}
	secret := createTemplate(t, a, tpl)
	iss, err := register(ctx, b, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "n-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Node b holds the template in its views; node a switches registration off.
	off := otos.RegistrationOff
	if _, err := a.Admin.UpdateTemplate(ctx, sys, tpl.ID, otos.TemplateUpdate{Registration: &off}); err != nil {
		t.Fatal(err)
	}
	msg := "template " + tpl.ID
	waitFor(t, func() bool { return sent.has(msg) })
	b.Receive(msg)
	if _, err := register(ctx, b, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "n-2"}); otos.ErrorCode(err) != otos.EREGISTRATIONOFF {
		t.Errorf("node b after the message: %v, want EREGISTRATIONOFF", err)
	}
	if _, err := a.Admin.SetDeviceStatus(ctx, sys, iss.Device.ID, otos.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sent.has("drop " + iss.Device.ID) })
	b.Receive("drop " + iss.Device.ID)
	if len(dropped) != 1 || dropped[0] != iss.Device.ID {
		t.Errorf("node b dropped sessions of %v, want the disabled device", dropped)
	}
	if _, err := a.Admin.SetDeviceStatus(ctx, sys, iss.Device.ID, otos.StatusEnabled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sent.has("forget " + iss.Device.ID) })
}

// waitFor waits up to a second for cond: messages are sent in the background.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within a second")
		}
	}
}

// TestLostMessagesFlushEveryView: "" from the Notifier (messages may have
// been lost) drops every view, so a change made behind the node's back is
// seen at once, and the live sessions are checked against the store.
func TestLostMessagesFlushEveryView(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dropped := make(chan string, 1)
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t), Now: func() time.Time { return now },
		Revoked: func(id string) { dropped <- id }})
	tpl := &otos.Template{Name: "t", DeviceType: otos.DeviceDirect}
	secret := createTemplate(t, s, tpl)
	iss, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "lost-1"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Sessions.Authenticate(ctx, device, string(iss.Voucher.Username), string(iss.Voucher.Password))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sessions.Connected(ctx, sess); err != nil {
		t.Fatal(err)
	}
	// Another node's changes, whose messages never arrived.
	tpl.Registration = otos.RegistrationOff
	if err := store.UpdateTemplate(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetDeviceStatus(ctx, iss.Device.ID, otos.StatusDisabled, now); err != nil {
		t.Fatal(err)
	}
	s.Receive("")
	if _, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "lost-2"}); otos.ErrorCode(err) != otos.EREGISTRATIONOFF {
		t.Errorf("registration after the flush: %v, want EREGISTRATIONOFF", err)
	}
	select {
	case id := <-dropped:
		if id != iss.Device.ID {
			t.Errorf("dropped %s, want %s", id, iss.Device.ID)
		}
	case <-time.After(5 * time.Second):
		t.Error("the disabled device's session was not dropped after the flush")
	}
}
