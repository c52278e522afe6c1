package provision_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/otos-iot/otos"
)

// BenchmarkRegister measures new-device registrations through the service
// on SQLite, from 32 concurrent callers.
func BenchmarkRegister(b *testing.B) {
	s, store := newService(b)
	ctx := context.Background()
	secret, err := s.CreateTemplate(ctx, "", &otos.Template{Name: "t", DeviceType: otos.DeviceDirect})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := &otos.AuthRequest{TemplateSecret: secret, DeviceNumber: fmt.Sprintf("bench-%d", n.Add(1))}
			if _, err := s.Register(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	if st, ok := store.(interface{ CommitStats() (int64, int64) }); ok {
		batches, writes := st.CommitStats()
		b.ReportMetric(float64(writes)/float64(max(batches, 1)), "writes/commit")
	}
}
