package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
)

// CreateProduct inserts p. ECONFLICT if its id or product key is taken,
// ENOTFOUND if its tenant or template does not exist.
func (d *DB) CreateProduct(ctx context.Context, p *otos.Product) error {
	if err := checkText("id", p.ID, "tenant_id", p.TenantID, "template_id", p.TemplateID, "name", p.Name,
		"product_key", p.ProductKey); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `INSERT INTO products (`+productColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.ID, p.TenantID, p.TemplateID, p.Name, p.ProductKey, p.CreatedAt)
	return d.fail("create product", err)
}

// Product returns the product with this id; ENOTFOUND if there is none.
func (d *DB) Product(ctx context.Context, id string) (*otos.Product, error) {
	return d.product(ctx, "id", "id", id)
}

// ProductByKey returns the product with this product key; ENOTFOUND if there
// is none.
func (d *DB) ProductByKey(ctx context.Context, key string) (*otos.Product, error) {
	return d.product(ctx, "product_key", "product_key", key)
}

// product returns the product whose column col (a constant) equals value,
// the JSON field.
func (d *DB) product(ctx context.Context, col, field, value string) (*otos.Product, error) {
	if err := checkText(field, value); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	p, err := scanProduct(d.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE `+col+` = $1`, value))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("product")
	}
	return p, d.fail("get product", err)
}

// Products lists products in id (creation) order with the next page's
// cursor, "" on the last page. EINVALID for a bad limit or cursor.
func (d *DB) Products(ctx context.Context, f otos.ProductFilter) ([]*otos.Product, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkText("tenant_id", f.TenantID, "template_id", f.TemplateID); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("template_id", f.TemplateID)
	return list(ctx, d, "list products", productColumns, "products", w, f.Page, scanProduct,
		func(p *otos.Product) string { return p.ID })
}
