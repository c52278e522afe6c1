package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres/pgtest"
	"github.com/otos-iot/otos/storetest"
)

// mustOpen opens the store at dsn and closes it when the test ends.
func mustOpen(tb testing.TB, dsn string) *DB {
	tb.Helper()
	d, err := Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func TestStore(t *testing.T) {
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) otos.Store { return mustOpen(t, pgtest.Schema(t)) })
}

func TestConcurrentOpen(t *testing.T) {
	// Nodes started at once on an empty database all come up, and the
	// schema is made once.
	dsn := pgtest.Schema(t)
	const nodes = 5
	errs := make([]error, nodes)
	dbs := make([]*DB, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := dbs[0].pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("%d schema_migrations rows, want %d", n, len(ms))
	}
	for i, d := range dbs {
		if _, err := d.Tenant(t.Context(), otos.DefaultTenantID); err != nil {
			t.Errorf("node %d: default tenant: %v", i, err)
		}
	}
}

func TestReopen(t *testing.T) {
	dsn := pgtest.Schema(t)
	d := mustOpen(t, dsn)
	tn := &otos.Tenant{ID: "tenant-1", Name: "acme", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)}
	if err := d.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = mustOpen(t, dsn)
	got, err := d.Tenant(t.Context(), tn.ID)
	if err != nil || got.Name != tn.Name || !got.CreatedAt.Equal(tn.CreatedAt) {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

func TestNewerSchema(t *testing.T) {
	dsn := pgtest.Schema(t)
	d := mustOpen(t, dsn)
	if _, err := d.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (9999)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dsn); err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
}

func TestOpenFails(t *testing.T) {
	t.Run("bad-dsn", func(t *testing.T) {
		_, err := Open(t.Context(), "postgres://user:s3cret@[::1")
		if err == nil {
			t.Fatal("Open of a bad DSN succeeded")
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") {
			t.Errorf("the error shows the password: %s", msg)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		start := time.Now()
		_, err := OpenConfig(t.Context(), Config{DSN: "postgres://postgres:s3cret@127.0.0.1:1/x?sslmode=disable",
			ConnectTimeout: time.Second})
		if err == nil {
			t.Fatal("Open of an unreachable database succeeded")
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Open took %v to fail", d)
		}
	})
}

func TestPoolSize(t *testing.T) {
	dsn := pgtest.Schema(t)
	d := mustOpen(t, dsn)
	if got := d.pool.Config().MaxConns; got != DefaultMaxConns {
		t.Errorf("MaxConns = %d, want %d", got, DefaultMaxConns)
	}
	d2, err := OpenConfig(t.Context(), Config{DSN: dsn, MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if got := d2.pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
}

func TestClosed(t *testing.T) {
	d := mustOpen(t, pgtest.Schema(t))
	d.Close()
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
		if code := otos.ErrorCode(err); code != otos.EUNAVAILABLE || otos.ErrorMessage(err) != "store unavailable" {
			t.Errorf("call %d after Close: code %q (%v), want %q", i, code, err, otos.EUNAVAILABLE)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	// Messages reach clients: they name fields and objects, never SQL.
	d := mustOpen(t, pgtest.Schema(t))
	ctx := t.Context()
	tn := &otos.Tenant{ID: "t", Name: "t"}
	if err := d.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	tpl := &otos.Template{ID: "tpl", TenantID: "t", Name: "n", DeviceType: otos.DeviceDirect, AuthMode: otos.AuthAny,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto, Reregistration: otos.ReregNever}
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
	capped := *tpl
	capped.MaxDevices = 1
	if err := d.UpdateTemplate(ctx, &capped); err != nil {
		t.Fatal(err)
	}
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
		{"cap", d.CreateDevice(ctx, &otos.Device{ID: "d5", TenantID: "t", TemplateID: "tpl", DeviceNumber: "n5", Status: otos.StatusEnabled}),
			otos.ECONFLICT, "max_devices", "the template has reached max_devices"},
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

func TestText(t *testing.T) {
	// PostgreSQL cannot hold NUL bytes or invalid UTF-8 in text; such a
	// value is EINVALID naming its field, before any statement is sent.
	d := mustOpen(t, pgtest.Schema(t))
	ctx := t.Context()
	tpl := &otos.Template{ID: "tpl", TenantID: otos.DefaultTenantID, Name: "n", DeviceType: otos.DeviceDirect,
		AuthMode: otos.AuthAny, VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto,
		Reregistration: otos.ReregNever}
	if err := d.CreateTemplate(ctx, tpl, otos.TemplateSecret{Hash: []byte{1}, Sealed: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	device := func(edit func(*otos.Device)) error {
		dev := &otos.Device{ID: "d-" + fmt.Sprint(time.Now().UnixNano()), TenantID: otos.DefaultTenantID,
			TemplateID: "tpl", DeviceNumber: "n-" + fmt.Sprint(time.Now().UnixNano()), Status: otos.StatusEnabled}
		edit(dev)
		return d.CreateDevice(ctx, dev)
	}
	for _, bad := range []struct{ name, value string }{{"nul", "a\x00b"}, {"utf8", "a\xffb"}, {"utf8-cut", "\xe4\xb8"}} {
		t.Run(bad.name, func(t *testing.T) {
			tests := []struct {
				field string
				err   error
			}{
				{"name", device(func(dev *otos.Device) { dev.Name = bad.value })},
				{"device_number", device(func(dev *otos.Device) { dev.DeviceNumber = bad.value })},
				{"sub_device_addr", device(func(dev *otos.Device) { dev.SubDeviceAddr = bad.value })},
				{"name", d.CreateTenant(ctx, &otos.Tenant{ID: "t-" + bad.name, Name: bad.value})},
				{"name", func() error { t := *tpl; t.Name = bad.value; return d.UpdateTemplate(ctx, &t) }()},
				{"product_key", d.CreateProduct(ctx, &otos.Product{ID: "p", TenantID: otos.DefaultTenantID, TemplateID: "tpl",
					Name: "p", ProductKey: bad.value})},
				{"device_number", func() error { _, err := d.DeviceByNumber(ctx, bad.value); return err }()},
				{"device_number", func() error {
					_, _, err := d.Devices(ctx, otos.DeviceFilter{DeviceNumber: bad.value})
					return err
				}()},
				{"device_number", func() error { _, err := d.AllowDevices(ctx, "tpl", []string{"ok", bad.value}, time.Now()); return err }()},
				{"nonce", d.UseNonce(ctx, "tpl", bad.value, time.Now().Add(time.Minute), time.Now())},
				{"cursor", func() error {
					_, _, err := d.Devices(ctx, otos.DeviceFilter{Page: otos.Page{Cursor: otos.EncodeCursor(bad.value)}})
					return err
				}()},
			}
			for i, tt := range tests {
				if code, field := otos.ErrorCode(tt.err), otos.ErrorField(tt.err); code != otos.EINVALID || field != tt.field {
					t.Errorf("case %d: error %v (code %q, field %q), want %q on %q", i, tt.err, code, field, otos.EINVALID, tt.field)
				}
			}
		})
	}
	t.Run("audit", func(t *testing.T) {
		// The audit keeps what it can: the record is stored, the bytes
		// replaced, and the rest of the batch is not lost.
		if err := d.AppendAudit(ctx, []*otos.AuditRecord{
			{ID: "a1", At: time.Now(), Kind: otos.AuditRegistration, Actor: "x", Action: "device.auth", DeviceNumber: "a\x00b"},
			{ID: "a2", At: time.Now(), Kind: otos.AuditRegistration, Actor: "x", Action: "device.auth", DeviceNumber: "c\xffd"},
		}); err != nil {
			t.Fatal(err)
		}
		got, _, err := d.Audit(ctx, otos.AuditFilter{})
		if err != nil || len(got) != 2 || got[0].DeviceNumber != "a\uFFFDb" || got[1].DeviceNumber != "c\uFFFDd" {
			t.Fatalf("audit read back as %+v, %v", got, err)
		}
	})
	t.Run("backstop", func(t *testing.T) {
		// A value that bypassed checkText is still EINVALID, not EINTERNAL.
		_, err := d.pool.Exec(ctx, `SELECT $1::text`, "a\x00b")
		if code := otos.ErrorCode(d.fail("test", err)); code != otos.EINVALID {
			t.Errorf("NUL in text: code %q (%v), want %q", code, err, otos.EINVALID)
		}
	})
}
