package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storetypes"
)

const webhookColumns = `id, tenant_id, url, types, batch_size, sealed, created_at, cursor`

// CreateWebhook inserts w with its cursor at the newest event. ECONFLICT if
// its id is taken, ENOTFOUND if its tenant does not exist.
func (d *DB) CreateWebhook(ctx context.Context, w *otos.Webhook) error {
	if err := checkText("id", w.ID, "tenant_id", w.TenantID, "url", w.URL); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.pool.QueryRow(ctx, `INSERT INTO webhooks (id, tenant_id, url, types, batch_size, sealed, created_at, cursor)
		VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT last FROM event_counter)) RETURNING cursor`,
		w.ID, w.TenantID, w.URL, storetypes.Join(w.Types), max(w.BatchSize, 1), w.Sealed, w.CreatedAt).Scan(&w.Cursor)
	return d.fail("create webhook", err)
}

func scanWebhook(s scanner) (*otos.Webhook, error) {
	var w otos.Webhook
	var types string
	if err := s.Scan(&w.ID, &w.TenantID, &w.URL, &types, &w.BatchSize, &w.Sealed, &w.CreatedAt, &w.Cursor); err != nil {
		return nil, err
	}
	w.Types, w.CreatedAt = storetypes.Split(types), w.CreatedAt.UTC()
	return &w, nil
}

// Webhook returns the webhook with this id; ENOTFOUND if there is none.
func (d *DB) Webhook(ctx context.Context, id string) (*otos.Webhook, error) {
	if err := checkText("id", id); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	w, err := scanWebhook(d.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("webhook")
	}
	return w, d.fail("get webhook", err)
}

// Webhooks lists webhooks in creation order.
func (d *DB) Webhooks(ctx context.Context, f otos.WebhookFilter) ([]*otos.Webhook, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkText("tenant_id", f.TenantID); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	return list(ctx, d, "list webhooks", webhookColumns, "webhooks", w, f.Page, scanWebhook,
		func(w *otos.Webhook) string { return w.ID })
}

// DeleteWebhook deletes webhook id and, by foreign key, its deliveries.
func (d *DB) DeleteWebhook(ctx context.Context, id string) error {
	if err := checkText("id", id); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("webhook")
	}
	return d.fail("delete webhook", err)
}

// LeaseWebhook gives node the webhook's delivery until until, unless
// another node's lease is live at now (ECONFLICT).
func (d *DB) LeaseWebhook(ctx context.Context, id, node string, until, now time.Time) (*otos.Webhook, error) {
	if err := checkText("id", id, "node", node); err != nil {
		return nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	w, err := scanWebhook(d.pool.QueryRow(ctx, `UPDATE webhooks SET lease_node = $1, lease_until = $2
		WHERE id = $3 AND (lease_node = $1 OR lease_until <= $4) RETURNING `+webhookColumns, node, until, id, now))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := d.Webhook(ctx, id); err != nil {
			return nil, err
		}
		return nil, otos.Errorf(otos.ECONFLICT, "another node delivers this webhook's events")
	}
	return w, d.fail("lease webhook", err)
}

// AdvanceWebhook moves the webhook's cursor and stores ds, while node holds
// a lease that has not ended at now (ECONFLICT otherwise).
func (d *DB) AdvanceWebhook(ctx context.Context, id, node string, cursor int64, ds []*otos.Delivery, now time.Time) error {
	if err := checkText("id", id, "node", node); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhooks SET cursor = greatest(cursor, $1)
			WHERE id = $2 AND lease_node = $3 AND lease_until > $4`, cursor, id, node, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return otos.Errorf(otos.ECONFLICT, "the lease on this webhook was lost")
		}
		if len(ds) == 0 {
			return nil
		}
		var b pgx.Batch
		for _, dl := range ds {
			b.Queue(`INSERT INTO webhook_deliveries
				(webhook_id, pos, subject, state, attempts, next_at, last_status, last_error, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
				id, dl.Pos, dl.Subject, dl.State, dl.Attempts, dl.NextAt, dl.LastStatus, dl.LastError, dl.UpdatedAt)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	return d.fail("advance webhook", err)
}

const deliveryColumns = `d.webhook_id, e.id, d.pos, d.subject, e.type, d.state, d.attempts, d.next_at,
	d.last_status, d.last_error, d.updated_at,
	e.pos, e.id, e.type, e.at, e.tenant_id, e.subject, e.data`

// Deliveries lists a webhook's deliveries in event order, with their events.
func (d *DB) Deliveries(ctx context.Context, f otos.DeliveryFilter) ([]*otos.Delivery, []*otos.Event, error) {
	p := otos.Page{Limit: f.Limit}
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if err := checkText("webhook_id", f.WebhookID, "state", string(f.State)); err != nil {
		return nil, nil, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT `+deliveryColumns+`
		FROM webhook_deliveries d JOIN events e ON e.pos = d.pos
		WHERE d.webhook_id = $1 AND d.pos > $2 AND ($3 = '' OR d.state = $3) AND (NOT $4 OR d.state <> 'dead')
		ORDER BY d.pos LIMIT $5`,
		f.WebhookID, f.After, string(f.State), f.Live, p.Limit)
	if err != nil {
		return nil, nil, d.fail("list deliveries", err)
	}
	defer rows.Close()
	var ds []*otos.Delivery
	var es []*otos.Event
	for rows.Next() {
		var dl otos.Delivery
		var e otos.Event
		var data string
		if err := rows.Scan(&dl.WebhookID, &dl.EventID, &dl.Pos, &dl.Subject, &dl.EventType, &dl.State, &dl.Attempts,
			&dl.NextAt, &dl.LastStatus, &dl.LastError, &dl.UpdatedAt,
			&e.Pos, &e.ID, &e.Type, &e.At, &e.TenantID, &e.Subject, &data); err != nil {
			return nil, nil, d.fail("list deliveries", err)
		}
		dl.NextAt, dl.UpdatedAt, e.At, e.Data = dl.NextAt.UTC(), dl.UpdatedAt.UTC(), e.At.UTC(), []byte(data)
		ds, es = append(ds, &dl), append(es, &e)
	}
	return ds, es, d.fail("list deliveries", rows.Err())
}

// PendingSubjects returns those of subjects that have a delivery to webhook
// id that is not dead.
func (d *DB) PendingSubjects(ctx context.Context, id string, subjects []string) ([]string, error) {
	if len(subjects) == 0 {
		return nil, nil
	}
	if err := checkText("webhook_id", id); err != nil {
		return nil, err
	}
	for _, s := range subjects {
		if err := checkText("subject", s); err != nil {
			return nil, err
		}
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `SELECT DISTINCT subject FROM webhook_deliveries
		WHERE webhook_id = $1 AND state <> 'dead' AND subject = ANY($2::text[])`, id, subjects)
	if err != nil {
		return nil, d.fail("list pending subjects", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, d.fail("list pending subjects", err)
}

// UpdateDelivery stores dl's state, attempts, next attempt and last answer.
func (d *DB) UpdateDelivery(ctx context.Context, dl *otos.Delivery) error {
	if err := checkText("webhook_id", dl.WebhookID, "last_error", dl.LastError); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `UPDATE webhook_deliveries
		SET state = $1, attempts = $2, next_at = $3, last_status = $4, last_error = $5, updated_at = $6
		WHERE webhook_id = $7 AND pos = $8`,
		dl.State, dl.Attempts, dl.NextAt, dl.LastStatus, dl.LastError, dl.UpdatedAt, dl.WebhookID, dl.Pos)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("delivery")
	}
	return d.fail("update delivery", err)
}

// DeleteDelivery deletes the delivery of the event at pos to webhook id.
func (d *DB) DeleteDelivery(ctx context.Context, id string, pos int64) error {
	if err := checkText("webhook_id", id); err != nil {
		return err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	tag, err := d.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND pos = $2`, id, pos)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("delivery")
	}
	return d.fail("delete delivery", err)
}
