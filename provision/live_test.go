package provision_test

import (
	"context"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// TestRevalidateDropsWhatALostMessageWouldHave: a device disabled behind this
// node's back (on another node, whose message was lost) has its session
// dropped when the node revalidates; a valid one keeps its session.
func TestRevalidateDropsWhatALostMessageWouldHave(t *testing.T) {
	ctx := context.Background()
	_, store := newService(t)
	var dropped []string
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t), Revoked: func(id string) { dropped = append(dropped, id) }})
	secret, err := s.Admin.CreateTemplate(ctx, sys, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, number := range []string{"live-ok", "live-off"} {
		reg, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: number})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := s.Sessions.Authenticate(ctx, device, string(reg.Voucher.Username), string(reg.Voucher.Password))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Sessions.Connected(ctx, sess); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, reg.Device.ID)
	}
	// Another node disables the second device: only the store knows.
	if _, err := store.SetDeviceStatus(ctx, ids[1], otos.StatusDisabled, testNow()); err != nil {
		t.Fatal(err)
	}
	s.Sessions.Revalidate(ctx)
	if len(dropped) != 1 || dropped[0] != ids[1] {
		t.Fatalf("dropped %v, want only %s", dropped, ids[1])
	}
}

func testNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
