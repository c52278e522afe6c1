package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// TestStorageDietMigration writes rows as the schema before migration 0010
// held them, opens the store, which migrates, and reads them back through the
// store: every field as it was, old vouchers still found, a gateway and its
// sub-device still bound, audit records in their order.
func TestStorageDietMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := old.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	for _, m := range ms {
		if m.Version >= 10 {
			break
		}
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations VALUES (?, 0)`, m.Version)
	}

	const (
		tpl     = "01900000-0000-7000-8000-0000000000a1"
		gateway = "01900000-0000-7000-8000-0000000000b1"
		sub     = "01900000-0000-7000-8000-0000000000b2"
		odd     = "device-with-a-text-id"
		user    = "01900000-0000-7000-8000-0000000000c1" // a BASIC voucher's username
	)
	oldLookup := func(username string) []byte { // the 38-byte key of before
		h := sha256.Sum256([]byte(username))
		return append([]byte{0x01, 0x90, 0, 0, 0, 0}, h[:]...)
	}
	exec(`INSERT INTO templates (id, tenant_id, name, device_type, voucher_type, registration, reregistration,
		device_count, created_at, updated_at) VALUES (?, ?, 'gw', 'gateway', 'BASIC', 'auto', 'never', 3, 1, 1)`, tpl, otos.DefaultTenantID)
	dev := `INSERT INTO devices (id, tenant_id, template_id, parent_id, device_number, name, sub_device_addr, status,
		credential_lookup, password_hash, created_at, updated_at, first_connected_at, online, prev_lookup, prev_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	exec(dev, gateway, otos.DefaultTenantID, tpl, nil, "gw-1", "Gateway one", nil, "enabled",
		oldLookup(user), []byte("pw-hash"), 10, 20, 15, 1, oldLookup("01900000-0000-7000-8000-0000000000c0"), 99)
	exec(dev, sub, otos.DefaultTenantID, tpl, gateway, "sub-1", "", "1", "disabled", nil, nil, 30, 30, nil, 0, nil, nil)
	exec(dev, odd, otos.DefaultTenantID, tpl, nil, "odd-1", "", nil, "enabled", nil, nil, 40, 40, nil, 0, nil, nil)
	audit := `INSERT INTO audit (id, at, kind, tenant_id, actor, action, code, template_id, device_number, client_addr, detail, count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	exec(audit, "01900000-0000-7000-8000-0000000000d1", 50, "registration", otos.DefaultTenantID, "192.0.2.1",
		"device.auth", 200, tpl, "gw-1", "192.0.2.1", "", 1)
	exec(audit, "01900000-0000-7000-8000-0000000000d2", 60, "admin", nil, "token:ops", "template.create", 200,
		tpl, nil, "192.0.2.2", "", 1)
	exec(audit, "audit-with-a-text-id", 70, "session", "tenant-not-a-uuid", "192.0.2.3", "device.connect", 200086,
		"template-not-a-uuid", "sub-1", "192.0.2.3", "disabled", 4)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()

	gw, err := d.DeviceByCredential(ctx, otos.VoucherLookup(user))
	if err != nil {
		t.Fatalf("the gateway's voucher of before: %v", err)
	}
	if gw.ID != gateway || gw.TenantID != otos.DefaultTenantID || gw.TemplateID != tpl || gw.Name != "Gateway one" ||
		gw.Status != otos.StatusEnabled || string(gw.Credential.PasswordHash) != "pw-hash" || !gw.Online ||
		gw.CreatedAt != time.UnixMicro(10).UTC() || gw.UpdatedAt != time.UnixMicro(20).UTC() ||
		gw.FirstConnectedAt == nil || len(gw.Previous.Lookup) != otos.LookupSize || gw.PreviousUntil == nil {
		t.Errorf("gateway after the migration: %+v", gw)
	}
	s, err := d.Device(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if s.ParentID != gateway || s.SubDeviceAddr != "1" || s.Status != otos.StatusDisabled || s.Name != "" ||
		!s.Credential.IsZero() || s.UpdatedAt != s.CreatedAt {
		t.Errorf("sub-device after the migration: %+v", s)
	}
	if o, err := d.DeviceByNumber(ctx, "odd-1"); err != nil || o.ID != odd {
		t.Errorf("device with a text id: %+v, %v", o, err)
	}
	subs, _, err := d.Devices(ctx, otos.DeviceFilter{ParentID: gateway, Page: otos.Page{Limit: 10}})
	if err != nil || len(subs) != 1 || subs[0].ID != sub {
		t.Errorf("sub-devices of the gateway: %v, %v", subs, err)
	}
	if err := d.DeleteDevice(ctx, gateway); otos.ErrorCode(err) != otos.ECONFLICT {
		t.Errorf("deleting a gateway with a sub-device: %v, want ECONFLICT", err)
	}
	if err := d.DeleteDevice(ctx, odd); err != nil {
		t.Errorf("delete the device with a text id: %v", err)
	}
	// The count is kept down by the trigger that the migration re-created.
	if tp, err := d.Template(ctx, tpl); err != nil || tp.DeviceCount != 2 {
		t.Errorf("template after a delete: %+v, %v; want 2 devices", tp, err)
	}

	rs, _, err := d.Audit(ctx, otos.AuditFilter{Page: otos.Page{Limit: 10}})
	if err != nil || len(rs) != 3 {
		t.Fatalf("audit after the migration: %v, %v", rs, err)
	}
	// A text id sorts before every UUID (see key.go).
	want := []otos.AuditRecord{
		{ID: "audit-with-a-text-id", At: time.UnixMicro(70).UTC(), Kind: otos.AuditSession, TenantID: "tenant-not-a-uuid",
			Actor: "192.0.2.3", Action: "device.connect", Code: 200086, TemplateID: "template-not-a-uuid",
			DeviceNumber: "sub-1", ClientAddr: "192.0.2.3", Detail: "disabled", Count: 4},
		{ID: "01900000-0000-7000-8000-0000000000d1", At: time.UnixMicro(50).UTC(), Kind: otos.AuditRegistration,
			TenantID: otos.DefaultTenantID, Actor: "192.0.2.1", Action: "device.auth", Code: 200, TemplateID: tpl,
			DeviceNumber: "gw-1", ClientAddr: "192.0.2.1", Count: 1},
		{ID: "01900000-0000-7000-8000-0000000000d2", At: time.UnixMicro(60).UTC(), Kind: otos.AuditAdmin,
			Actor: "token:ops", Action: "template.create", Code: 200, TemplateID: tpl, ClientAddr: "192.0.2.2", Count: 1},
	}
	for i := range want {
		if *rs[i] != want[i] {
			t.Errorf("audit record %d:\n got %+v\nwant %+v", i, *rs[i], want[i])
		}
	}
	if rs, _, err := d.Audit(ctx, otos.AuditFilter{TenantID: otos.DefaultTenantID, Page: otos.Page{Limit: 10}}); err != nil || len(rs) != 1 {
		t.Errorf("audit of the default tenant: %v, %v", rs, err)
	}
}
