package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// Events are written by the batch they belong to: a write whose change was
// made adds its events to the batch (emit), and the batch inserts them all
// just before it commits, so that an event is committed exactly with its
// change. batchEvents is used on the committer's goroutine only.
type batchEvents []*otos.Event

// emit adds the events of a change that a write of this batch has made.
func (d *DB) emit(events []*otos.Event) {
	d.events = append(d.events, events...)
}

const eventColumns = `pos, id, type, at, tenant_id, subject, data`

// eventRows bounds the rows of one insert; a batch of more is inserted in
// several.
const eventRows = 64

// flushEvents inserts the batch's events, in the order they were emitted,
// a multi-row INSERT at a time: one statement per batch, not per event.
func (d *DB) flushEvents(ctx context.Context, tx *sql.Tx) error {
	for chunk := range slices.Chunk(d.events, eventRows) {
		st, err := d.txStmt(ctx, tx, insertEvents(len(chunk)))
		if err != nil {
			return err
		}
		args := make([]any, 0, 6*len(chunk))
		for _, e := range chunk {
			args = append(args, e.ID, e.Type, micros(e.At), e.TenantID, e.Subject, string(e.Data))
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// insertEvents is the insert of n events; there are at most eventRows
// texts, each prepared once.
func insertEvents(n int) string {
	return `INSERT INTO events (id, type, at, tenant_id, subject, data) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?), `, n), ", ")
}

// beforeCommit is what every batch does last: its device counts and its
// events.
func (d *DB) beforeCommit(ctx context.Context, tx *sql.Tx) error {
	if err := d.flushCounts(ctx, tx); err != nil {
		return err
	}
	return d.flushEvents(ctx, tx)
}

// afterBatch forgets what the batch gathered, committed or not.
func (d *DB) afterBatch() {
	clear(d.counts)
	d.events = d.events[:0]
}

// AppendEvents writes events that tell of no other change.
func (d *DB) AppendEvents(ctx context.Context, es []*otos.Event) error {
	if len(es) == 0 {
		return nil
	}
	err := d.tx1(ctx, func(ctx context.Context, tx *sql.Tx) error {
		d.emit(es)
		return nil
	})
	return d.fail(ctx, "append events", err)
}

// Events lists events after f.After in position order.
func (d *DB) Events(ctx context.Context, f otos.EventFilter) ([]*otos.Event, error) {
	p := otos.Page{Limit: f.Limit}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var w where
	w.eq("tenant_id", f.TenantID)
	w.conds = append(w.conds, "pos > ?")
	w.args = append(w.args, f.After)
	rows, err := d.query(ctx, `SELECT `+eventColumns+` FROM events`+w.String()+` ORDER BY pos LIMIT ?`,
		append(w.args, p.Limit)...)
	if err != nil {
		return nil, d.fail(ctx, "list events", err)
	}
	defer rows.Close()
	var out []*otos.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, d.fail(ctx, "list events", err)
		}
		out = append(out, e)
	}
	return out, d.fail(ctx, "list events", rows.Err())
}

func scanEvent(s scanner) (*otos.Event, error) {
	var e otos.Event
	var at int64
	var data string
	if err := s.Scan(&e.Pos, &e.ID, &e.Type, &at, &e.TenantID, &e.Subject, &data); err != nil {
		return nil, err
	}
	e.At, e.Data = fromMicros(at), []byte(data)
	return &e, nil
}

// EventPos returns the position of event id; ENOTFOUND if there is none
// (never written, or pruned).
func (d *DB) EventPos(ctx context.Context, id string) (int64, error) {
	var pos int64
	err := d.queryRow(ctx, `SELECT pos FROM events WHERE id = ?`, id).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("event")
	}
	return pos, d.fail(ctx, "get event", err)
}

// LastEventPos returns the position of the newest event, 0 for none.
func (d *DB) LastEventPos(ctx context.Context) (int64, error) {
	var pos sql.NullInt64
	err := d.queryRow(ctx, `SELECT max(pos) FROM events`).Scan(&pos)
	return pos.Int64, d.fail(ctx, "last event", err)
}

// PruneEvents deletes the events from before, oldest first in chunks, and
// their deliveries (by foreign key).
func (d *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	return d.pruneOldest(ctx, "prune events",
		`DELETE FROM events WHERE pos IN (SELECT pos FROM events ORDER BY pos LIMIT ?) AND at < ?`, before)
}
