package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/storetest"
)

// mustOpen opens the database at path and closes it when the test ends.
func mustOpen(tb testing.TB, path string) *DB {
	tb.Helper()
	d, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Error(err)
		}
	})
	return d
}

// mustOpenTemp opens a new database in a temporary directory.
func mustOpenTemp(tb testing.TB) *DB {
	tb.Helper()
	return mustOpen(tb, filepath.Join(tb.TempDir(), "otos.db"))
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) otos.Store { return mustOpenTemp(t) })
}

func TestPragmas(t *testing.T) {
	d := mustOpenTemp(t)
	want := map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "2", // FULL
		"busy_timeout": "10000",
		"query_only":   "", // per pool
		"mmap_size":    "", // per pool
	}
	pools := []struct {
		name            string
		db              *sql.DB
		conns           int
		queryOnly, mmap string
	}{
		{"write", d.write, 1, "0", "2147418112"},
		{"read", d.read, readConns, "1", "0"},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			// Hold every connection of the pool at once, so that each one
			// is checked, not the same idle one again.
			for i := range p.conns {
				conn, err := p.db.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				for name, value := range want {
					switch name {
					case "query_only":
						value = p.queryOnly
					case "mmap_size":
						value = p.mmap
					}
					var got string
					if err := conn.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&got); err != nil {
						t.Fatal(err)
					}
					if got != value {
						t.Errorf("connection %d: %s = %s, want %s", i, name, got, value)
					}
				}
			}
		})
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otos.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tn := &otos.Tenant{ID: "tenant-1", Name: "acme", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)}
	if err := d.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		d := mustOpen(t, path)
		got, err := d.Tenant(t.Context(), tn.ID)
		if err != nil {
			t.Fatalf("after reopen: %v", err)
		}
		if got.Name != tn.Name || !got.CreatedAt.Equal(tn.CreatedAt) {
			t.Errorf("after reopen: tenant %+v, want %+v", got, tn)
		}
		if _, err := d.Tenant(t.Context(), otos.DefaultTenantID); err != nil {
			t.Errorf("default tenant: %v", err)
		}
		// Each migration is applied once, at the first Open.
		if after := appliedMigrations(t, d); after != before {
			t.Errorf("schema_migrations after reopen = %s, want %s", after, before)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// appliedMigrations returns the schema_migrations rows as text.
func appliedMigrations(t *testing.T, d *DB) string {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := d.read.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	n := 0
	for rows.Next() {
		var version, appliedAt int64
		if err := rows.Scan(&version, &appliedAt); err != nil {
			t.Fatal(err)
		}
		if n >= len(ms) || version != int64(ms[n].Version) {
			t.Errorf("schema_migrations row %d has version %d", n, version)
		}
		b.WriteString(time.UnixMicro(appliedAt).String() + "; ")
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("%d migrations applied, want %d", n, len(ms))
	}
	return b.String()
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otos.db")
	d := mustOpen(t, path)
	if _, err := d.write.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v, want an error", err)
	}
}

func TestOpenPath(t *testing.T) {
	t.Run("special-characters", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a?b#c%20d.db")
		mustOpen(t, path)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the database is not at its path: %v", err)
		}
	})
	t.Run("fail/missing-dir", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "missing", "otos.db")); err == nil {
			t.Fatal("Open in a missing directory succeeded")
		}
	})
	t.Run("fail/empty", func(t *testing.T) {
		if _, err := Open(""); err == nil {
			t.Fatal("Open of an empty path succeeded")
		}
	})
}

func TestClosed(t *testing.T) {
	d := mustOpenTemp(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := t.Context()
	_, err1 := d.Tenant(ctx, otos.DefaultTenantID)
	_, _, err2 := d.Devices(ctx, otos.DeviceFilter{})
	_, err3 := d.ResetDevice(ctx, "x", time.Now())
	for i, err := range []error{
		d.Ping(ctx), err1, err2, err3,
		d.CreateTenant(ctx, &otos.Tenant{ID: "x"}),
		d.RotateSecret(ctx, "x", otos.TemplateSecret{Hash: []byte{1}}, time.Now(), time.Now()),
	} {
		if code := otos.ErrorCode(err); code != otos.EUNAVAILABLE {
			t.Errorf("call %d after Close: code %q (%v), want %q", i, code, err, otos.EUNAVAILABLE)
		}
	}
}

func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otos.db")
	d := mustOpen(t, path)
	// Another process holds the write lock.
	other, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)
	// Wait 50ms for it, not 10s. The writer pool is one connection.
	if _, err := d.write.Exec(`PRAGMA busy_timeout = 50`); err != nil {
		t.Fatal(err)
	}
	err = d.CreateTenant(t.Context(), &otos.Tenant{ID: "x", Name: "x"})
	if code := otos.ErrorCode(err); code != otos.EUNAVAILABLE || otos.ErrorMessage(err) != "store unavailable" {
		t.Fatalf("write while locked: code %q (%v), want %q", code, err, otos.EUNAVAILABLE)
	}
	// Reads go on.
	if _, err := d.Tenant(t.Context(), otos.DefaultTenantID); err != nil {
		t.Fatalf("read while locked: %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	// Messages reach clients: they name fields and objects, never SQL.
	d := mustOpenTemp(t)
	ctx := t.Context()
	tn := &otos.Tenant{ID: "t", Name: "t"}
	if err := d.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	tpl := &otos.Template{ID: "tpl", TenantID: "t", Name: "n", DeviceType: otos.DeviceDirect,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregNever, AuthMode: otos.AuthAny}
	if err := d.CreateTemplate(ctx, tpl, otos.TemplateSecret{Hash: []byte{1}, Sealed: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	dev := &otos.Device{ID: "d1", TenantID: "t", TemplateID: "tpl", DeviceNumber: "n1", Status: otos.StatusEnabled}
	if err := d.CreateDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	bad := *tpl
	bad.ID, bad.VoucherType = "tpl2", "PLAIN"
	orphan := *dev
	orphan.ID, orphan.DeviceNumber, orphan.ProductID = "d2", "n2", "nope"
	tests := []struct {
		name    string
		err     error
		code    otos.Code
		field   string
		message string
	}{
		{"tenant-taken", d.CreateTenant(ctx, tn), otos.ECONFLICT, "id", "tenant id is already taken"},
		{"number-taken", d.CreateDevice(ctx, &otos.Device{ID: "d3", TenantID: "t", TemplateID: "tpl", DeviceNumber: "n1", Status: otos.StatusEnabled}),
			otos.ECONFLICT, "device_number", "device_number is already registered"},
		{"check", d.CreateTemplate(ctx, &bad, otos.TemplateSecret{Hash: []byte{3}, Sealed: []byte{4}}),
			otos.EINVALID, "voucher_type", "voucher_type has an invalid value"},
		{"empty-number", d.CreateDevice(ctx, &otos.Device{ID: "d4", TenantID: "t", TemplateID: "tpl", Status: otos.StatusEnabled}),
			otos.EINVALID, "device_number", "device_number has an invalid value"},
		{"missing-product", d.CreateDevice(ctx, &orphan), otos.ENOTFOUND, "product_id", "product not found"},
		{"missing-device", func() error { _, err := d.Device(ctx, "nope"); return err }(), otos.ENOTFOUND, "", "device not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *otos.Error
			if !errors.As(tt.err, &e) || e.Code != tt.code || e.Field != tt.field || e.Message != tt.message {
				t.Fatalf("error %#v, want code %q field %q message %q", tt.err, tt.code, tt.field, tt.message)
			}
		})
	}
}

// TestFilesOwnerOnly: the database holds the server key, so its files are
// readable by the owner only, even in a directory that others can read.
func TestFilesOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "otos.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateTenant(t.Context(), &otos.Tenant{ID: "perm", Name: "p"}); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want owner-only", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
