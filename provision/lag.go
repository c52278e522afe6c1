package provision

import (
	"context"
	"time"

	"github.com/otos-iot/otos"
)

// WebhookLag is how far the tenants' webhooks are behind their events, as
// the store has it: every node that shares the store sees the same.
type WebhookLag struct {
	// Behind is the age of the oldest event that a webhook has still to
	// receive, not yet read or kept to retry, of the webhook furthest
	// behind; 0 when every webhook is up to date. A dead delivery does not
	// count: it waits for an operator, in Dead.
	Behind time.Duration
	// Dead is how many deliveries were given up after their retries and
	// wait for an operator; a webhook's count stops at otos.MaxPageLimit.
	Dead int64
}

// WebhookLag reads how far the webhooks are behind. It costs three small
// store reads per webhook: it is for a metrics scrape, not a hot path.
func (s *Service) WebhookLag(ctx context.Context) (WebhookLag, error) {
	var lag WebhookLag
	cursor := ""
	for {
		ws, next, err := s.core.store.Webhooks(ctx, otos.WebhookFilter{Page: otos.Page{Limit: otos.MaxPageLimit, Cursor: cursor}})
		if err != nil {
			return lag, err
		}
		for _, w := range ws {
			if err := s.core.addWebhookLag(ctx, w, &lag); err != nil {
				return lag, err
			}
		}
		if next == "" {
			return lag, nil
		}
		cursor = next
	}
}

// addWebhookLag adds w's figures to lag.
func (c *core) addWebhookLag(ctx context.Context, w *otos.Webhook, lag *WebhookLag) error {
	// The dispatcher reads the tenant's events after the cursor, wanted or
	// not: the first is the oldest it has not read. Those it read and could
	// not deliver are kept, in event order.
	unread, err := c.store.Events(ctx, otos.EventFilter{TenantID: w.TenantID, After: w.Cursor, Limit: 1})
	if err != nil {
		return err
	}
	_, kept, err := c.store.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, Live: true, Limit: 1})
	if err != nil {
		return err
	}
	for _, e := range append(unread, kept...) {
		lag.Behind = max(lag.Behind, c.now().Sub(e.At))
	}
	dead, _, err := c.store.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, State: otos.DeliveryDead, Limit: otos.MaxPageLimit})
	lag.Dead += int64(len(dead))
	return err
}
