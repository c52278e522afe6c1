package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/sqlite"
)

// runMigrate runs "otos migrate --from sqlite:PATH --to postgres://…": it
// copies a SQLite deployment into an empty PostgreSQL database and checks
// that both hold as many of everything.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otos migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the SQLite database to copy: sqlite:PATH (stop the server that uses it first)")
	to := fs.String("to", "", "the PostgreSQL database to fill: postgres://user@host/db (empty: no otos data yet)")
	keyFile := fs.String("key-file", "", "the server key file of the SQLite deployment, if it has one (default: server.key beside the database)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" || !isPostgres(*to) || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("migrate needs --from sqlite:PATH and --to postgres://…")
	}
	if *keyFile == "" {
		*keyFile = filepath.Join(filepath.Dir(path), "server.key")
	}
	// sqlite.Open would create a missing file: a mistyped path must fail.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from %s: %w", path, err)
	}
	src, err := sqlite.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to)
	if err != nil {
		return fmt.Errorf("open the PostgreSQL database: %w", err)
	}
	defer dst.Close()
	c := &copier{ctx: ctx, src: src, dst: dst, now: time.Now().UTC().Truncate(time.Microsecond), counts: map[string]int{}}
	if err := c.run(*keyFile); err != nil {
		return err
	}
	for _, kind := range []string{"tenants", "templates", "products", "devices", "tokens", "webhooks", "audit records", "allow-list entries"} {
		fmt.Fprintf(stdout, "%-18s %d copied, counts match\n", kind, c.counts[kind])
	}
	fmt.Fprintln(stdout, "server key         copied; template secrets verified.")
	return nil
}

// copier copies one store into another through otos.Store.
type copier struct {
	ctx      context.Context
	src, dst otos.Store
	now      time.Time
	counts   map[string]int
}

// each calls fn with every item of a list, page by page.
func each[T any](list func(otos.Page) ([]T, string, error), fn func(T) error) error {
	p := otos.Page{Limit: otos.MaxPageLimit}
	for {
		items, next, err := list(p)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		p.Cursor = next
	}
}

// count returns how many items a list has.
func count[T any](list func(otos.Page) ([]T, string, error)) (int, error) {
	n := 0
	err := each(list, func(T) error { n++; return nil })
	return n, err
}

func (c *copier) run(keyFile string) error {
	if err := c.checkEmpty(); err != nil {
		return err
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"server key", func() error { return c.serverKey(keyFile) }},
		{"tenants", c.tenants},
		{"templates", c.templates},
		{"products", c.products},
		{"devices", c.devices},
		{"caps", c.caps},
		{"allow-lists", c.allowlists},
		{"tokens", c.tokens},
		{"webhooks", c.webhooks},
		{"audit records", c.audit},
		{"verify", c.verify},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return fmt.Errorf("migrate %s: %w", s.name, err)
		}
	}
	return nil
}

// checkEmpty refuses a target that holds anything but the default tenant:
// the copy keeps ids, and mixing two deployments is not a migration.
func (c *copier) checkEmpty() error {
	tenants, err := count(func(p otos.Page) ([]*otos.Tenant, string, error) { return c.dst.Tenants(c.ctx, p) })
	if err != nil {
		return err
	}
	tokens, _, err := c.dst.Tokens(c.ctx, otos.TokenFilter{Page: otos.Page{Limit: 1}})
	if err != nil {
		return err
	}
	templates, _, err := c.dst.Templates(c.ctx, otos.TemplateFilter{Page: otos.Page{Limit: 1}})
	if err != nil {
		return err
	}
	if tenants > 1 || len(tokens) > 0 || len(templates) > 0 {
		return errors.New("the PostgreSQL database already holds otos data; migrate into an empty one")
	}
	return nil
}

// serverKey copies the server key: from the SQLite database, or from the
// key file that an older otos wrote beside it.
func (c *copier) serverKey(keyFile string) error {
	key, err := c.src.ServerKey(c.ctx)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		// Store the file's key in the source too, so that both agree.
		key, err = provision.ServerKey(c.ctx, c.src, keyFile, strings.NewReader(""))
		if err != nil {
			return fmt.Errorf("%w (the SQLite deployment has no server key to copy; pass --key-file)", err)
		}
	}
	if err != nil {
		return err
	}
	got, err := c.dst.InitServerKey(c.ctx, key)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, key) {
		return errors.New("the PostgreSQL database holds another server key")
	}
	return nil
}

func (c *copier) tenants() error {
	return each(func(p otos.Page) ([]*otos.Tenant, string, error) { return c.src.Tenants(c.ctx, p) },
		func(t *otos.Tenant) error {
			c.counts["tenants"]++
			if t.ID == otos.DefaultTenantID {
				return nil // every database has it
			}
			return c.dst.CreateTenant(c.ctx, t)
		})
}

// templates copies each template with its valid secrets. The target has no
// way to insert a secret in its grace period directly, so the secrets are
// replayed as rotations, the oldest first: each rotation gives the secret
// before it the grace that it had.
func (c *copier) templates() error {
	return each(func(p otos.Page) ([]*otos.Template, string, error) {
		return c.src.Templates(c.ctx, otos.TemplateFilter{Page: p})
	}, func(t *otos.Template) error {
		c.counts["templates"]++
		secrets, err := c.src.TemplateSecrets(c.ctx, t.ID, c.now)
		if err != nil {
			return err
		}
		if len(secrets) == 0 {
			return fmt.Errorf("template %s has no valid secret", t.ID)
		}
		// Current first, then by expiry, latest first: replay in reverse.
		slices.Reverse(secrets)
		cp := *t
		cp.MaxDevices = 0 // set after the devices are in: a cap lowered below the count must not refuse them
		first := secrets[0]
		first.ExpiresAt = time.Time{}
		if err := c.dst.CreateTemplate(c.ctx, &cp, first); err != nil {
			return err
		}
		for i := 1; i < len(secrets); i++ {
			next := secrets[i]
			next.ExpiresAt = time.Time{}
			if err := c.dst.RotateSecret(c.ctx, t.ID, next, secrets[i-1].ExpiresAt, c.now); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *copier) products() error {
	return each(func(p otos.Page) ([]*otos.Product, string, error) {
		return c.src.Products(c.ctx, otos.ProductFilter{Page: p})
	}, func(p *otos.Product) error {
		c.counts["products"]++
		return c.dst.CreateProduct(c.ctx, p)
	})
}

// devices copies the devices in two passes, gateways and direct devices
// before sub-devices, whose parents must exist first.
func (c *copier) devices() error {
	list := func(p otos.Page) ([]*otos.Device, string, error) {
		return c.src.Devices(c.ctx, otos.DeviceFilter{Page: p})
	}
	for _, subs := range []bool{false, true} {
		err := each(list, func(d *otos.Device) error {
			if (d.ParentID != "") != subs {
				return nil
			}
			c.counts["devices"]++
			return c.dst.CreateDevice(c.ctx, d)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// caps restores the templates' max_devices, now that the devices are in.
func (c *copier) caps() error {
	return each(func(p otos.Page) ([]*otos.Template, string, error) {
		return c.src.Templates(c.ctx, otos.TemplateFilter{Page: p})
	}, func(t *otos.Template) error {
		if t.MaxDevices == 0 {
			return nil
		}
		return c.dst.UpdateTemplate(c.ctx, t)
	})
}

// allowlists copies every template's allow-list.
func (c *copier) allowlists() error {
	return c.eachAllowlist(c.src, func(templateID string, numbers []string) error {
		c.counts["allow-list entries"] += len(numbers)
		_, err := c.dst.AllowDevices(c.ctx, templateID, numbers, c.now)
		return err
	})
}

// eachAllowlist calls fn with every page of every template's allow-list in s.
func (c *copier) eachAllowlist(s otos.Store, fn func(templateID string, numbers []string) error) error {
	return each(func(p otos.Page) ([]*otos.Template, string, error) {
		return c.src.Templates(c.ctx, otos.TemplateFilter{Page: p})
	}, func(t *otos.Template) error {
		p := otos.Page{Limit: otos.MaxPageLimit}
		for {
			numbers, next, err := s.Allowlist(c.ctx, t.ID, p)
			if err != nil {
				return err
			}
			if len(numbers) > 0 {
				if err := fn(t.ID, numbers); err != nil {
					return err
				}
			}
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
}

func (c *copier) tokens() error {
	return each(func(p otos.Page) ([]*otos.Token, string, error) {
		return c.src.Tokens(c.ctx, otos.TokenFilter{Page: p})
	}, func(t *otos.Token) error {
		c.counts["tokens"]++
		return c.dst.CreateToken(c.ctx, t)
	})
}

// webhooks copies the endpoints with their sealed secrets (the server key
// is copied first); in the target they receive its events from its start.
// Events, and deliveries not yet made, are not copied: they are the old
// deployment's.
func (c *copier) webhooks() error {
	return each(func(p otos.Page) ([]*otos.Webhook, string, error) {
		return c.src.Webhooks(c.ctx, otos.WebhookFilter{Page: p})
	}, func(w *otos.Webhook) error {
		c.counts["webhooks"]++
		return c.dst.CreateWebhook(c.ctx, w)
	})
}

func (c *copier) audit() error {
	var batch []*otos.AuditRecord
	err := each(func(p otos.Page) ([]*otos.AuditRecord, string, error) {
		return c.src.Audit(c.ctx, otos.AuditFilter{Page: p})
	}, func(r *otos.AuditRecord) error {
		c.counts["audit records"]++
		if batch = append(batch, r); len(batch) == 500 {
			err := c.dst.AppendAudit(c.ctx, batch)
			batch = nil
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.dst.AppendAudit(c.ctx, batch)
}

// verify counts everything in the target, and finds every template by each
// of its valid secrets.
func (c *copier) verify() error {
	got := map[string]int{}
	var err error
	counts := []struct {
		kind string
		n    func() (int, error)
	}{
		{"tenants", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.Tenant, string, error) { return c.dst.Tenants(c.ctx, p) })
		}},
		{"templates", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.Template, string, error) {
				return c.dst.Templates(c.ctx, otos.TemplateFilter{Page: p})
			})
		}},
		{"products", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.Product, string, error) {
				return c.dst.Products(c.ctx, otos.ProductFilter{Page: p})
			})
		}},
		{"devices", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.Device, string, error) {
				return c.dst.Devices(c.ctx, otos.DeviceFilter{Page: p})
			})
		}},
		{"tokens", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.Token, string, error) {
				return c.dst.Tokens(c.ctx, otos.TokenFilter{Page: p})
			})
		}},
		{"webhooks", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.Webhook, string, error) {
				return c.dst.Webhooks(c.ctx, otos.WebhookFilter{Page: p})
			})
		}},
		{"audit records", func() (int, error) {
			return count(func(p otos.Page) ([]*otos.AuditRecord, string, error) {
				return c.dst.Audit(c.ctx, otos.AuditFilter{Page: p})
			})
		}},
		{"allow-list entries", func() (int, error) {
			n := 0
			err := c.eachAllowlist(c.dst, func(_ string, numbers []string) error { n += len(numbers); return nil })
			return n, err
		}},
	}
	for _, k := range counts {
		if got[k.kind], err = k.n(); err != nil {
			return err
		}
		if got[k.kind] != c.counts[k.kind] {
			return fmt.Errorf("%s: %d in SQLite, %d in PostgreSQL", k.kind, c.counts[k.kind], got[k.kind])
		}
	}
	return each(func(p otos.Page) ([]*otos.Template, string, error) {
		return c.src.Templates(c.ctx, otos.TemplateFilter{Page: p})
	}, func(t *otos.Template) error {
		secrets, err := c.src.TemplateSecrets(c.ctx, t.ID, c.now)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			found, err := c.dst.TemplateBySecret(c.ctx, s.Hash, c.now)
			if err != nil || found.ID != t.ID {
				return fmt.Errorf("template %s: a secret does not find it in PostgreSQL (%v)", t.ID, err)
			}
		}
		return nil
	})
}
