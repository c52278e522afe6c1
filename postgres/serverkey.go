package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
)

// ServerKey returns the server's master key; ENOTFOUND until one is stored.
func (d *DB) ServerKey(ctx context.Context) ([]byte, error) {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var key []byte
	err := d.pool.QueryRow(ctx, `SELECT key FROM server_key WHERE id = 1`).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("server key")
	}
	return key, d.fail("get server key", err)
}

// InitServerKey stores key unless a key is stored already, and returns the
// stored key. The insert waits for a concurrent one to commit and then does
// nothing; the read after it, a statement of its own, sees the winner.
func (d *DB) InitServerKey(ctx context.Context, key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, otos.FieldError("key", otos.ReasonRequired, "the server key must not be empty")
	}
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	if _, err := d.pool.Exec(ctx, `INSERT INTO server_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
		key); err != nil {
		return nil, d.fail("init server key", err)
	}
	return d.ServerKey(ctx)
}
