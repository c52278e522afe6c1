package provision_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// countingStore is the real store, counting voucher look-ups.
type countingStore struct {
	otos.Store
	lookups atomic.Int64
}

func (c *countingStore) DeviceByCredential(ctx context.Context, lookup []byte) (*otos.Device, error) {
	c.lookups.Add(1)
	return c.Store.DeviceByCredential(ctx, lookup)
}

// TestVoucherCache: a hot device costs no store read per CONNECT, and every
// change that voids or blocks its voucher is seen at the next CONNECT.
func TestVoucherCache(t *testing.T) {
	ctx := context.Background()
	_, real := newService(t)
	store := &countingStore{Store: real}
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
	if n := store.lookups.Load(); n != 0 {
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
	if n := store.lookups.Load(); n == 0 {
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
