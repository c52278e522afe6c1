package storemetrics

import (
	"context"
	"time"

	"github.com/otos-iot/otos"
)

// The methods of otos.Store, each passing its own name to observe (which
// storemetrics_test.go checks) and its arguments to the wrapped store.

// Ping calls the store's Ping.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe("Ping", time.Now(), &err)
	return s.next.Ping(ctx)
}

// Close calls the store's Close.
func (s *Store) Close() (err error) {
	defer s.observe("Close", time.Now(), &err)
	return s.next.Close()
}

// CreateTenant calls the store's CreateTenant.
func (s *Store) CreateTenant(ctx context.Context, t *otos.Tenant) (err error) {
	defer s.observe("CreateTenant", time.Now(), &err)
	return s.next.CreateTenant(ctx, t)
}

// Tenant calls the store's Tenant.
func (s *Store) Tenant(ctx context.Context, id string) (_ *otos.Tenant, err error) {
	defer s.observe("Tenant", time.Now(), &err)
	return s.next.Tenant(ctx, id)
}

// Tenants calls the store's Tenants.
func (s *Store) Tenants(ctx context.Context, p otos.Page) (_ []*otos.Tenant, _ string, err error) {
	defer s.observe("Tenants", time.Now(), &err)
	return s.next.Tenants(ctx, p)
}

// AppendAudit calls the store's AppendAudit.
func (s *Store) AppendAudit(ctx context.Context, rs []*otos.AuditRecord) (err error) {
	defer s.observe("AppendAudit", time.Now(), &err)
	return s.next.AppendAudit(ctx, rs)
}

// Audit calls the store's Audit.
func (s *Store) Audit(ctx context.Context, f otos.AuditFilter) (_ []*otos.AuditRecord, _ string, err error) {
	defer s.observe("Audit", time.Now(), &err)
	return s.next.Audit(ctx, f)
}

// PruneAudit calls the store's PruneAudit.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (_ int64, err error) {
	defer s.observe("PruneAudit", time.Now(), &err)
	return s.next.PruneAudit(ctx, before)
}

// CreateTemplate calls the store's CreateTemplate.
func (s *Store) CreateTemplate(ctx context.Context, t *otos.Template, secret otos.TemplateSecret, events ...*otos.Event) (err error) {
	defer s.observe("CreateTemplate", time.Now(), &err)
	return s.next.CreateTemplate(ctx, t, secret, events...)
}

// Template calls the store's Template.
func (s *Store) Template(ctx context.Context, id string) (_ *otos.Template, err error) {
	defer s.observe("Template", time.Now(), &err)
	return s.next.Template(ctx, id)
}

// Templates calls the store's Templates.
func (s *Store) Templates(ctx context.Context, f otos.TemplateFilter) (_ []*otos.Template, _ string, err error) {
	defer s.observe("Templates", time.Now(), &err)
	return s.next.Templates(ctx, f)
}

// UpdateTemplate calls the store's UpdateTemplate.
func (s *Store) UpdateTemplate(ctx context.Context, t *otos.Template, events ...*otos.Event) (err error) {
	defer s.observe("UpdateTemplate", time.Now(), &err)
	return s.next.UpdateTemplate(ctx, t, events...)
}

// TemplateBySecret calls the store's TemplateBySecret.
func (s *Store) TemplateBySecret(ctx context.Context, hash []byte, now time.Time) (_ *otos.Template, err error) {
	defer s.observe("TemplateBySecret", time.Now(), &err)
	return s.next.TemplateBySecret(ctx, hash, now)
}

// TemplateSecrets calls the store's TemplateSecrets.
func (s *Store) TemplateSecrets(ctx context.Context, templateID string, now time.Time) (_ []otos.TemplateSecret, err error) {
	defer s.observe("TemplateSecrets", time.Now(), &err)
	return s.next.TemplateSecrets(ctx, templateID, now)
}

// AllowDevices calls the store's AllowDevices.
func (s *Store) AllowDevices(ctx context.Context, templateID string, numbers []string, now time.Time, events ...*otos.Event) (_ int, err error) {
	defer s.observe("AllowDevices", time.Now(), &err)
	return s.next.AllowDevices(ctx, templateID, numbers, now, events...)
}

// Allowed calls the store's Allowed.
func (s *Store) Allowed(ctx context.Context, templateID, number string) (_ bool, err error) {
	defer s.observe("Allowed", time.Now(), &err)
	return s.next.Allowed(ctx, templateID, number)
}

// Allowlist calls the store's Allowlist.
func (s *Store) Allowlist(ctx context.Context, templateID string, p otos.Page) (_ []string, _ string, err error) {
	defer s.observe("Allowlist", time.Now(), &err)
	return s.next.Allowlist(ctx, templateID, p)
}

// UseNonce calls the store's UseNonce.
func (s *Store) UseNonce(ctx context.Context, templateID, nonce string, expires, now time.Time) (err error) {
	defer s.observe("UseNonce", time.Now(), &err)
	return s.next.UseNonce(ctx, templateID, nonce, expires, now)
}

// RotateSecret calls the store's RotateSecret.
func (s *Store) RotateSecret(ctx context.Context, templateID string, secret otos.TemplateSecret, graceUntil, now time.Time, events ...*otos.Event) (err error) {
	defer s.observe("RotateSecret", time.Now(), &err)
	return s.next.RotateSecret(ctx, templateID, secret, graceUntil, now, events...)
}

// CreateProduct calls the store's CreateProduct.
func (s *Store) CreateProduct(ctx context.Context, p *otos.Product) (err error) {
	defer s.observe("CreateProduct", time.Now(), &err)
	return s.next.CreateProduct(ctx, p)
}

// Product calls the store's Product.
func (s *Store) Product(ctx context.Context, id string) (_ *otos.Product, err error) {
	defer s.observe("Product", time.Now(), &err)
	return s.next.Product(ctx, id)
}

// ProductByKey calls the store's ProductByKey.
func (s *Store) ProductByKey(ctx context.Context, key string) (_ *otos.Product, err error) {
	defer s.observe("ProductByKey", time.Now(), &err)
	return s.next.ProductByKey(ctx, key)
}

// Products calls the store's Products.
func (s *Store) Products(ctx context.Context, f otos.ProductFilter) (_ []*otos.Product, _ string, err error) {
	defer s.observe("Products", time.Now(), &err)
	return s.next.Products(ctx, f)
}

// CreateDevice calls the store's CreateDevice.
func (s *Store) CreateDevice(ctx context.Context, d *otos.Device, events ...*otos.Event) (err error) {
	defer s.observe("CreateDevice", time.Now(), &err)
	return s.next.CreateDevice(ctx, d, events...)
}

// Device calls the store's Device.
func (s *Store) Device(ctx context.Context, id string) (_ *otos.Device, err error) {
	defer s.observe("Device", time.Now(), &err)
	return s.next.Device(ctx, id)
}

// DeviceByNumber calls the store's DeviceByNumber.
func (s *Store) DeviceByNumber(ctx context.Context, number string) (_ *otos.Device, err error) {
	defer s.observe("DeviceByNumber", time.Now(), &err)
	return s.next.DeviceByNumber(ctx, number)
}

// DeviceByCredential calls the store's DeviceByCredential.
func (s *Store) DeviceByCredential(ctx context.Context, lookup []byte) (_ *otos.Device, err error) {
	defer s.observe("DeviceByCredential", time.Now(), &err)
	return s.next.DeviceByCredential(ctx, lookup)
}

// Devices calls the store's Devices.
func (s *Store) Devices(ctx context.Context, f otos.DeviceFilter) (_ []*otos.Device, _ string, err error) {
	defer s.observe("Devices", time.Now(), &err)
	return s.next.Devices(ctx, f)
}

// ReissueCredential calls the store's ReissueCredential.
func (s *Store) ReissueCredential(ctx context.Context, id string, r otos.Reissue, now time.Time, events ...*otos.Event) (_ *otos.Device, err error) {
	defer s.observe("ReissueCredential", time.Now(), &err)
	return s.next.ReissueCredential(ctx, id, r, now, events...)
}

// RotateCredential calls the store's RotateCredential.
func (s *Store) RotateCredential(ctx context.Context, id string, r otos.Rotation, now time.Time, events ...*otos.Event) (_ *otos.Device, err error) {
	defer s.observe("RotateCredential", time.Now(), &err)
	return s.next.RotateCredential(ctx, id, r, now, events...)
}

// EndOverlap calls the store's EndOverlap.
func (s *Store) EndOverlap(ctx context.Context, id string, lookup []byte, now time.Time) (err error) {
	defer s.observe("EndOverlap", time.Now(), &err)
	return s.next.EndOverlap(ctx, id, lookup, now)
}

// RequestRotation calls the store's RequestRotation.
func (s *Store) RequestRotation(ctx context.Context, scope otos.RotationScope, deadline *time.Time, now time.Time) (_ int64, err error) {
	defer s.observe("RequestRotation", time.Now(), &err)
	return s.next.RequestRotation(ctx, scope, deadline, now)
}

// SetHardware calls the store's SetHardware.
func (s *Store) SetHardware(ctx context.Context, id string, h otos.Hardware, now time.Time, events ...*otos.Event) (_ *otos.Device, err error) {
	defer s.observe("SetHardware", time.Now(), &err)
	return s.next.SetHardware(ctx, id, h, now, events...)
}

// SetDeviceStatus calls the store's SetDeviceStatus.
func (s *Store) SetDeviceStatus(ctx context.Context, id string, status otos.DeviceStatus, now time.Time, events ...*otos.Event) (_ *otos.Device, err error) {
	defer s.observe("SetDeviceStatus", time.Now(), &err)
	return s.next.SetDeviceStatus(ctx, id, status, now, events...)
}

// ResetDevice calls the store's ResetDevice.
func (s *Store) ResetDevice(ctx context.Context, id string, now time.Time, events ...*otos.Event) (_ *otos.Device, err error) {
	defer s.observe("ResetDevice", time.Now(), &err)
	return s.next.ResetDevice(ctx, id, now, events...)
}

// DeleteDevice calls the store's DeleteDevice.
func (s *Store) DeleteDevice(ctx context.Context, id string, events ...*otos.Event) (err error) {
	defer s.observe("DeleteDevice", time.Now(), &err)
	return s.next.DeleteDevice(ctx, id, events...)
}

// MarkConnected calls the store's MarkConnected.
func (s *Store) MarkConnected(ctx context.Context, id string, lookup []byte, at time.Time, events ...*otos.Event) (err error) {
	defer s.observe("MarkConnected", time.Now(), &err)
	return s.next.MarkConnected(ctx, id, lookup, at, events...)
}

// RecordPresence calls the store's RecordPresence.
func (s *Store) RecordPresence(ctx context.Context, ps []otos.Presence, events ...*otos.Event) (err error) {
	defer s.observe("RecordPresence", time.Now(), &err)
	return s.next.RecordPresence(ctx, ps, events...)
}

// AppendEvents calls the store's AppendEvents.
func (s *Store) AppendEvents(ctx context.Context, es []*otos.Event) (err error) {
	defer s.observe("AppendEvents", time.Now(), &err)
	return s.next.AppendEvents(ctx, es)
}

// Events calls the store's Events.
func (s *Store) Events(ctx context.Context, f otos.EventFilter) (_ []*otos.Event, err error) {
	defer s.observe("Events", time.Now(), &err)
	return s.next.Events(ctx, f)
}

// EventPos calls the store's EventPos.
func (s *Store) EventPos(ctx context.Context, id string) (_ int64, err error) {
	defer s.observe("EventPos", time.Now(), &err)
	return s.next.EventPos(ctx, id)
}

// LastEventPos calls the store's LastEventPos.
func (s *Store) LastEventPos(ctx context.Context) (_ int64, err error) {
	defer s.observe("LastEventPos", time.Now(), &err)
	return s.next.LastEventPos(ctx)
}

// PruneEvents calls the store's PruneEvents.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (_ int64, err error) {
	defer s.observe("PruneEvents", time.Now(), &err)
	return s.next.PruneEvents(ctx, before)
}

// CreateWebhook calls the store's CreateWebhook.
func (s *Store) CreateWebhook(ctx context.Context, w *otos.Webhook) (err error) {
	defer s.observe("CreateWebhook", time.Now(), &err)
	return s.next.CreateWebhook(ctx, w)
}

// Webhook calls the store's Webhook.
func (s *Store) Webhook(ctx context.Context, id string) (_ *otos.Webhook, err error) {
	defer s.observe("Webhook", time.Now(), &err)
	return s.next.Webhook(ctx, id)
}

// Webhooks calls the store's Webhooks.
func (s *Store) Webhooks(ctx context.Context, f otos.WebhookFilter) (_ []*otos.Webhook, _ string, err error) {
	defer s.observe("Webhooks", time.Now(), &err)
	return s.next.Webhooks(ctx, f)
}

// DeleteWebhook calls the store's DeleteWebhook.
func (s *Store) DeleteWebhook(ctx context.Context, id string) (err error) {
	defer s.observe("DeleteWebhook", time.Now(), &err)
	return s.next.DeleteWebhook(ctx, id)
}

// LeaseWebhook calls the store's LeaseWebhook.
func (s *Store) LeaseWebhook(ctx context.Context, id, node string, until, now time.Time) (_ *otos.Webhook, err error) {
	defer s.observe("LeaseWebhook", time.Now(), &err)
	return s.next.LeaseWebhook(ctx, id, node, until, now)
}

// AdvanceWebhook calls the store's AdvanceWebhook.
func (s *Store) AdvanceWebhook(ctx context.Context, id, node string, cursor int64, ds []*otos.Delivery, now time.Time) (err error) {
	defer s.observe("AdvanceWebhook", time.Now(), &err)
	return s.next.AdvanceWebhook(ctx, id, node, cursor, ds, now)
}

// Deliveries calls the store's Deliveries.
func (s *Store) Deliveries(ctx context.Context, f otos.DeliveryFilter) (_ []*otos.Delivery, _ []*otos.Event, err error) {
	defer s.observe("Deliveries", time.Now(), &err)
	return s.next.Deliveries(ctx, f)
}

// PendingSubjects calls the store's PendingSubjects.
func (s *Store) PendingSubjects(ctx context.Context, id string, subjects []string) (_ []string, err error) {
	defer s.observe("PendingSubjects", time.Now(), &err)
	return s.next.PendingSubjects(ctx, id, subjects)
}

// UpdateDelivery calls the store's UpdateDelivery.
func (s *Store) UpdateDelivery(ctx context.Context, d *otos.Delivery) (err error) {
	defer s.observe("UpdateDelivery", time.Now(), &err)
	return s.next.UpdateDelivery(ctx, d)
}

// DeleteDelivery calls the store's DeleteDelivery.
func (s *Store) DeleteDelivery(ctx context.Context, id string, pos int64) (err error) {
	defer s.observe("DeleteDelivery", time.Now(), &err)
	return s.next.DeleteDelivery(ctx, id, pos)
}

// CreateToken calls the store's CreateToken.
func (s *Store) CreateToken(ctx context.Context, t *otos.Token) (err error) {
	defer s.observe("CreateToken", time.Now(), &err)
	return s.next.CreateToken(ctx, t)
}

// Token calls the store's Token.
func (s *Store) Token(ctx context.Context, id string) (_ *otos.Token, err error) {
	defer s.observe("Token", time.Now(), &err)
	return s.next.Token(ctx, id)
}

// TokenByHash calls the store's TokenByHash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (_ *otos.Token, err error) {
	defer s.observe("TokenByHash", time.Now(), &err)
	return s.next.TokenByHash(ctx, hash)
}

// RevokeTokensByName calls the store's RevokeTokensByName.
func (s *Store) RevokeTokensByName(ctx context.Context, name string, now time.Time) (err error) {
	defer s.observe("RevokeTokensByName", time.Now(), &err)
	return s.next.RevokeTokensByName(ctx, name, now)
}

// Tokens calls the store's Tokens.
func (s *Store) Tokens(ctx context.Context, f otos.TokenFilter) (_ []*otos.Token, _ string, err error) {
	defer s.observe("Tokens", time.Now(), &err)
	return s.next.Tokens(ctx, f)
}

// RevokeToken calls the store's RevokeToken.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) (_ *otos.Token, err error) {
	defer s.observe("RevokeToken", time.Now(), &err)
	return s.next.RevokeToken(ctx, id, now)
}

// ServerKey calls the store's ServerKey.
func (s *Store) ServerKey(ctx context.Context) (_ []byte, err error) {
	defer s.observe("ServerKey", time.Now(), &err)
	return s.next.ServerKey(ctx)
}

// InitServerKey calls the store's InitServerKey.
func (s *Store) InitServerKey(ctx context.Context, key []byte) (_ []byte, err error) {
	defer s.observe("InitServerKey", time.Now(), &err)
	return s.next.InitServerKey(ctx, key)
}
