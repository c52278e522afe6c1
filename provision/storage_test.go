package provision_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres"
	"github.com/otos-iot/otos/postgres/pgtest"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/sqlite"

	"github.com/jackc/pgx/v5"
)

// maxBytesPerDevice is what a new device may cost the SQLite store on disk:
// its row, its registration's audit record and every index of both
// (issue 19's storage diet). Its registration event is counted apart: it
// is pruned after the event retention.
const maxBytesPerDevice = 500

// TestStorageCost registers devices through the service, as devices do (32
// at a time, audit and events on), and measures what each costs the store on
// disk, table by table and index by index: SQLite always, PostgreSQL when
// OTOS_TEST_POSTGRES is set. OTOS_STORAGE_DEVICES sets how many (default
// 4,000); with -v it prints where the bytes go.
func TestStorageCost(t *testing.T) {
	n := 4000
	if v := os.Getenv("OTOS_STORAGE_DEVICES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("OTOS_STORAGE_DEVICES=%q: want a number of at least 1000", v)
		}
	} else if testing.Short() {
		t.Skip("registers thousands of devices")
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "otos.db")
		store, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		perDevice := storageCost(t, store, n, func() map[string]int64 { return sqliteBytes(t, path) })
		if perDevice > maxBytesPerDevice {
			t.Errorf("a device costs %.1f bytes on disk, want at most %d", perDevice, maxBytesPerDevice)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t)
		store, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		// PostgreSQL's rows carry a 24-byte header and its indexes 8 bytes an
		// entry more, and its pages are written with room to spare: its figure
		// is reported, not held to SQLite's.
		storageCost(t, store, n, func() map[string]int64 { return postgresBytes(t, dsn) })
	})
}

// storageCost registers n devices on store and returns the bytes each costs,
// its registration event apart, as measure tells them.
func storageCost(t *testing.T, store otos.Store, n int, measure func() map[string]int64) float64 {
	s := provision.New(provision.Config{Store: store, Keys: newKeys(t)})
	ctx := context.Background()
	secret := createTemplate(t, s, &otos.Template{Name: "meters", DeviceType: otos.DeviceDirect})
	s.FlushAudit(ctx)
	before := measure()

	// The background work writes the audit as it would in a server.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(runCtx) }()
	registerFleet(t, s, secret, n)
	stop()
	<-done
	s.FlushEvents(ctx)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	after := measure()

	var perDevice, events float64
	names := make([]string, 0, len(after))
	for name := range after {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return after[names[i]]-before[names[i]] > after[names[j]]-before[names[j]] })
	for _, name := range names {
		b := float64(after[name]-before[name]) / float64(n)
		if b == 0 {
			continue
		}
		if strings.HasPrefix(name, "events") || name == "sqlite_autoindex_events_1" || name == "sqlite_sequence" {
			events += b
		} else {
			perDevice += b
		}
		t.Logf("%-40s %8.1f bytes/device", name, b)
	}
	t.Logf("%d devices: %.1f bytes a device, and %.1f more while its registration event is kept", n, perDevice, events)
	return perDevice
}

// registerFleet registers n devices with IMEI-like numbers in random order
// from 32 callers, each from an address of its own.
func registerFleet(t *testing.T, s *provision.Service, secret otos.Secret, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("86%013d", rng.Int64N(1e13))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for c := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := otos.Client{Addr: fmt.Sprintf("198.51.100.%d", c+1), Key: strconv.Itoa(c)}
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if _, err := register(context.Background(), s, from, &otos.AuthRequest{
					TemplateSecret: secret, DeviceNumber: numbers[i]}); err != nil && otos.ErrorCode(err) != otos.ECONFLICT {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// sqliteBytes returns the bytes of pages each table and index of the SQLite
// file at path holds, its free pages under "(free)".
func sqliteBytes(t *testing.T, path string) map[string]int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, SUM(pgsize) FROM dbstat GROUP BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := sizes(t, rows)
	var free, pageSize int64
	if err := db.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	out["(free)"] = free * pageSize
	return out
}

// postgresBytes returns the bytes each table (with its TOAST) and index of
// the test schema of dsn holds.
func postgresBytes(t *testing.T, dsn string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// VACUUM sets the visibility map and frees what the registrations' updates
	// left, as autovacuum would in a while.
	if _, err := conn.Exec(ctx, `VACUUM`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT c.relname, pg_table_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return sizes(t, rows)
}

// sizes reads rows of (name, bytes), of database/sql or of pgx.
func sizes(t *testing.T, rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		out[name] = size
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
