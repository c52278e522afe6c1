package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/otos-iot/otos"
)

const eventColumns = `pos, id, type, at, tenant_id, subject, data`

// writeEvents queues on b the insert of events at the next positions, in
// their order. It must be the last statement of its transaction: it takes
// event_counter's row and holds it until the commit, which is what puts
// positions in commit order (see migration 0005), and nothing may wait on
// another lock meanwhile.
func writeEvents(b *pgx.Batch, events []*otos.Event) error {
	if len(events) == 0 {
		return nil
	}
	args, err := eventArgs(events)
	if err != nil {
		return err
	}
	b.Queue(insertEvents, args...)
	return nil
}

// insertEvents is one statement: the counter, then the rows at the
// positions it gave, in their order.
const insertEvents = `WITH c AS (UPDATE event_counter SET last = last + $1 RETURNING last - $1 AS base)
	INSERT INTO events (` + eventColumns + `)
	SELECT c.base + e.n, e.id, e.type, e.at, e.tenant_id, e.subject, e.data
	FROM c, unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[])
		WITH ORDINALITY AS e(id, type, at, tenant_id, subject, data, n)`

// eventArgs are insertEvents' arguments for events.
func eventArgs(events []*otos.Event) ([]any, error) {
	n := len(events)
	ids, types, tenants, subjects, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	for i, e := range events {
		if err := checkText("event", e.ID, "event", e.TenantID, "event", e.Subject, "event", string(e.Data)); err != nil {
			return nil, err
		}
		ids[i], types[i], ats[i], tenants[i], subjects[i], data[i] =
			e.ID, string(e.Type), e.At, e.TenantID, e.Subject, string(e.Data)
	}
	return []any{n, ids, types, ats, tenants, subjects, data}, nil
}

// withEvents runs fn in a transaction and then writes the events, when fn
// reports that it made its change; without events fn runs on its own.
func (d *DB) withEvents(ctx context.Context, events []*otos.Event, fn func(q querier) (changed bool, err error)) error {
	if len(events) == 0 {
		_, err := fn(d.pool)
		return err
	}
	return d.txEvents(ctx, func(q querier) ([]*otos.Event, error) {
		if changed, err := fn(q); err != nil || !changed {
			return nil, err
		}
		return events, nil
	})
}

// txEvents runs fn in a transaction and then writes the events fn returns,
// sent with the COMMIT in one round trip: event_counter's row, which they
// take, is held while the server works, never while it waits on this
// client, so a client that stalls holds up no other writer of events.
func (d *DB) txEvents(ctx context.Context, fn func(q querier) ([]*otos.Event, error)) error {
	if d.closed.Load() {
		return unavailable
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release() // the pool closes a connection left in a transaction
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return d.rollback(ctx, conn, err)
	}
	events, err := fn(conn)
	if err != nil {
		return d.rollback(ctx, conn, err)
	}
	var b pgx.Batch
	if err := writeEvents(&b, events); err != nil {
		return d.rollback(ctx, conn, err)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return d.rollback(ctx, conn, err)
	}
	return nil
}

// rollback ends conn's failed transaction and returns err; a connection
// that cannot roll back is closed, so that the pool does not reuse it.
func (d *DB) rollback(ctx context.Context, conn *pgxpool.Conn, err error) error {
	ctx, cancel := d.timeout(context.WithoutCancel(ctx))
	defer cancel()
	if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
		conn.Conn().Close(ctx)
	}
	return err
}

// querier is what a pool, a connection and a transaction run statements
// with.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// AppendEvents writes events that tell of no other change.
func (d *DB) AppendEvents(ctx context.Context, es []*otos.Event) error {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	err := d.txEvents(ctx, func(querier) ([]*otos.Event, error) { return es, nil })
	return d.fail("append events", err)
}

// Events lists events after f.After in position order.
func (d *DB) Events(ctx context.Context, f otos.EventFilter) ([]*otos.Event, error) {
	p := otos.Page{Limit: f.Limit}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkText("tenant_id", f.TenantID); err != nil {
		return nil, err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.add("pos > $?", f.After)
	w.args = append(w.args, p.Limit)
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, fmt.Sprintf(`SELECT `+eventColumns+` FROM events%s ORDER BY pos LIMIT $%d`,
		w.String(), len(w.args)), w.args...)
	if err != nil {
		return nil, d.fail("list events", err)
	}
	defer rows.Close()
	var out []*otos.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, d.fail("list events", err)
		}
		out = append(out, e)
	}
	return out, d.fail("list events", rows.Err())
}

func scanEvent(s scanner) (*otos.Event, error) {
	var e otos.Event
	var data string
	if err := s.Scan(&e.Pos, &e.ID, &e.Type, &e.At, &e.TenantID, &e.Subject, &data); err != nil {
		return nil, err
	}
	e.At, e.Data = e.At.UTC(), []byte(data)
	return &e, nil
}

// EventPos returns the position of event id; ENOTFOUND if there is none.
func (d *DB) EventPos(ctx context.Context, id string) (int64, error) {
	if err := checkText("id", id); err != nil {
		return 0, err
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var pos int64
	err := d.pool.QueryRow(ctx, `SELECT pos FROM events WHERE id = $1`, id).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("event")
	}
	return pos, d.fail("get event", err)
}

// LastEventPos returns the position of the newest event, 0 for none.
func (d *DB) LastEventPos(ctx context.Context) (int64, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var pos *int64
	err := d.pool.QueryRow(ctx, `SELECT max(pos) FROM events`).Scan(&pos)
	if pos == nil {
		return 0, d.fail("last event", err)
	}
	return *pos, d.fail("last event", err)
}

// PruneEvents deletes the events from before, oldest first in chunks, and
// their deliveries (by foreign key).
func (d *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	const chunk = 5000
	var total int64
	for {
		cctx, cancel := d.timeout(ctx)
		tag, err := d.pool.Exec(cctx, `DELETE FROM events WHERE pos IN
			(SELECT pos FROM events WHERE at < $1 ORDER BY pos LIMIT $2)`, before, chunk)
		cancel()
		if err != nil {
			return total, d.fail("prune events", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < chunk {
			return total, nil
		}
	}
}
