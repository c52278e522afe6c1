package provision

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/otos-iot/otos"
)

// Scope is the tenant an operator acts for; "" is the system administrator,
// who sees every tenant and creates in the default one.
type Scope string

// owns reports whether the scope may see an object of tenantID.
func (sc Scope) owns(tenantID string) bool {
	return sc == "" || string(sc) == tenantID
}

// tenant is where the scope creates new objects.
func (sc Scope) tenant() string {
	if sc == "" {
		return otos.DefaultTenantID
	}
	return string(sc)
}

// Grace limits for RotateSecret.
const (
	DefaultGrace = 24 * time.Hour
	MaxGrace     = 30 * 24 * time.Hour
)

// ifNotFound returns alt when err is ENOTFOUND, and err otherwise: the
// store's "no such row" becomes the answer that fits the use case.
func ifNotFound(err, alt error) error {
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return alt
	}
	return err
}

func notFound(what string) error {
	return otos.Errorf(otos.ENOTFOUND, "%s not found", what)
}

// CreateTemplate stores a new template with defaults filled in and returns it
// with its template secret, which is never shown again.
func (s *Service) CreateTemplate(ctx context.Context, sc Scope, t *otos.Template) (otos.Secret, error) {
	if t.VoucherType == "" {
		t.VoucherType = otos.VoucherBasic
	}
	if t.Registration == "" {
		t.Registration = otos.RegistrationAuto
	}
	if t.Reregistration == "" {
		t.Reregistration = otos.ReregUntilConnected
	}
	if t.AuthMode == "" {
		t.AuthMode = otos.AuthAny
	}
	if err := t.Validate(); err != nil {
		return "", err
	}
	id, err := s.newID()
	if err != nil {
		return "", err
	}
	secret, ts, err := s.newTemplateSecret()
	if err != nil {
		return "", err
	}
	now := s.timestamp()
	t.ID, t.TenantID, t.CreatedAt, t.UpdatedAt = id, sc.tenant(), now, now
	if err := s.store.CreateTemplate(ctx, t, ts); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	s.log.Info("template created", "template_id", t.ID, "tenant_id", t.TenantID)
	return secret, nil
}

func (s *Service) newTemplateSecret() (otos.Secret, otos.TemplateSecret, error) {
	secret, err := randomString(s.rand, templateSecretBytes)
	if err != nil {
		return "", otos.TemplateSecret{}, err
	}
	sealed, err := s.keys.Seal(s.rand, secret)
	if err != nil {
		return "", otos.TemplateSecret{}, err
	}
	return secret, otos.TemplateSecret{Hash: s.keys.Hash(secret), Sealed: sealed}, nil
}

// Template returns template id if the scope may see it.
func (s *Service) Template(ctx context.Context, sc Scope, id string) (*otos.Template, error) {
	t, err := s.store.Template(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.owns(t.TenantID) {
		return nil, notFound("template")
	}
	return t, nil
}

// Templates lists the scope's templates.
func (s *Service) Templates(ctx context.Context, sc Scope, f otos.TemplateFilter) ([]*otos.Template, string, error) {
	f.TenantID = string(sc)
	return s.store.Templates(ctx, f)
}

// UpdateTemplate changes a template's name and registration settings.
func (s *Service) UpdateTemplate(ctx context.Context, sc Scope, id string, u otos.TemplateUpdate) (*otos.Template, error) {
	t, err := s.Template(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if err := u.Apply(t); err != nil {
		return nil, err
	}
	t.UpdatedAt = s.timestamp()
	if err := s.store.UpdateTemplate(ctx, t); err != nil {
		return nil, err
	}
	s.tplCache.forget(t.ID)
	s.log.Info("template updated", "template_id", t.ID)
	return t, nil
}

// RotateSecret gives template id a new secret; the old one keeps working for
// grace (zero: it stops at once). It returns the new secret and until when
// the old one is accepted.
func (s *Service) RotateSecret(ctx context.Context, sc Scope, id string, grace time.Duration) (otos.Secret, time.Time, error) {
	if grace < 0 || grace > MaxGrace {
		return "", time.Time{}, otos.FieldError("grace_seconds", otos.ReasonValue,
			"grace_seconds must be between 0 and %d", int(MaxGrace.Seconds()))
	}
	if _, err := s.Template(ctx, sc, id); err != nil {
		return "", time.Time{}, err
	}
	secret, ts, err := s.newTemplateSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.timestamp()
	until := now.Add(grace)
	if err := s.store.RotateSecret(ctx, id, ts, until, now); err != nil {
		return "", time.Time{}, fmt.Errorf("rotate secret: %w", err)
	}
	s.forgetSecrets(id)
	s.tplCache.forget(id)
	s.log.Info("template secret rotated", "template_id", id, "grace", grace.String())
	return secret, until, nil
}

// CreateProduct stores a new product bound to a template of the scope, with
// a fresh product key.
func (s *Service) CreateProduct(ctx context.Context, sc Scope, p *otos.Product) error {
	if err := p.Validate(); err != nil {
		return err
	}
	t, err := s.Template(ctx, sc, p.TemplateID)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return otos.FieldError("template_id", otos.ReasonValue, "template_id names no template of yours")
	}
	if err != nil {
		return err
	}
	if p.ID, err = s.newID(); err != nil {
		return err
	}
	key := make([]byte, productKeyBytes)
	if _, err := io.ReadFull(s.rand, key); err != nil {
		return err
	}
	p.TenantID, p.ProductKey, p.CreatedAt = t.TenantID, hex.EncodeToString(key), s.timestamp()
	if err := s.store.CreateProduct(ctx, p); err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	s.log.Info("product created", "product_id", p.ID, "template_id", p.TemplateID)
	return nil
}

// Products lists the scope's products.
func (s *Service) Products(ctx context.Context, sc Scope, f otos.ProductFilter) ([]*otos.Product, string, error) {
	f.TenantID = string(sc)
	return s.store.Products(ctx, f)
}

// Product returns product id if the scope may see it.
func (s *Service) Product(ctx context.Context, sc Scope, id string) (*otos.Product, error) {
	p, err := s.store.Product(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.owns(p.TenantID) {
		return nil, notFound("product")
	}
	return p, nil
}
