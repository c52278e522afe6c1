package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/sqlite"
)

// BenchmarkConsoleDevices renders the console's devices page over a store
// of OTOS_BENCH_DEVICES devices (default 1,000,000, loaded in bulk, not
// through HTTP): the first page, a page deep in the list (keyset: as fast),
// one template's devices, and a name search. Each op is one page, as the
// browser asks for it over loopback. Run it on its own:
//
//	go test -run '^$' -bench ConsoleDevices -benchtime 200x ./cmd/otos
func BenchmarkConsoleDevices(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("OTOS_BENCH_DEVICES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	s := startServer(b, "", nil)
	db, ok := s.Store.(*sqlite.DB)
	if !ok {
		b.Skip("the bulk loader is SQLite's")
	}
	var tpls [2]template
	for i := range tpls {
		tpls[i] = s.createTemplateB(b, fmt.Sprintf("bench-%d", i))
	}
	ids, tplIDs := make([]string, 0, n), [2]string{}
	for i := range tplIDs {
		var t otos.Template
		s.adminB(b, "GET", "/api/v1/templates/"+tpls[i].ID, &t)
		tplIDs[i] = t.ID
	}
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const batch = 20_000
	for lo := 0; lo < n; lo += batch {
		ds := make([]*otos.Device, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			lookup := make([]byte, 38)
			_, _ = rand.Read(lookup)
			id := uuid.Must(uuid.NewV7()).String()
			tpl := tplIDs[i%2]
			ds = append(ds, &otos.Device{ID: id, TenantID: otos.DefaultTenantID, TemplateID: tpl,
				DeviceNumber: fmt.Sprintf("AA:%08d", i), Name: fmt.Sprintf("sensor %d", i), Status: otos.StatusEnabled,
				CreatedAt: now, UpdatedAt: now, Credential: otos.Credential{Lookup: lookup, PasswordHash: lookup[6:]}})
			ids = append(ids, id)
		}
		if err := db.LoadDevices(b.Context(), ds); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d devices in %v", n, time.Since(start).Round(time.Millisecond))
	c := consoleLogin(b, s.URL, s.Token)
	middle := otos.EncodeCursor(ids[n/2])
	for _, p := range []struct{ name, path string }{
		{"first-page", "/console/devices"},
		{"middle-page", "/console/devices?cursor=" + middle},
		{"one-template", "/console/devices?template=" + tplIDs[1]},
		{"search-number-prefix", "/console/devices?q=AA:0099"},
		{"search-rare-name", "/console/devices?q=sensor%20" + strconv.Itoa(n-1)},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				res, err := c.Get(s.URL + p.path)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := readAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || len(body) < 1000 {
					b.Fatalf("%s: %d %s", p.path, res.StatusCode, body)
				}
			}
		})
	}
}

// createTemplateB creates a template named name.
func (s *testServer) createTemplateB(b *testing.B, name string) template {
	b.Helper()
	var tp template
	s.adminB(b, "POST", "/api/v1/templates", &tp, map[string]any{"name": name, "device_type": "direct"})
	return tp
}

// adminB calls the admin API for a benchmark and decodes the answer.
func (s *testServer) adminB(b *testing.B, method, path string, out any, body ...any) {
	b.Helper()
	var in any
	if len(body) > 0 {
		in = body[0]
	}
	want := http.StatusOK
	if method == "POST" {
		want = http.StatusCreated
	}
	s.admin(b, method, path, in, want, out)
}
