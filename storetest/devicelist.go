package storetest

import (
	"fmt"
	"testing"

	"github.com/otos-iot/otos"
)

func testDeviceList(t *testing.T, s otos.Store) {
	// Two tenants; in the first a gateway template with a product, and a
	// sub-device template with devices under one of the gateways.
	tn := newTenant(t, s)
	gateways, _ := newTemplate(t, s, tn.ID, otos.DeviceGateway)
	subs, _ := newTemplate(t, s, tn.ID, otos.DeviceSubDevice)
	product := newProduct(t, s, gateways)
	other, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)

	var all []*otos.Device // in creation order
	add := func(tpl *otos.Template, edit func(*otos.Device)) *otos.Device {
		d := newDevice(t, s, tpl, edit)
		all = append(all, d)
		return d
	}
	var gw *otos.Device
	for i := range 7 {
		d := add(gateways, func(d *otos.Device) {
			if i%2 == 0 {
				d.ProductID = product.ID
			}
			if i%3 == 0 {
				d.Status = otos.StatusDisabled
			}
		})
		if i == 1 {
			gw = d
		}
		if i == 3 {
			for j := range 5 {
				add(subs, under(gw, fmt.Sprint(j)))
			}
		}
	}
	add(other, nil)
	add(other, nil)

	tests := []struct {
		name   string
		filter otos.DeviceFilter
		match  func(*otos.Device) bool
	}{
		{"all", otos.DeviceFilter{}, func(*otos.Device) bool { return true }},
		{"tenant", otos.DeviceFilter{TenantID: tn.ID}, func(d *otos.Device) bool { return d.TenantID == tn.ID }},
		{"template", otos.DeviceFilter{TemplateID: gateways.ID}, func(d *otos.Device) bool { return d.TemplateID == gateways.ID }},
		{"product", otos.DeviceFilter{ProductID: product.ID}, func(d *otos.Device) bool { return d.ProductID == product.ID }},
		{"parent", otos.DeviceFilter{ParentID: gw.ID}, func(d *otos.Device) bool { return d.ParentID == gw.ID }},
		{"device-number", otos.DeviceFilter{DeviceNumber: gw.DeviceNumber}, func(d *otos.Device) bool { return d.ID == gw.ID }},
		{"status/disabled", otos.DeviceFilter{Status: otos.StatusDisabled}, func(d *otos.Device) bool { return d.Status == otos.StatusDisabled }},
		{"status/enabled", otos.DeviceFilter{Status: otos.StatusEnabled}, func(d *otos.Device) bool { return d.Status == otos.StatusEnabled }},
		{"combined", otos.DeviceFilter{TenantID: tn.ID, TemplateID: gateways.ID, ProductID: product.ID, Status: otos.StatusEnabled},
			func(d *otos.Device) bool {
				return d.TemplateID == gateways.ID && d.ProductID == product.ID && d.Status == otos.StatusEnabled
			}},
		{"none", otos.DeviceFilter{TemplateID: gateways.ID, ParentID: gw.ID}, func(*otos.Device) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := []string{}
			for _, d := range all {
				if tt.match(d) {
					want = append(want, d.ID)
				}
			}
			if tt.name != "none" && len(want) == 0 {
				t.Fatal("the fixture has no matching device")
			}
			for _, limit := range []int{1, 2, 3, len(want), otos.MaxPageLimit} {
				if limit == 0 {
					continue
				}
				got := pages(t, limit, func(p otos.Page) ([]*otos.Device, string, error) {
					f := tt.filter
					f.Page = p
					return s.Devices(t.Context(), f)
				}, func(d *otos.Device) string { return d.ID })
				sameIDs(t, got, want)
			}
		})
	}
	t.Run("items", func(t *testing.T) {
		items, next, err := s.Devices(t.Context(), otos.DeviceFilter{ParentID: gw.ID})
		must(t, err)
		if next != "" || len(items) != 5 {
			t.Fatalf("got %d items, next %q; want 5 and no next page", len(items), next)
		}
		for _, d := range all {
			if d.ParentID == gw.ID {
				sameDevice(t, items[0], d) // list items are complete devices
				break
			}
		}
	})
	t.Run("fail", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			filter otos.DeviceFilter
			field  string
		}{
			{"status", otos.DeviceFilter{Status: "deleted"}, "status"},
			{"limit/negative", otos.DeviceFilter{Page: otos.Page{Limit: -1}}, "limit"},
			{"limit/too-large", otos.DeviceFilter{Page: otos.Page{Limit: otos.MaxPageLimit + 1}}, "limit"},
			{"cursor", otos.DeviceFilter{Page: otos.Page{Cursor: "***"}}, "cursor"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.Devices(t.Context(), tt.filter)
				wantField(t, err, otos.EINVALID, tt.field)
			})
		}
	})
}

// testDeviceSearch: the console's filters, online and a search by number
// or name prefix, with LIKE's wildcards taken literally.
func testDeviceSearch(t *testing.T, s otos.Store) {
	tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	a := newDevice(t, s, tpl, func(d *otos.Device) { d.DeviceNumber, d.Name = "srch-"+newID(), "kitchen 1" })
	b := newDevice(t, s, tpl, func(d *otos.Device) { d.Name = "kitchen_2" })
	c := newDevice(t, s, tpl, func(d *otos.Device) { d.Name = "hall 100%" })
	must(t, s.MarkConnected(t.Context(), b.ID, b.Credential.Lookup, t0))
	ids := func(f otos.DeviceFilter) []string {
		t.Helper()
		f.TemplateID = tpl.ID
		got, _, err := s.Devices(t.Context(), f)
		must(t, err)
		var out []string
		for _, d := range got {
			out = append(out, d.ID)
		}
		return out
	}
	on, off := true, false
	for _, c := range []struct {
		name string
		f    otos.DeviceFilter
		want []string
	}{
		{"online", otos.DeviceFilter{Online: &on}, []string{b.ID}},
		{"offline", otos.DeviceFilter{Online: &off}, []string{a.ID, c.ID}},
		{"name-prefix", otos.DeviceFilter{Search: "kitchen"}, []string{a.ID, b.ID}},
		{"underscore-literal", otos.DeviceFilter{Search: "kitchen_"}, []string{b.ID}},
		{"percent-literal", otos.DeviceFilter{Search: "hall 100%"}, []string{c.ID}},
		{"percent-not-wildcard", otos.DeviceFilter{Search: "%"}, nil},
		{"number", otos.DeviceFilter{Search: a.DeviceNumber}, []string{a.ID}},
		{"number-prefix", otos.DeviceFilter{Search: "srch-"}, []string{a.ID}},
		{"case", otos.DeviceFilter{Search: "KITCHEN"}, []string{a.ID, b.ID}},
	} {
		if got := ids(c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
