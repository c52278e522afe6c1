package provision_test

import (
	"context"
	"testing"

	"github.com/otos-iot/otos"
)

// FuzzAuthenticateMQTT feeds arbitrary CONNECT credentials to the broker's
// authentication: never a panic, never an internal error, and nothing but a
// real voucher gets in.
func FuzzAuthenticateMQTT(f *testing.F) {
	s, _ := newService(f)
	ctx := context.Background()
	secret, err := s.Admin.CreateTemplate(ctx, sys, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	if err != nil {
		f.Fatal(err)
	}
	reg, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "fuzz-1"})
	if err != nil {
		f.Fatal(err)
	}
	user, pass := string(reg.Voucher.Username), string(reg.Voucher.Password)
	f.Add(user, pass)
	f.Add("svc_"+user, pass)
	f.Add("svc_", "")
	f.Add("", "")
	f.Add("\x00\xff", "x")
	f.Fuzz(func(t *testing.T, username, password string) {
		sess, err := s.Sessions.Authenticate(ctx, device, username, password)
		if username == user && password == pass {
			if err != nil {
				t.Fatalf("the voucher was refused: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("accepted %q/%q as %+v", username, password, sess)
		}
		if otos.ErrorCode(err) != otos.EUNAUTHORIZED {
			t.Fatalf("error %v is not EUNAUTHORIZED", err)
		}
	})
}
