package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otos-iot/otos"
)

// CreateProduct inserts p. ECONFLICT if its id or product key is taken,
// ENOTFOUND if its tenant or template does not exist.
func (d *DB) CreateProduct(ctx context.Context, p *otos.Product) error {
	_, err := d.exec(ctx, `INSERT INTO products (`+productColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		p.ID, p.TenantID, p.TemplateID, p.Name, p.ProductKey, micros(p.CreatedAt))
	return d.fail(ctx, "create product", err,
		ref{table: "tenants", id: p.TenantID, field: "tenant_id", name: "tenant"},
		ref{table: "templates", id: p.TemplateID, field: "template_id", name: "template"})
}

// Product returns the product with this id; ENOTFOUND if there is none.
func (d *DB) Product(ctx context.Context, id string) (*otos.Product, error) {
	return d.product(ctx, `id`, id)
}

// ProductByKey returns the product with this product key; ENOTFOUND if there
// is none.
func (d *DB) ProductByKey(ctx context.Context, key string) (*otos.Product, error) {
	return d.product(ctx, `product_key`, key)
}

// product returns the product whose column col (a constant) equals value.
func (d *DB) product(ctx context.Context, col, value string) (*otos.Product, error) {
	p, err := scanProduct(d.queryRow(ctx,
		`SELECT `+productColumns+` FROM products WHERE `+col+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("product")
	}
	return p, d.fail(ctx, "get product", err)
}

// Products lists products in id (creation) order with the next page's
// cursor, "" on the last page. EINVALID for a bad limit or cursor.
func (d *DB) Products(ctx context.Context, f otos.ProductFilter) ([]*otos.Product, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("template_id", f.TemplateID)
	return list(ctx, d, "list products", productColumns, "products", w, f.Page, scanProduct,
		func(p *otos.Product) string { return p.ID })
}
