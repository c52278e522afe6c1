// Package storetest is the conformance suite of otos.Store, and Faults, a
// store with failures injected for the core's tests. Every storage adapter
// runs the suite from its own tests, so that all adapters behave alike:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) otos.Store { return MustOpenDB(t) })
//	}
package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
)

// Run runs the suite. open must return a new store that holds nothing but the
// default tenant, and register its Close with t.Cleanup; the suite closes some
// stores itself, so a second Close must be harmless.
func Run(t *testing.T, open func(t *testing.T) otos.Store) {
	groups := []struct {
		name string
		run  func(t *testing.T, s otos.Store)
	}{
		{"Ping", testPing},
		{"Times", testTimes},
		{"Tenants", testTenants},
		{"Templates", testTemplates},
		{"TemplateSecrets", testTemplateSecrets},
		{"Products", testProducts},
		{"Devices", testDevices},
		{"DeviceList", testDeviceList},
		{"DeviceSearch", testDeviceSearch},
		{"DeviceCredential", testDeviceCredential},
		{"DeviceState", testDeviceState},
		{"VoucherLife", testVoucherLife},
		{"Tokens", testTokens},
		{"DeviceCap", testDeviceCap},
		{"Allowlist", testAllowlist},
		{"Nonces", testNonces},
		{"Audit", testAudit},
		{"TenantList", testTenantList},
		{"ServerKey", testServerKey},
		{"Concurrency", testConcurrency},
		{"Events", testEvents},
		{"EventOrder", testEventOrder},
		{"Webhooks", testWebhooks},
		{"Close", testClose},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open(t)) })
	}
}

// t0 is the suite's clock: a fixed time with whole microseconds, the
// precision that stores keep.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }

// newID returns a new UUIDv7: ids made in sequence sort in creation order.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// randomBytes returns 32 random bytes, e.g. a hash.
func randomBytes() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	return b
}

// newCredential returns the credential of a new BASIC voucher.
func newCredential() otos.Credential {
	return otos.Voucher{Username: otos.Secret(newID()), Password: otos.Secret(hex.EncodeToString(randomBytes()))}.Credential()
}

// must fails the test if err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantCode fails the test unless err has the code.
func wantCode(t *testing.T, err error, code otos.Code) {
	t.Helper()
	if got := otos.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (error %v), want %q", got, err, code)
	}
}

// wantField fails the test unless err has the code and names field.
func wantField(t *testing.T, err error, code otos.Code, field string) {
	t.Helper()
	wantCode(t, err, code)
	if got := otos.ErrorField(err); got != field {
		t.Fatalf("error field = %q (error %v), want %q", got, err, field)
	}
}

// newTenant creates a tenant.
func newTenant(t *testing.T, s otos.Store) *otos.Tenant {
	t.Helper()
	id := newID()
	tn := &otos.Tenant{ID: id, Name: "tenant " + id, CreatedAt: t0}
	must(t, s.CreateTenant(t.Context(), tn))
	return tn
}

// templateOf returns an unsaved template of kind typ in tenant tenantID.
func templateOf(tenantID string, typ otos.DeviceType) *otos.Template {
	return &otos.Template{
		ID: newID(), TenantID: tenantID, Name: "template " + string(typ), DeviceType: typ,
		VoucherType: otos.VoucherBasic, Registration: otos.RegistrationAuto,
		Reregistration: otos.ReregUntilConnected, AuthMode: otos.AuthAny, CreatedAt: t0, UpdatedAt: t0,
		RotationOverlap: otos.DefaultRotationOverlap,
	}
}

// newSecret returns a new template secret as a store keeps it.
func newSecret() otos.TemplateSecret {
	return otos.TemplateSecret{Hash: randomBytes(), Sealed: randomBytes()}
}

// newTemplate creates a template of kind typ in tenant tenantID and returns it
// with its secret.
func newTemplate(t *testing.T, s otos.Store, tenantID string, typ otos.DeviceType) (*otos.Template, otos.TemplateSecret) {
	t.Helper()
	tpl, sec := templateOf(tenantID, typ), newSecret()
	must(t, s.CreateTemplate(t.Context(), tpl, sec))
	return tpl, sec
}

// productOf returns an unsaved product of tpl.
func productOf(tpl *otos.Template) *otos.Product {
	id := newID()
	return &otos.Product{ID: id, TenantID: tpl.TenantID, TemplateID: tpl.ID, Name: "product", ProductKey: "pk-" + id, CreatedAt: t0}
}

// newProduct creates a product of tpl.
func newProduct(t *testing.T, s otos.Store, tpl *otos.Template) *otos.Product {
	t.Helper()
	p := productOf(tpl)
	must(t, s.CreateProduct(t.Context(), p))
	return p
}

// deviceOf returns an unsaved, enabled device of tpl with a fresh credential.
func deviceOf(tpl *otos.Template) *otos.Device {
	id := newID()
	return &otos.Device{
		ID: id, TenantID: tpl.TenantID, TemplateID: tpl.ID, DeviceNumber: "dn-" + id, Name: "device",
		Status: otos.StatusEnabled, CreatedAt: t0, UpdatedAt: t0, Credential: newCredential(),
	}
}

// newDevice creates a device of tpl, changed by edit if it is not nil.
func newDevice(t *testing.T, s otos.Store, tpl *otos.Template, edit func(*otos.Device)) *otos.Device {
	t.Helper()
	d := deviceOf(tpl)
	if edit != nil {
		edit(d)
	}
	must(t, s.CreateDevice(t.Context(), d))
	return d
}

// under returns an edit that makes a device the sub-device addr of parent.
func under(parent *otos.Device, addr string) func(*otos.Device) {
	return func(d *otos.Device) { d.ParentID, d.SubDeviceAddr = parent.ID, addr }
}

// fields is an object's fields in comparable form: times as UTC text (so
// that equal instants compare equal), bytes as hex, nil as "<nil>".
type fields map[string]string

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func tsp(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return ts(*t)
}

func hexOf(b []byte) string {
	if len(b) == 0 {
		return "<nil>" // a store may return nil or empty for an absent hash
	}
	return hex.EncodeToString(b)
}

// same reports every field in which got differs from want.
func same(t *testing.T, what string, got, want fields) {
	t.Helper()
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("%s.%s = %q, want %q", what, k, g, w)
		}
	}
}

func tenantFields(tn *otos.Tenant) fields {
	return fields{"ID": tn.ID, "Name": tn.Name, "CreatedAt": ts(tn.CreatedAt)}
}

func templateFields(tpl *otos.Template) fields {
	return fields{
		"ID": tpl.ID, "TenantID": tpl.TenantID, "Name": tpl.Name, "DeviceType": string(tpl.DeviceType),
		"VoucherType": string(tpl.VoucherType), "Registration": string(tpl.Registration),
		"Reregistration": string(tpl.Reregistration), "CreatedAt": ts(tpl.CreatedAt), "UpdatedAt": ts(tpl.UpdatedAt),
		"AuthMode": string(tpl.AuthMode), "MaxDevices": fmt.Sprint(tpl.MaxDevices), "RateLimit": fmt.Sprint(tpl.RateLimit),
		"DeviceCount": fmt.Sprint(tpl.DeviceCount), "RotationOverlap": fmt.Sprint(tpl.RotationOverlap),
		"VoucherLifetime": fmt.Sprint(tpl.VoucherLifetime),
	}
}

func productFields(p *otos.Product) fields {
	return fields{
		"ID": p.ID, "TenantID": p.TenantID, "TemplateID": p.TemplateID, "Name": p.Name,
		"ProductKey": p.ProductKey, "CreatedAt": ts(p.CreatedAt),
	}
}

func deviceFields(d *otos.Device) fields {
	return fields{
		"ID": d.ID, "TenantID": d.TenantID, "TemplateID": d.TemplateID, "ProductID": d.ProductID,
		"ParentID": d.ParentID, "DeviceNumber": d.DeviceNumber, "Name": d.Name, "SubDeviceAddr": d.SubDeviceAddr,
		"Status": string(d.Status), "CreatedAt": ts(d.CreatedAt), "UpdatedAt": ts(d.UpdatedAt),
		"FirstConnectedAt": tsp(d.FirstConnectedAt), "LastSeenAt": tsp(d.LastSeenAt),
		"Online": fmt.Sprint(d.Online), "Credential.Lookup": hexOf(d.Credential.Lookup),
		"Credential.PasswordHash": hexOf(d.Credential.PasswordHash),
		"VoucherExpiresAt":        tsp(d.VoucherExpiresAt), "Previous.Lookup": hexOf(d.Previous.Lookup),
		"Previous.PasswordHash": hexOf(d.Previous.PasswordHash), "PreviousUntil": tsp(d.PreviousUntil),
		"RotatedAt": tsp(d.RotatedAt), "RotationRequestedAt": tsp(d.RotationRequestedAt),
		"Hardware.IDHash": hexOf(d.Hardware.IDHash), "Hardware.PublicKey": hexOf(d.Hardware.PublicKey),
	}
}

func tokenFields(tk *otos.Token) fields {
	return fields{
		"ID": tk.ID, "TenantID": tk.TenantID, "Role": string(tk.Role), "Name": tk.Name, "Hash": hexOf(tk.Hash),
		"CreatedAt": ts(tk.CreatedAt), "ExpiresAt": tsp(tk.ExpiresAt), "RevokedAt": tsp(tk.RevokedAt),
	}
}

// sameDevice fails the test unless got is want, field by field.
func sameDevice(t *testing.T, got, want *otos.Device) {
	t.Helper()
	if got == nil {
		t.Fatal("device is nil")
	}
	same(t, "device", deviceFields(got), deviceFields(want))
}

// getDevice returns device id from the store.
func getDevice(t *testing.T, s otos.Store, id string) *otos.Device {
	t.Helper()
	d, err := s.Device(t.Context(), id)
	must(t, err)
	return d
}

func testPing(t *testing.T, s otos.Store) {
	must(t, s.Ping(t.Context()))
}

func testClose(t *testing.T, s otos.Store) {
	must(t, s.Close())
	wantCode(t, s.Ping(t.Context()), otos.EUNAVAILABLE)
	_, err := s.Device(t.Context(), newID())
	wantCode(t, err, otos.EUNAVAILABLE)
	wantCode(t, s.MarkConnected(t.Context(), newID(), randomBytes(), t0), otos.EUNAVAILABLE)
}

func testTimes(t *testing.T, s otos.Store) {
	t.Run("utc-microseconds", func(t *testing.T) {
		// Stored at microsecond precision, read back in UTC.
		in := time.Date(2026, 1, 2, 12, 4, 5, 678901999, time.FixedZone("UTC+9", 9*3600))
		tn := &otos.Tenant{ID: newID(), Name: "times", CreatedAt: in}
		must(t, s.CreateTenant(t.Context(), tn))
		got, err := s.Tenant(t.Context(), tn.ID)
		must(t, err)
		if want := in.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
			t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
		}
	})
	t.Run("optional", func(t *testing.T) {
		tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
		set := newDevice(t, s, tpl, func(d *otos.Device) {
			d.FirstConnectedAt, d.LastSeenAt, d.Online = ptr(at(time.Minute)), ptr(at(time.Hour)), true
		})
		unset := newDevice(t, s, tpl, nil)
		sameDevice(t, getDevice(t, s, set.ID), set)
		sameDevice(t, getDevice(t, s, unset.ID), unset)
		if got := getDevice(t, s, set.ID); got.LastSeenAt == nil || got.LastSeenAt.Location() != time.UTC {
			t.Errorf("LastSeenAt = %v, want a UTC time", got.LastSeenAt)
		}
	})
}

func testTenants(t *testing.T, s otos.Store) {
	t.Run("default", func(t *testing.T) {
		tn, err := s.Tenant(t.Context(), otos.DefaultTenantID)
		must(t, err)
		if tn.ID != otos.DefaultTenantID || tn.Name != "default" {
			t.Errorf("default tenant = %+v", tn)
		}
	})
	t.Run("create", func(t *testing.T) {
		tn := newTenant(t, s)
		got, err := s.Tenant(t.Context(), tn.ID)
		must(t, err)
		same(t, "tenant", tenantFields(got), tenantFields(tn))
	})
	t.Run("fail/conflict", func(t *testing.T) {
		tn := newTenant(t, s)
		wantCode(t, s.CreateTenant(t.Context(), &otos.Tenant{ID: tn.ID, Name: "again", CreatedAt: t0}), otos.ECONFLICT)
		wantCode(t, s.CreateTenant(t.Context(), &otos.Tenant{ID: otos.DefaultTenantID, Name: "x", CreatedAt: t0}), otos.ECONFLICT)
	})
	t.Run("fail/not-found", func(t *testing.T) {
		_, err := s.Tenant(t.Context(), newID())
		wantCode(t, err, otos.ENOTFOUND)
	})
}

// pages lists every page of a list, limit items at a time, checking the
// paging contract, and returns the ids in the order listed.
func pages[T any](t *testing.T, limit int, list func(otos.Page) ([]T, string, error), id func(T) string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatal("list does not end")
		}
		items, next, err := list(otos.Page{Limit: limit, Cursor: cursor})
		must(t, err)
		if len(items) > limit {
			t.Fatalf("page %d has %d items, limit %d", n, len(items), limit)
		}
		for _, it := range items {
			ids = append(ids, id(it))
		}
		if next == "" {
			return ids
		}
		if len(items) != limit {
			t.Fatalf("page %d has %d items and a next cursor, want a full page of %d", n, len(items), limit)
		}
		cursor = next
	}
}

// sameIDs fails the test unless got lists exactly want, in order.
func sameIDs(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %d ids:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
}
