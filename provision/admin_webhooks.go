package provision

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/otos-iot/otos"
)

// webhookSecretBytes is the size of a webhook secret, in random bytes.
const webhookSecretBytes = 24

// CreateWebhook implements otos.Admin.
func (a *Admin) CreateWebhook(ctx context.Context, p *otos.Principal, w *otos.Webhook) (_ otos.Secret, err error) {
	c, err := a.begin(p, otos.ActionWebhookCreate, "")
	defer func() { c.end(err) }()
	if err != nil {
		return "", err
	}
	sc, err := a.creationScope(ctx, p.Scope, w.TenantID)
	if err != nil {
		return "", err
	}
	if w.BatchSize == 0 {
		w.BatchSize = 1
	}
	if err := w.Validate(a.allowPrivateWebhooks); err != nil {
		return "", err
	}
	if w.ID, err = a.newID(); err != nil {
		return "", err
	}
	key := make([]byte, webhookSecretBytes)
	if _, err := io.ReadFull(a.rand, key); err != nil {
		return "", err
	}
	secret := otos.Secret(otos.WebhookSecretPrefix + base64.StdEncoding.EncodeToString(key))
	if w.Sealed, err = a.keys.Seal(a.rand, secret); err != nil {
		return "", err
	}
	if w.Types == nil {
		w.Types = []otos.EventType{}
	}
	w.TenantID, w.CreatedAt = sc.Tenant(), a.timestamp()
	c.target, c.tenant = w.ID, w.TenantID
	if err := a.store.CreateWebhook(ctx, w); err != nil {
		return "", fmt.Errorf("create webhook: %w", err)
	}
	a.log.Info("webhook created", "webhook_id", w.ID, "tenant_id", w.TenantID)
	return secret, nil
}

// Webhook implements otos.Admin.
func (a *Admin) Webhook(ctx context.Context, p *otos.Principal, id string) (*otos.Webhook, error) {
	w, err := a.store.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.Scope.Owns(w.TenantID) {
		return nil, notFound("webhook")
	}
	return w, nil
}

// Webhooks implements otos.Admin.
func (a *Admin) Webhooks(ctx context.Context, p *otos.Principal, pg otos.Page) ([]*otos.Webhook, string, error) {
	return a.store.Webhooks(ctx, otos.WebhookFilter{TenantID: string(p.Scope), Page: pg})
}

// DeleteWebhook implements otos.Admin.
func (a *Admin) DeleteWebhook(ctx context.Context, p *otos.Principal, id string) (err error) {
	c, err := a.begin(p, otos.ActionWebhookDelete, id)
	defer func() { c.end(err) }()
	if err != nil {
		return err
	}
	w, err := a.Webhook(ctx, p, id)
	if err != nil {
		return err
	}
	c.tenant = w.TenantID
	if err := a.store.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	a.log.Info("webhook deleted", "webhook_id", id)
	return nil
}

// Deliveries implements otos.Admin.
func (a *Admin) Deliveries(ctx context.Context, p *otos.Principal, f otos.DeliveryFilter) ([]*otos.Delivery, error) {
	switch f.State {
	case "", otos.DeliveryRetrying, otos.DeliveryWaiting, otos.DeliveryDead:
	default:
		return nil, otos.FieldError("state", otos.ReasonValue, "state must be retrying, waiting or dead")
	}
	if _, err := a.Webhook(ctx, p, f.WebhookID); err != nil {
		return nil, err
	}
	ds, _, err := a.store.Deliveries(ctx, f)
	return ds, err
}

// ResendDelivery implements otos.Admin.
func (a *Admin) ResendDelivery(ctx context.Context, p *otos.Principal, webhookID, eventID string) (_ *otos.Delivery, err error) {
	c, err := a.begin(p, otos.ActionWebhookResend, webhookID)
	defer func() { c.end(err) }()
	if err != nil {
		return nil, err
	}
	w, err := a.Webhook(ctx, p, webhookID)
	if err != nil {
		return nil, err
	}
	c.tenant = w.TenantID
	pos, err := a.store.EventPos(ctx, eventID)
	if err != nil {
		return nil, ifNotFound(err, notFound("delivery"))
	}
	ds, _, err := a.store.Deliveries(ctx, otos.DeliveryFilter{WebhookID: webhookID, After: pos - 1, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 || ds[0].Pos != pos {
		return nil, notFound("delivery")
	}
	d := ds[0]
	d.State, d.Attempts, d.NextAt, d.UpdatedAt = otos.DeliveryRetrying, 0, a.timestamp(), a.timestamp()
	if err := a.store.UpdateDelivery(ctx, d); err != nil {
		return nil, err
	}
	a.log.Info("webhook delivery sent again", "webhook_id", webhookID, "event_id", eventID)
	return d, nil
}

// Events implements otos.Admin.
func (a *Admin) Events(ctx context.Context, p *otos.Principal, after string, limit int) ([]*otos.Event, error) {
	var pos int64
	if after != "" {
		var err error
		if pos, err = a.store.EventPos(ctx, after); otos.ErrorCode(err) == otos.ENOTFOUND || otos.ErrorCode(err) == otos.EINVALID {
			return nil, otos.FieldError("after", otos.ReasonValue,
				"after names no event that is kept; start again without it (events are kept for a while only)")
		} else if err != nil {
			return nil, err
		}
	}
	return a.store.Events(ctx, otos.EventFilter{TenantID: string(p.Scope), After: pos, Limit: limit})
}
