package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/storetypes"
)

const webhookColumns = `id, tenant_id, url, types, batch_size, sealed, created_at, cursor`

// CreateWebhook inserts w with its cursor at the newest event: it receives
// the events from now on. ECONFLICT if its id is taken, ENOTFOUND if its
// tenant does not exist.
func (d *DB) CreateWebhook(ctx context.Context, w *otos.Webhook) error {
	err := d.writeRow(ctx, nil, func(row scanner) error { return row.Scan(&w.Cursor) },
		`INSERT INTO webhooks (id, tenant_id, url, types, batch_size, sealed, created_at, cursor)
		VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(pos), 0) FROM events)) RETURNING cursor`,
		w.ID, w.TenantID, w.URL, storetypes.Join(w.Types), max(w.BatchSize, 1), w.Sealed, micros(w.CreatedAt))
	return d.fail(ctx, "create webhook", err, ref{table: "tenants", id: w.TenantID, field: "tenant_id", name: "tenant"})
}

func scanWebhook(s scanner) (*otos.Webhook, error) {
	var w otos.Webhook
	var types string
	var created int64
	if err := s.Scan(&w.ID, &w.TenantID, &w.URL, &types, &w.BatchSize, &w.Sealed, &created, &w.Cursor); err != nil {
		return nil, err
	}
	w.Types, w.CreatedAt = storetypes.Split(types), fromMicros(created)
	return &w, nil
}

// Webhook returns the webhook with this id; ENOTFOUND if there is none.
func (d *DB) Webhook(ctx context.Context, id string) (*otos.Webhook, error) {
	w, err := scanWebhook(d.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook")
	}
	return w, d.fail(ctx, "get webhook", err)
}

// Webhooks lists webhooks in creation order.
func (d *DB) Webhooks(ctx context.Context, f otos.WebhookFilter) ([]*otos.Webhook, string, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, "", err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	return list(ctx, d, "list webhooks", webhookColumns, "webhooks", w, f.Page, scanWebhook,
		func(w *otos.Webhook) string { return w.ID })
}

// DeleteWebhook deletes webhook id and, by foreign key, its deliveries.
func (d *DB) DeleteWebhook(ctx context.Context, id string) error {
	res, err := d.exec(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	return d.fail(ctx, "delete webhook", affected(res, err, "webhook"))
}

// LeaseWebhook gives node the webhook's delivery until until, unless
// another node's lease is live at now (ECONFLICT).
func (d *DB) LeaseWebhook(ctx context.Context, id, node string, until, now time.Time) (*otos.Webhook, error) {
	var w *otos.Webhook
	err := d.writeRow(ctx, nil, func(row scanner) (err error) {
		w, err = scanWebhook(row)
		return err
	}, `UPDATE webhooks SET lease_node = ?, lease_until = ?
		WHERE id = ? AND (lease_node = ? OR lease_until <= ?) RETURNING `+webhookColumns,
		node, micros(until), id, node, micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := d.Webhook(ctx, id); err != nil {
			return nil, err
		}
		return nil, otos.Errorf(otos.ECONFLICT, "another node delivers this webhook's events")
	}
	return w, d.fail(ctx, "lease webhook", err)
}

// AdvanceWebhook moves the webhook's cursor and stores ds, while node holds
// a lease that has not ended at now (ECONFLICT otherwise).
func (d *DB) AdvanceWebhook(ctx context.Context, id, node string, cursor int64, ds []*otos.Delivery, now time.Time) error {
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET cursor = max(cursor, ?)
			WHERE id = ? AND lease_node = ? AND lease_until > ?`, cursor, id, node, micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return otos.Errorf(otos.ECONFLICT, "the lease on this webhook was lost")
		}
		st, err := d.txStmt(ctx, tx, `INSERT INTO webhook_deliveries
			(webhook_id, pos, subject, state, attempts, next_at, last_status, last_error, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		for _, dl := range ds {
			if _, err := st.ExecContext(ctx, id, dl.Pos, dl.Subject, dl.State, dl.Attempts, micros(dl.NextAt),
				dl.LastStatus, dl.LastError, micros(dl.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	return d.fail(ctx, "advance webhook", err)
}

const deliveryColumns = `d.webhook_id, e.id, d.pos, d.subject, e.type, d.state, d.attempts, d.next_at,
	d.last_status, d.last_error, d.updated_at`

// Deliveries lists a webhook's deliveries in event order, with their events.
func (d *DB) Deliveries(ctx context.Context, f otos.DeliveryFilter) ([]*otos.Delivery, []*otos.Event, error) {
	p := otos.Page{Limit: f.Limit}
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	q := `SELECT ` + deliveryColumns + `, ` + prefixed("e.", eventColumns) + `
		FROM webhook_deliveries d JOIN events e ON e.pos = d.pos
		WHERE d.webhook_id = ? AND d.pos > ? AND (? = '' OR d.state = ?) AND (NOT ? OR d.state <> 'dead')
		ORDER BY d.pos LIMIT ?`
	rows, err := d.query(ctx, q, f.WebhookID, f.After, f.State, f.State, f.Live, p.Limit)
	if err != nil {
		return nil, nil, d.fail(ctx, "list deliveries", err)
	}
	defer rows.Close()
	var ds []*otos.Delivery
	var es []*otos.Event
	for rows.Next() {
		var dl otos.Delivery
		var e otos.Event
		var next, updated, at int64
		var data string
		if err := rows.Scan(&dl.WebhookID, &dl.EventID, &dl.Pos, &dl.Subject, &dl.EventType, &dl.State, &dl.Attempts,
			&next, &dl.LastStatus, &dl.LastError, &updated,
			&e.Pos, &e.ID, &e.Type, &at, &e.TenantID, &e.Subject, &data); err != nil {
			return nil, nil, d.fail(ctx, "list deliveries", err)
		}
		dl.NextAt, dl.UpdatedAt = fromMicros(next), fromMicros(updated)
		e.At, e.Data = fromMicros(at), []byte(data)
		ds, es = append(ds, &dl), append(es, &e)
	}
	return ds, es, d.fail(ctx, "list deliveries", rows.Err())
}

// PendingSubjects returns those of subjects that have a delivery to webhook
// id that is not dead.
func (d *DB) PendingSubjects(ctx context.Context, id string, subjects []string) ([]string, error) {
	if len(subjects) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(subjects)
	if err != nil {
		return nil, err
	}
	rows, err := d.query(ctx, `SELECT DISTINCT subject FROM webhook_deliveries
		WHERE webhook_id = ? AND state <> 'dead' AND subject IN (SELECT value FROM json_each(?))`, id, string(list))
	if err != nil {
		return nil, d.fail(ctx, "list pending subjects", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, d.fail(ctx, "list pending subjects", err)
		}
		out = append(out, s)
	}
	return out, d.fail(ctx, "list pending subjects", rows.Err())
}

// prefixed puts prefix before every column of a comma-separated list.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// UpdateDelivery stores dl's state, attempts, next attempt and last answer.
func (d *DB) UpdateDelivery(ctx context.Context, dl *otos.Delivery) error {
	res, err := d.exec(ctx, `UPDATE webhook_deliveries
		SET state = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?, updated_at = ?
		WHERE webhook_id = ? AND pos = ?`,
		dl.State, dl.Attempts, micros(dl.NextAt), dl.LastStatus, dl.LastError, micros(dl.UpdatedAt), dl.WebhookID, dl.Pos)
	return d.fail(ctx, "update delivery", affected(res, err, "delivery"))
}

// DeleteDelivery deletes the delivery of the event at pos to webhook id.
func (d *DB) DeleteDelivery(ctx context.Context, id string, pos int64) error {
	res, err := d.exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ? AND pos = ?`, id, pos)
	return d.fail(ctx, "delete delivery", affected(res, err, "delivery"))
}
