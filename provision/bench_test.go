package provision_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/storetest"
)

// BenchmarkRegister measures new-device registrations through the service
// on SQLite, from 32 concurrent callers.
func BenchmarkRegister(b *testing.B) {
	s, store := newService(b)
	ctx := context.Background()
	secret, err := s.Admin.CreateTemplate(ctx, sys, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	if err != nil {
		b.Fatal(err)
	}
	storetest.Callers32(b, func(i int) error {
		_, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: fmt.Sprintf("bench-%d", i)})
		return err
	})
	if st, ok := store.(interface{ CommitStats() (int64, int64) }); ok {
		batches, writes := st.CommitStats()
		b.ReportMetric(float64(writes)/float64(max(batches, 1)), "writes/commit")
	}
}

// BenchmarkReconnect measures what the core spends on a CONNECT of a device
// that has connected before, as the broker calls it: authenticate, the
// second check after tracking, connected, disconnected. No store write.
func BenchmarkReconnect(b *testing.B) {
	s, _ := newService(b)
	ctx := context.Background()
	secret := createTemplate(b, s, &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	iss, err := register(ctx, s, device, &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: "re-1"})
	if err != nil {
		b.Fatal(err)
	}
	user, pass := string(iss.Voucher.Username), string(iss.Voucher.Password)
	b.ReportAllocs()
	for b.Loop() {
		sess, err := s.Sessions.Authenticate(ctx, device, user, pass)
		if err == nil {
			err = s.Sessions.Connected(ctx, sess)
		}
		if err == nil {
			_, err = s.Sessions.Authenticate(ctx, device, user, pass)
		}
		if err != nil {
			b.Fatal(err)
		}
		s.Sessions.Disconnected(sess)
	}
}
