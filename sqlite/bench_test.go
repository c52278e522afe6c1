package sqlite

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// BenchmarkCreateDevice measures device inserts from 32 concurrent callers:
// with group commit, many share one transaction and one fsync.
func BenchmarkCreateDevice(b *testing.B) {
	d, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	tpl := &otos.Template{ID: "tpl", TenantID: otos.DefaultTenantID, Name: "t", DeviceType: otos.DeviceDirect,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregNever,
		AuthMode: otos.AuthAny, CreatedAt: now, UpdatedAt: now}
	if err := d.CreateTemplate(b.Context(), tpl, otos.TemplateSecret{Hash: []byte{1}, Sealed: []byte{2}}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16) // 32 goroutines on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			dev := &otos.Device{ID: fmt.Sprintf("d-%d", i), TenantID: otos.DefaultTenantID, TemplateID: "tpl",
				DeviceNumber: fmt.Sprintf("n-%d", i), Status: otos.StatusEnabled, CreatedAt: now, UpdatedAt: now,
				Credential: otos.Credential{Lookup: []byte(fmt.Sprintf("l-%d", i)), PasswordHash: []byte{1}}}
			if err := d.CreateDevice(b.Context(), dev); err != nil {
				b.Fatal(err)
			}
		}
	})
	batches, writes := d.CommitStats()
	b.ReportMetric(float64(writes)/float64(max(batches, 1)), "writes/commit")
}
