package storetest

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// Callers32 runs op b.N times from 32 goroutines (the next multiple of
// GOMAXPROCS, where 32 is not one), as 32 concurrent registrations would
// call a store; i counts from 1.
func Callers32(b *testing.B, op func(i int) error) {
	var n atomic.Int64
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((32 + procs - 1) / procs) // RunParallel starts this many per P
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

// BenchDevice returns new device i of the template, shaped as a registration
// makes one: a UUIDv7 id, an IMEI-like number, a BASIC voucher's look-up key
// and password hash. now is its creation time.
func BenchDevice(tenantID, templateID string, i int, now time.Time) *otos.Device {
	v := otos.Voucher{Username: otos.Secret(newID()), Password: "bench-password-of-a-new-device"}
	return &otos.Device{ID: newID(), TenantID: tenantID, TemplateID: templateID,
		DeviceNumber: fmt.Sprintf("86%013d", uint64(i)*2654435761%1e13), Status: otos.StatusEnabled,
		CreatedAt: now, UpdatedAt: now, Credential: v.Credential()}
}

// BenchEvent returns the registration event of d, as the core writes it.
func BenchEvent(d *otos.Device) *otos.Event {
	data := otos.DeviceEventData(d)
	data.ClientAddr = "198.51.100.7"
	b, _ := json.Marshal(data)
	return &otos.Event{ID: newID(), Type: otos.EventDeviceRegistered, At: d.CreatedAt, TenantID: d.TenantID,
		Subject: d.ID, Data: b}
}
