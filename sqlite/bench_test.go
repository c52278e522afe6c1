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
	tpl := &otos.Template{ID: benchTemplate, TenantID: otos.DefaultTenantID, Name: "t", DeviceType: otos.DeviceDirect,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregNever,
		AuthMode: otos.AuthAny, CreatedAt: now, UpdatedAt: now}
	if err := d.CreateTemplate(b.Context(), tpl, otos.TemplateSecret{Hash: []byte{1}, Sealed: []byte{2}}); err != nil {
		b.Fatal(err)
	}
	return d, now
}

// benchTemplate is the id of benchStore's template.
const benchTemplate = "01900000-0000-7000-8000-00000000be01"

// benchDevice is device i of benchStore's template, shaped as a registration
// makes one.
func benchDevice(i int, now time.Time) *otos.Device {
	return storetest.BenchDevice(otos.DefaultTenantID, benchTemplate, i, now)
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
				return d.CreateDevice(b.Context(), dev, storetest.BenchEvent(dev))
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
	ds := make([]*otos.Device, devices)
	for i := range ds {
		ds[i] = benchDevice(i, now)
		if err := d.CreateDevice(b.Context(), ds[i]); err != nil {
			b.Fatal(err)
		}
	}
	storetest.Callers32(b, func(i int) error {
		dev := ds[i%devices]
		return d.MarkConnected(b.Context(), dev.ID, dev.Credential.Lookup, now)
	})
}
