package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// TestBackupDuringStorm: a backup taken while devices register holds every
// device acknowledged before it began, passes PRAGMA integrity_check, and,
// restored into a stopped data directory, serves them.
func TestBackupDuringStorm(t *testing.T) {
	dir := t.TempDir()
	token := "backup-test-admin-token-0123456789abcdef"
	s := startServer(t, dir, func(c *Config) { c.AdminToken = otos.Secret(token); c.LockoutThreshold = 0 })
	tpl := s.createTemplate(t, nil)

	var mu sync.Mutex
	acked := map[string]time.Time{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				n := fmt.Sprintf("storm-%d-%d", w, i)
				body := fmt.Sprintf(`{"template_secret":%q,"device_number":%q}`, tpl.Secret, n)
				res, err := httpClient.Post(s.URL+"/api/v1/device/auth", "application/json", strings.NewReader(body))
				if err != nil {
					continue
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					mu.Lock()
					acked[n] = time.Now()
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	file := filepath.Join(t.TempDir(), "otos.backup")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"backup", file, "--data", dir}, &out, &out, func(string) string { return "" }); err != nil {
		t.Fatalf("backup: %v: %s", err, out.String())
	}
	time.Sleep(200 * time.Millisecond) // registrations go on after it
	stop.Store(true)
	wg.Wait()
	t.Logf("%s", out.String())
	var before []string
	for n, at := range acked {
		if at.Before(began) {
			before = append(before, n)
		}
	}
	if len(before) < 10 || len(acked) == len(before) {
		t.Fatalf("%d registrations before the backup, %d in all: the storm did not overlap it", len(before), len(acked))
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v", err, fi.Mode())
	}
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	db.Close()

	// A running server's store cannot be replaced.
	if err := run(t.Context(), []string{"restore", file, "--data", dir}, &out, &out, func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "running") {
		t.Fatalf("restore into a running server's data directory: %v", err)
	}

	// Restored into a new data directory, it serves every device
	// acknowledged before the backup began.
	fresh := t.TempDir()
	out.Reset()
	if err := run(t.Context(), []string{"restore", file, "--data", fresh}, &out, &out, func(string) string { return "" }); err != nil {
		t.Fatalf("restore: %v: %s", err, out.String())
	}
	r := startServer(t, fresh, func(c *Config) { c.AdminToken = otos.Secret(token) })
	for _, n := range before {
		var list struct {
			Items []otos.Device `json:"items"`
		}
		r.admin(t, "GET", "/api/v1/devices?device_number="+n, nil, http.StatusOK, &list)
		if len(list.Items) != 1 {
			t.Fatalf("device %s, acknowledged before the backup, is not in the restored store", n)
		}
	}
	// And the restored store registers.
	r.register(t, tpl.Secret, "after-restore-1")
}

// TestRestoreRefuses: a corrupt or foreign file is refused with a clear
// error, and the data directory is left as it was.
func TestRestoreRefuses(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	s.createTemplate(t, nil)
	s.Close()
	before, err := os.ReadFile(filepath.Join(dir, "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	writeFile(t, garbage, strings.Repeat("not a database ", 1000))
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	fdb, err := sql.Open("sqlite", "file:"+foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	fdb.Close()
	// A backup cut short: the first half of a real one.
	good := filepath.Join(t.TempDir(), "good.backup")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"backup", good, "--data", dir}, &out, &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(good)
	cut := filepath.Join(t.TempDir(), "cut.backup")
	writeFile(t, cut, string(whole[:len(whole)/2]))
	for name, c := range map[string]struct{ file, want string }{
		"garbage": {garbage, "not a SQLite database"},
		"foreign": {foreign, "not an otos database"},
		"cut":     {cut, "restore:"},
		"missing": {filepath.Join(t.TempDir(), "none"), "no such file"},
	} {
		err := run(t.Context(), []string{"restore", c.file, "--data", dir}, &out, &out, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "nothing changed") {
			t.Errorf("%s: %v, want an error saying %q and nothing changed", name, err, c.want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "otos.db"))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused restore changed the store")
	}
}
