package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/otos-iot/otos"
)

// ServerKey returns the server's master key; ENOTFOUND until one is stored.
func (d *DB) ServerKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := d.queryRow(ctx, `SELECT key FROM server_key WHERE id = 1`).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("server key")
	}
	return key, d.fail(ctx, "get server key", err)
}

// InitServerKey stores key unless a key is stored already, and returns the
// stored key, in one write transaction.
func (d *DB) InitServerKey(ctx context.Context, key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, otos.FieldError("key", otos.ReasonRequired, "the server key must not be empty")
	}
	var stored []byte
	err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO server_key (id, key, created_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO NOTHING`, key, micros(time.Now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT key FROM server_key WHERE id = 1`).Scan(&stored)
	})
	if err != nil {
		return nil, d.fail(ctx, "init server key", err)
	}
	return stored, nil
}
