package storetest

import (
	"testing"

	"github.com/otos-iot/otos"
)

func testProducts(t *testing.T, s otos.Store) {
	tpl, _ := newTemplate(t, s, otos.DefaultTenantID, otos.DeviceDirect)
	t.Run("create", func(t *testing.T) {
		p := newProduct(t, s, tpl)
		got, err := s.Product(t.Context(), p.ID)
		must(t, err)
		same(t, "product", productFields(got), productFields(p))
		got, err = s.ProductByKey(t.Context(), p.ProductKey)
		must(t, err)
		same(t, "product", productFields(got), productFields(p))
	})
	t.Run("fail/not-found", func(t *testing.T) {
		_, err := s.Product(t.Context(), newID())
		wantCode(t, err, otos.ENOTFOUND)
		_, err = s.ProductByKey(t.Context(), "pk-"+newID())
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("fail/key-taken", func(t *testing.T) {
		p := newProduct(t, s, tpl)
		again := productOf(tpl)
		again.ProductKey = p.ProductKey
		wantField(t, s.CreateProduct(t.Context(), again), otos.ECONFLICT, "product_key")
		_, err := s.Product(t.Context(), again.ID)
		wantCode(t, err, otos.ENOTFOUND)
	})
	t.Run("fail/id-taken", func(t *testing.T) {
		p := newProduct(t, s, tpl)
		again := productOf(tpl)
		again.ID = p.ID
		wantCode(t, s.CreateProduct(t.Context(), again), otos.ECONFLICT)
	})
	t.Run("fail/unknown-template", func(t *testing.T) {
		p := productOf(tpl)
		p.TemplateID = newID()
		wantCode(t, s.CreateProduct(t.Context(), p), otos.ENOTFOUND)
	})
	t.Run("list", func(t *testing.T) {
		tn := newTenant(t, s)
		a, _ := newTemplate(t, s, tn.ID, otos.DeviceDirect)
		b, _ := newTemplate(t, s, tn.ID, otos.DeviceGateway)
		var ofA, ofTenant []string
		for i := range 5 {
			owner := a
			if i%2 == 1 {
				owner = b
			}
			p := newProduct(t, s, owner)
			if owner == a {
				ofA = append(ofA, p.ID)
			}
			ofTenant = append(ofTenant, p.ID)
		}
		newProduct(t, s, tpl) // another tenant
		id := func(p *otos.Product) string { return p.ID }
		for _, limit := range []int{1, 2, 3, 100} {
			got := pages(t, limit, func(p otos.Page) ([]*otos.Product, string, error) {
				return s.Products(t.Context(), otos.ProductFilter{TemplateID: a.ID, Page: p})
			}, id)
			sameIDs(t, got, ofA)
			got = pages(t, limit, func(p otos.Page) ([]*otos.Product, string, error) {
				return s.Products(t.Context(), otos.ProductFilter{TenantID: tn.ID, Page: p})
			}, id)
			sameIDs(t, got, ofTenant)
		}
		_, _, err := s.Products(t.Context(), otos.ProductFilter{Page: otos.Page{Limit: otos.MaxPageLimit + 1}})
		wantField(t, err, otos.EINVALID, "limit")
		_, _, err = s.Products(t.Context(), otos.ProductFilter{Page: otos.Page{Cursor: "%%%"}})
		wantField(t, err, otos.EINVALID, "cursor")
	})
}
