package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/storetest"
)

// BenchmarkCreateDeviceAt measures what BenchmarkCreateDevice/events=true
// does, new devices with their registration events from 32 callers, on a
// store that holds many devices already: the cost of a new device as the
// fleet grows (issue 19). The stores are filled by LoadDevices, not through
// registrations, and reopened before they are measured, as after a restart.
// OTOS_BENCH_SIZES lists the sizes, e.g. "0,1000000,10000000" (default
// "0,100000"); OTOS_BENCH_DIR keeps the filled stores between runs (default:
// a temporary directory).
func BenchmarkCreateDeviceAt(b *testing.B) {
	sizes := []int{0, 100_000}
	if v := os.Getenv("OTOS_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				b.Fatalf("OTOS_BENCH_SIZES=%q: want sizes separated by commas", v)
			}
			sizes = append(sizes, n)
		}
	}
	dir := os.Getenv("OTOS_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	for _, n := range sizes {
		path := filepath.Join(dir, fmt.Sprintf("grown-%d.db", n))
		// Device indexes of this run: after the loaded ones, and apart from
		// earlier runs' on the same file (one a microsecond at most).
		var next atomic.Int64
		next.Store(1e12 + time.Now().UnixMicro()%1e12)
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			if err := fillStore(path, n); err != nil {
				b.Fatal(err)
			}
			d, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			now := time.Now().UTC().Truncate(time.Microsecond)
			storetest.Callers32(b, func(int) error {
				dev := benchDevice(int(next.Add(1)), now)
				return d.CreateDevice(b.Context(), dev, storetest.BenchEvent(dev))
			})
			batches, writes := d.CommitStats()
			b.ReportMetric(float64(writes)/float64(max(batches, 1)), "writes/commit")
		})
	}
}

// fillStore makes the store at path hold benchStore's template and devices
// 0 to n-1 of it, unless it holds them already (a file of an earlier run).
func fillStore(path string, n int) error {
	d, err := Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx := context.Background()
	if _, err := d.Template(ctx, benchTemplate); otos.ErrorCode(err) == otos.ENOTFOUND {
		now := time.Now().UTC().Truncate(time.Microsecond)
		tpl := &otos.Template{ID: benchTemplate, TenantID: otos.DefaultTenantID, Name: "t", DeviceType: otos.DeviceDirect,
			VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregNever,
			AuthMode: otos.AuthAny, CreatedAt: now, UpdatedAt: now}
		if err := d.CreateTemplate(ctx, tpl, otos.TemplateSecret{Hash: []byte{1}, Sealed: []byte{2}}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	var have int
	if err := d.read.QueryRowContext(ctx, `SELECT count(*) FROM devices`).Scan(&have); err != nil {
		return err
	}
	if have >= n {
		return nil
	}
	if have > 0 {
		return fmt.Errorf("%s holds %d devices, not 0 or at least %d: remove it", path, have, n)
	}
	const chunk = 10_000
	now := time.Now().UTC().Truncate(time.Microsecond)
	ds := make([]*otos.Device, 0, chunk)
	for i := 0; i < n; i += chunk {
		ds = ds[:0]
		for j := i; j < min(i+chunk, n); j++ {
			ds = append(ds, benchDevice(j, now))
		}
		if err := d.LoadDevices(ctx, ds); err != nil {
			return err
		}
	}
	return nil
}
