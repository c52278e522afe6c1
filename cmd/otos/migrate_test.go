package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres/pgtest"
	"github.com/otos-iot/otos/sqlite"
)

// migrate runs "otos migrate" and returns its output.
func migrate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"migrate"}, args...), &out, &errOut, func(string) string { return "" })
	return out.String() + errOut.String(), err
}

func TestMigrateSQLiteToPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)

	// A SQLite deployment with a bit of everything.
	dir := t.TempDir()
	old := startServer(t, dir, nil)
	gw := old.createTemplate(t, map[string]any{"device_type": "gateway", "max_devices": 2})
	subs := old.createTemplate(t, map[string]any{"device_type": "sub_device"})
	listed := old.createTemplate(t, map[string]any{"registration": "allowlist"})
	old.admin(t, "POST", "/api/v1/templates/"+listed.ID+"/allowlist", map[string][]string{"device_numbers": {"al-1", "al-2"}}, 200, nil)
	var rot struct {
		Secret string `json:"template_secret"`
	}
	old.admin(t, "POST", "/api/v1/templates/"+gw.ID+"/rotate-secret", map[string]int{"grace_seconds": 3600}, 200, &rot)
	var product struct {
		ID  string `json:"id"`
		Key string `json:"product_key"`
	}
	old.admin(t, "POST", "/api/v1/products", map[string]string{"name": "p", "template_id": gw.ID}, http.StatusCreated, &product)
	gwID, gwVoucher := old.register(t, rot.Secret, "mig-gw", "product_key", product.Key)
	old.register(t, gw.Secret, "mig-gw-2") // through the old secret, in its grace period
	old.register(t, subs.Secret, "mig-sub-1", "parent_device_number", "mig-gw", "sub_device_addr", "1")
	subID, _ := old.register(t, subs.Secret, "mig-sub-2", "parent_device_number", "mig-gw", "sub_device_addr", "2")
	old.admin(t, "POST", "/api/v1/devices/"+subID+"/disable", nil, 200, nil)
	if err := old.Store.CreateTenant(t.Context(), &otos.Tenant{ID: "tenant-2", Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	old.admin(t, "POST", "/api/v1/webhooks", map[string]any{"url": "https://example.com/migrated"}, http.StatusCreated, &hook)
	adminToken := old.Token
	old.Close()

	out, err := migrate(t, "--from", "sqlite:"+filepath.Join(dir, "otos.db"), "--to", dsn)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, want := range []string{"tenants            2 copied", "templates          3 copied", "products           1 copied",
		"devices            4 copied", "allow-list entries 2 copied", "webhooks           1 copied", "counts match"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A PostgreSQL node with an empty data directory takes over.
	s := startNodes(t, dsn, 1, nil)[0]
	s.Token = adminToken // the SQLite deployment's token was copied
	var d otos.Device
	s.admin(t, "GET", "/api/v1/devices/"+subID, nil, 200, &d)
	if d.Status != otos.StatusDisabled || d.DeviceNumber != "mig-sub-2" {
		t.Errorf("the disabled sub-device came over as %+v", d)
	}
	var tpl struct {
		MaxDevices  int `json:"max_devices"`
		DeviceCount int `json:"device_count"`
	}
	s.admin(t, "GET", "/api/v1/templates/"+gw.ID, nil, 200, &tpl)
	if tpl.MaxDevices != 2 || tpl.DeviceCount != 2 {
		t.Errorf("the gateway template came over with max_devices %d, device_count %d; want 2, 2", tpl.MaxDevices, tpl.DeviceCount)
	}
	// Both secrets of the rotation are recognised (the server key came over).
	s.register(t, subs.Secret, "mig-sub-3", "parent_device_number", "mig-gw", "sub_device_addr", "3")
	if status, env := s.auth(t, map[string]string{"template_secret": gw.Secret, "device_number": "mig-gw-3"}); env.Code != 200091 {
		t.Errorf("a third gateway under max_devices 2: %d %+v, want the cap", status, env)
	}
	// The allow-list came over: a listed device not yet registered registers.
	s.register(t, listed.Secret, "al-2")
	// A voucher issued by SQLite opens the new node's broker.
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "mig", gwVoucher.Username, gwVoucher.Password, nil); err != nil {
		t.Errorf("the gateway's voucher (%s): %v", gwID, err)
	}

	// The webhook came over, its secret sealed under the copied key.
	w, err := s.Store.Webhook(t.Context(), hook.ID)
	if err != nil || w.URL != "https://example.com/migrated" {
		t.Errorf("the webhook came over as %+v, %v", w, err)
	}

	// A second run refuses: the target is no longer empty.
	if out, err := migrate(t, "--from", "sqlite:"+filepath.Join(dir, "otos.db"), "--to", dsn); err == nil ||
		!strings.Contains(err.Error(), "already holds otos data") {
		t.Errorf("a second migrate: %v\n%s", err, out)
	}
}

func TestMigrateKeyFile(t *testing.T) {
	// A SQLite database that never met this version of otos: its key is
	// only in server.key beside it.
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	key := bytes.Repeat([]byte{7}, 32)
	if err := os.WriteFile(filepath.Join(dir, "server.key"), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.Schema(t)
	if out, err := migrate(t, "--from", "sqlite:"+filepath.Join(dir, "otos.db"), "--to", dsn); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	s := startNodes(t, dsn, 1, nil)[0]
	got, err := s.Store.ServerKey(t.Context())
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("server key in PostgreSQL: %x, %v; want the file's", got, err)
	}
}

func TestMigrateUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--from", "x.db", "--to", "postgres://h/db"}, {"--from", "sqlite:x.db", "--to", "sqlite:y.db"}} {
		if _, err := migrate(t, args...); err == nil {
			t.Errorf("migrate %q succeeded", args)
		}
	}
}
