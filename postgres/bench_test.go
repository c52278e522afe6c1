package postgres

import (
	"fmt"
	"testing"

	"github.com/otos-iot/otos/postgres/pgtest"
	"github.com/otos-iot/otos/storetest"
)

// BenchmarkCreateDevice measures device inserts from 32 concurrent callers,
// gathered into multi-row inserts by the group commit: the store's share of
// a registration storm, without HTTP. It skips without OTOS_TEST_POSTGRES.
func BenchmarkCreateDevice(b *testing.B) {
	d := mustOpen(b, pgtest.Schema(b))
	batchTemplate(b, d, "tpl", 0)
	storetest.Callers32(b, func(i int) error {
		return d.CreateDevice(b.Context(), batchDevice("tpl", fmt.Sprintf("d-%d", i), fmt.Sprintf("n-%d", i)))
	})
}
