package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The NOTIFY channel that otos nodes on one schema share. LISTEN/NOTIFY
// channels belong to the whole database, so a schema other than public gets
// its own channel, and otos instances in different schemas (test runs) do
// not hear each other.
const channelPrefix = "otos_changes"

// channelName returns the channel of schema, at most 63 bytes (longer names
// are cut by the server, and pg_notify refuses them).
func channelName(schema string) string {
	if schema == "" || schema == "public" {
		return channelPrefix
	}
	name := channelPrefix + "." + schema
	if len(name) > 63 {
		h := sha256.Sum256([]byte(schema))
		name = channelPrefix + "." + hex.EncodeToString(h[:12])
	}
	return name
}

// Listener timing: how long the listener waits for a notification before
// it checks its connection, how long that check may take, and the longest
// pause between two attempts to reconnect.
const (
	listenIdle       = 5 * time.Second
	listenPing       = 3 * time.Second
	listenBackoffMax = 5 * time.Second
)

// Publish sends msg to the other nodes on this database's schema: every
// Subscribe callback of another DB (another process) receives it, in the
// order sent; this DB's own callbacks do not. Messages are delivered only
// to nodes listening at the time, at most 8000 bytes each.
func (d *DB) Publish(ctx context.Context, msg string) error {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	_, err := d.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, d.channel, d.node+" "+msg)
	return d.fail("publish", err)
}

// Subscribe calls fn with every message that another node publishes, from a
// goroutine that listens on a connection of its own until Close. fn must not
// block for long. When the connection breaks, messages may be lost, so fn is
// called with "" (everything derived from the database is suspect) when the
// listener listens again. Not when it loses the connection: that is most
// often the database going away for every node, when no node can change
// anything, and what this node holds is what keeps its known devices
// connecting until the database is back.
func (d *DB) Subscribe(fn func(msg string)) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		backoff := 100 * time.Millisecond
		for first := true; ; first = false {
			err := d.listen(fn, func() {
				backoff = 100 * time.Millisecond
				if !first {
					fn("") // what changed while no one listened
				}
			})
			if d.listenCtx.Err() != nil {
				return
			}
			d.log.Warn("postgres: listener lost its connection; reconnecting", "err", err, "retry_in", backoff)
			select {
			case <-d.listenCtx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, listenBackoffMax)
		}
	}()
}

// listen connects, listens on the channel, calls ready, and then passes
// other nodes' messages to fn until the connection fails or Close.
func (d *DB) listen(fn func(string), ready func()) error {
	ctx := d.listenCtx
	connCtx, cancel := context.WithTimeout(ctx, d.pool.Config().ConnConfig.ConnectTimeout+d.queryTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(connCtx, d.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(connCtx, `LISTEN `+pgx.Identifier{d.channel}.Sanitize()); err != nil {
		return err
	}
	ready()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			node, msg, _ := strings.Cut(n.Payload, " ")
			if node != d.node {
				fn(msg)
			}
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			// Quiet: make sure the connection still carries messages, for a
			// dead peer is otherwise silent.
			pingCtx, cancel := context.WithTimeout(ctx, listenPing)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}
