package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/storetest"
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

// BenchmarkCreateDevice measures device inserts from 32 concurrent callers:
// with group commit, many share one transaction and one fsync. With
// events, each insert writes its registration event too, as a registration
// does: the store alone's share of a registration storm.
func BenchmarkCreateDevice(b *testing.B) {
	for _, events := range []bool{false, true} {
		b.Run(fmt.Sprintf("events=%v", events), func(b *testing.B) {
			d, now := benchStore(b)
			storetest.Callers32(b, func(i int) error {
				dev := benchDevice(i, now)
				if !events {
					return d.CreateDevice(b.Context(), dev)
				}
				return d.CreateDevice(b.Context(), dev, &otos.Event{ID: dev.ID + "-e", Type: otos.EventDeviceRegistered,
					At: now, TenantID: dev.TenantID, Subject: dev.ID, Data: []byte(`{"device_id":"` + dev.ID + `"}`)})
			})
			batches, writes := d.CommitStats()
			b.ReportMetric(float64(writes)/float64(max(batches, 1)), "writes/commit")
		})
	}
}

// BenchmarkMarkConnected measures first connections recorded by 32
// concurrent callers, each its own device: the durable write a device's
// first CONNECT waits for.
func BenchmarkMarkConnected(b *testing.B) {
	d, now := benchStore(b)
	const devices = 1000 // inserted one by one, before every round
	for i := range devices {
		if err := d.CreateDevice(b.Context(), benchDevice(i, now)); err != nil {
			b.Fatal(err)
		}
	}
	storetest.Callers32(b, func(i int) error {
		i %= devices
		return d.MarkConnected(b.Context(), fmt.Sprintf("d-%d", i), []byte(fmt.Sprintf("l-%d", i)), now)
	})
}
