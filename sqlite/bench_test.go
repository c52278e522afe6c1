package sqlite

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// benchStore opens a store in a temporary directory with one template, "tpl".
func benchStore(b *testing.B) (*DB, time.Time) {
	d, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	tpl := &otos.Template{ID: "tpl", TenantID: otos.DefaultTenantID, Name: "t", DeviceType: otos.DeviceDirect,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregNever,
		AuthMode: otos.AuthAny, CreatedAt: now, UpdatedAt: now}
	if err := d.CreateTemplate(b.Context(), tpl, otos.TemplateSecret{Hash: []byte{1}, Sealed: []byte{2}}); err != nil {
		b.Fatal(err)
	}
	return d, now
}

// benchDevice is device i of template "tpl".
func benchDevice(i int, now time.Time) *otos.Device {
	return &otos.Device{ID: fmt.Sprintf("d-%d", i), TenantID: otos.DefaultTenantID, TemplateID: "tpl",
		DeviceNumber: fmt.Sprintf("n-%d", i), Status: otos.StatusEnabled, CreatedAt: now, UpdatedAt: now,
		Credential: otos.Credential{Lookup: []byte(fmt.Sprintf("l-%d", i)), PasswordHash: []byte{1}}}
}

// callers32 runs op b.N times from 32 goroutines, with i counting from 1.
func callers32(b *testing.B, op func(i int) error) {
	var n atomic.Int64
	b.SetParallelism(16) // 32 goroutines on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(n.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateDevice measures device inserts from 32 concurrent callers:
// with group commit, many share one transaction and one fsync.
func BenchmarkCreateDevice(b *testing.B) {
	d, now := benchStore(b)
	callers32(b, func(i int) error { return d.CreateDevice(b.Context(), benchDevice(i, now)) })
	batches, writes := d.CommitStats()
	b.ReportMetric(float64(writes)/float64(max(batches, 1)), "writes/commit")
}

// BenchmarkMarkConnected measures first connections recorded by 32
// concurrent callers, each its own device: the durable write a device's
// first CONNECT waits for.
func BenchmarkMarkConnected(b *testing.B) {
	d, now := benchStore(b)
	const devices = 20000
	for i := range devices {
		if err := d.CreateDevice(b.Context(), benchDevice(i, now)); err != nil {
			b.Fatal(err)
		}
	}
	callers32(b, func(i int) error {
		i %= devices
		return d.MarkConnected(b.Context(), fmt.Sprintf("d-%d", i), []byte(fmt.Sprintf("l-%d", i)), now)
	})
}
