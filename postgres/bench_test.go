package postgres

import (
	"fmt"
	"github.com/otos-iot/otos"
	"testing"

	"github.com/otos-iot/otos/postgres/pgtest"
	"github.com/otos-iot/otos/storetest"
)

// BenchmarkCreateDevice measures device inserts from 32 concurrent callers,
// gathered into multi-row inserts by the group commit: the store's share of
// a registration storm, without HTTP. It skips without OTOS_TEST_POSTGRES.
func BenchmarkCreateDevice(b *testing.B) {
	for _, events := range []bool{false, true} {
		b.Run(fmt.Sprintf("events=%v", events), func(b *testing.B) {
			d := mustOpen(b, pgtest.Schema(b))
			batchTemplate(b, d, "tpl", 0)
			storetest.Callers32(b, func(i int) error {
				dev := batchDevice("tpl", fmt.Sprintf("d-%d", i), fmt.Sprintf("n-%d", i))
				if !events {
					return d.CreateDevice(b.Context(), dev)
				}
				return d.CreateDevice(b.Context(), dev, &otos.Event{ID: dev.ID + "-e", Type: otos.EventDeviceRegistered,
					At: dev.CreatedAt, TenantID: dev.TenantID, Subject: dev.ID, Data: []byte(`{"device_id":"` + dev.ID + `"}`)})
			})
		})
	}
}
