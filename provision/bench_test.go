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
