package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Inspect connects to the database of dsn, changing nothing, and returns its
// schema version (0 before otos first ran on it) and the newest this build
// knows. Its errors never quote the DSN, which may hold a password.
func Inspect(ctx context.Context, dsn string) (version, known int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, err
	}
	known = ms[len(ms)-1].Version
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, known, errors.New("the DSN is not a valid PostgreSQL connection string")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, known, fmt.Errorf("cannot connect to PostgreSQL at %s:%d", cfg.Host, cfg.Port)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, known, fmt.Errorf("query PostgreSQL: %w", err)
	}
	if !exists {
		return 0, known, nil
	}
	var v *int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, known, fmt.Errorf("read the schema version: %w", err)
	}
	if v != nil {
		version = *v
	}
	return version, known, nil
}
