package provision

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/otos-iot/otos"
)

// CreateTemplate implements otos.Admin.
func (a *Admin) CreateTemplate(ctx context.Context, p *otos.Principal, t *otos.Template) (_ otos.Secret, err error) {
	c, err := a.begin(p, otos.ActionTemplateCreate, "")
	defer func() { c.end(err) }()
	if err != nil {
		return "", err
	}
	sc, err := a.creationScope(ctx, p.Scope, t.TenantID)
	if err != nil {
		return "", err
	}
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
	if t.SubTemplates == nil {
		t.SubTemplates = []string{}
	}
	if t.CloneAction == "" {
		t.CloneAction = otos.CloneNone
	}
	if t.RotationOverlap == 0 {
		t.RotationOverlap = otos.DefaultRotationOverlap
	}
	if err := t.Validate(); err != nil {
		return "", err
	}
	if err := a.checkSubTemplates(ctx, sc.Tenant(), t); err != nil {
		return "", err
	}
	id, err := a.newID()
	if err != nil {
		return "", err
	}
	secret, ts, err := a.newTemplateSecret()
	if err != nil {
		return "", err
	}
	now := a.timestamp()
	t.ID, t.TenantID, t.CreatedAt, t.UpdatedAt = id, sc.Tenant(), now, now
	c.target, c.tenant = t.ID, t.TenantID
	ev := a.event(otos.EventTemplateCreated, t.TenantID, t.ID,
		otos.EventData{TemplateID: t.ID, Name: t.Name, DeviceType: t.DeviceType})
	if err := a.store.CreateTemplate(ctx, t, ts, ev); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	a.log.Info("template created", "template_id", t.ID, "tenant_id", t.TenantID)
	return secret, nil
}

// checkSubTemplates checks that each of t's sub-device templates is a
// sub-device template of tenant.
func (a *Admin) checkSubTemplates(ctx context.Context, tenant string, t *otos.Template) error {
	for _, id := range t.SubTemplates {
		sub, err := a.store.Template(ctx, id)
		if otos.ErrorCode(err) == otos.ENOTFOUND || err == nil && sub.TenantID != tenant {
			return otos.FieldError("sub_device_templates", otos.ReasonValue, "template %s does not exist in this tenant", id)
		}
		if err != nil {
			return err
		}
		if sub.DeviceType != otos.DeviceSubDevice {
			return otos.FieldError("sub_device_templates", otos.ReasonValue, "template %s is not a sub_device template", id)
		}
	}
	return nil
}

func (a *Admin) newTemplateSecret() (otos.Secret, otos.TemplateSecret, error) {
	secret, err := randomString(a.rand, templateSecretBytes)
	if err != nil {
		return "", otos.TemplateSecret{}, err
	}
	sealed, err := a.keys.Seal(a.rand, secret)
	if err != nil {
		return "", otos.TemplateSecret{}, err
	}
	return secret, otos.TemplateSecret{Hash: a.keys.Hash(secret), Sealed: sealed}, nil
}

// Template implements otos.Admin.
func (a *Admin) Template(ctx context.Context, p *otos.Principal, id string) (*otos.Template, error) {
	t, err := a.store.Template(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.Scope.Owns(t.TenantID) {
		return nil, notFound("template")
	}
	return t, nil
}

// Templates implements otos.Admin.
func (a *Admin) Templates(ctx context.Context, p *otos.Principal, f otos.TemplateFilter) ([]*otos.Template, string, error) {
	f.TenantID = string(p.Scope)
	return a.store.Templates(ctx, f)
}

// UpdateTemplate implements otos.Admin.
func (a *Admin) UpdateTemplate(ctx context.Context, p *otos.Principal, id string, u otos.TemplateUpdate) (_ *otos.Template, err error) {
	c, err := a.begin(p, otos.ActionTemplateUpdate, id)
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	t, err := a.Template(ctx, p, id)
	if err != nil {
		return nil, err
	}
	c.tenant = t.TenantID
	before := *t
	if err := u.Apply(t); err != nil {
		return nil, err
	}
	if err := a.checkSubTemplates(ctx, t.TenantID, t); err != nil {
		return nil, err
	}
	t.UpdatedAt = a.timestamp()
	ev := a.event(otos.EventTemplateUpdated, t.TenantID, t.ID,
		otos.EventData{TemplateID: t.ID, Name: t.Name, Changed: before.Changed(t)})
	if err := a.store.UpdateTemplate(ctx, t, ev); err != nil {
		return nil, err
	}
	a.views.forgetTemplate(t.ID)
	a.log.Info("template updated", "template_id", t.ID)
	return t, nil
}

// RotateSecret implements otos.Admin.
func (a *Admin) RotateSecret(ctx context.Context, p *otos.Principal, id string, graceSeconds *int64) (_ otos.Secret, _ time.Time, err error) {
	c, err := a.begin(p, otos.ActionTemplateRotateSecret, id)
	defer func() { c.end(err) }()
	if err != nil {
		return "", time.Time{}, err
	}
	grace := otos.DefaultGrace
	if graceSeconds != nil {
		if *graceSeconds < 0 || *graceSeconds > int64(otos.MaxGrace/time.Second) {
			return "", time.Time{}, otos.FieldError("grace_seconds", otos.ReasonValue,
				"grace_seconds must be between 0 and %d", int64(otos.MaxGrace/time.Second))
		}
		grace = time.Duration(*graceSeconds) * time.Second
	}
	t, err := a.Template(ctx, p, id)
	if err != nil {
		return "", time.Time{}, err
	}
	c.tenant = t.TenantID
	secret, ts, err := a.newTemplateSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := a.timestamp()
	until := now.Add(grace)
	ev := a.event(otos.EventTemplateRotated, t.TenantID, id, otos.EventData{TemplateID: id, PreviousValidUntil: &until})
	if err := a.store.RotateSecret(ctx, id, ts, until, now, ev); err != nil {
		return "", time.Time{}, fmt.Errorf("rotate secret: %w", err)
	}
	a.views.forgetTemplate(id)
	a.log.Info("template secret rotated", "template_id", id, "grace", grace.String())
	return secret, until, nil
}

// ImportAllowlist implements otos.Admin. Every number is checked first, so
// a bad one leaves the list as it was; the error names it by position
// ("device_numbers[17]").
// AllowlistKnown implements otos.Admin.
func (a *Admin) AllowlistKnown(ctx context.Context, p *otos.Principal, templateID string, numbers []string) (int, error) {
	if len(numbers) > otos.MaxAllowlistCheck {
		return 0, otos.FieldError("device_numbers", otos.ReasonTooLong, "at most %d numbers are checked at once", otos.MaxAllowlistCheck)
	}
	if _, err := a.Template(ctx, p, templateID); err != nil {
		return 0, err
	}
	known := 0
	for _, n := range numbers {
		ok, err := a.store.Allowed(ctx, templateID, n)
		if err != nil {
			return 0, err
		}
		if ok {
			known++
		}
	}
	return known, nil
}

// ImportAllowlist implements otos.Admin.
func (a *Admin) ImportAllowlist(ctx context.Context, p *otos.Principal, templateID string, numbers []string) (_ int, err error) {
	c, err := a.begin(p, otos.ActionTemplateAllowlist, templateID)
	defer func() { c.end(err) }()
	if err != nil {
		return 0, err
	}
	if len(numbers) == 0 {
		return 0, otos.FieldError("device_numbers", otos.ReasonRequired, "device_numbers is empty")
	}
	if len(numbers) > otos.MaxAllowlistImport {
		return 0, otos.FieldError("device_numbers", otos.ReasonTooLong,
			"at most %d device numbers per import, got %d: split the list", otos.MaxAllowlistImport, len(numbers))
	}
	for i, n := range numbers {
		if err := otos.ValidateDeviceNumber(fmt.Sprintf("device_numbers[%d]", i), n); err != nil {
			return 0, err
		}
	}
	t, err := a.Template(ctx, p, templateID)
	if err != nil {
		return 0, err
	}
	c.tenant = t.TenantID
	received := len(numbers)
	ev := a.event(otos.EventAllowlistChanged, t.TenantID, templateID, otos.EventData{TemplateID: templateID, Received: &received})
	added, err := a.store.AllowDevices(ctx, templateID, numbers, a.timestamp(), ev)
	if err != nil {
		return 0, fmt.Errorf("import allow-list: %w", err)
	}
	a.log.Info("allow-list imported", "template_id", templateID, "numbers", len(numbers), "added", added)
	return added, nil
}

// CreateProduct implements otos.Admin.
func (a *Admin) CreateProduct(ctx context.Context, p *otos.Principal, prod *otos.Product) (err error) {
	c, err := a.begin(p, otos.ActionProductCreate, "")
	defer func() { c.end(err) }()
	if err != nil {
		return err
	}
	if err := prod.Validate(); err != nil {
		return err
	}
	t, err := a.Template(ctx, p, prod.TemplateID)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return otos.FieldError("template_id", otos.ReasonValue, "template_id names no template of yours")
	}
	if err != nil {
		return err
	}
	if prod.ID, err = a.newID(); err != nil {
		return err
	}
	key := make([]byte, productKeyBytes)
	if _, err := io.ReadFull(a.rand, key); err != nil {
		return err
	}
	prod.TenantID, prod.ProductKey, prod.CreatedAt = t.TenantID, hex.EncodeToString(key), a.timestamp()
	c.target, c.tenant = prod.ID, prod.TenantID
	if err := a.store.CreateProduct(ctx, prod); err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	a.log.Info("product created", "product_id", prod.ID, "template_id", prod.TemplateID)
	return nil
}

// Products implements otos.Admin.
func (a *Admin) Products(ctx context.Context, p *otos.Principal, f otos.ProductFilter) ([]*otos.Product, string, error) {
	f.TenantID = string(p.Scope)
	return a.store.Products(ctx, f)
}

// Product implements otos.Admin.
func (a *Admin) Product(ctx context.Context, p *otos.Principal, id string) (*otos.Product, error) {
	prod, err := a.store.Product(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.Scope.Owns(prod.TenantID) {
		return nil, notFound("product")
	}
	return prod, nil
}
