package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/otos-iot/otos"

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
			const tpl = "01900000-0000-7000-8000-00000000be01"
			batchTemplate(b, d, tpl, 0)
			now := time.Now().UTC().Truncate(time.Microsecond)
			storetest.Callers32(b, func(i int) error {
				dev := storetest.BenchDevice(otos.DefaultTenantID, tpl, i, now)
				if !events {
					return d.CreateDevice(b.Context(), dev)
				}
				return d.CreateDevice(b.Context(), dev, storetest.BenchEvent(dev))
			})
		})
	}
}
