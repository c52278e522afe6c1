package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migrations.Migration, error) {
	return migrations.Load(migrationFS, "migrations/*.sql")
}

// migrate applies the migrations that the schema lacks, all in one
// transaction that first takes a transaction-level advisory lock: nodes
// starting at once on an empty database queue on the lock, and each finds
// the schema that the first one made. DDL is transactional in PostgreSQL, so
// a failed migration leaves nothing behind. The lock's key is derived from
// the schema name, so that otos instances in other schemas of the database
// (test runs) do not wait for each other.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(
			hashtextextended('otos.migrate.' || coalesce(current_schema(), ''), 0))`); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		newest := 0
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("read schema version: %w", err)
			}
			applied[v], newest = true, max(newest, v)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if len(ms) > 0 && newest > ms[len(ms)-1].Version {
			return fmt.Errorf("schema version %d is newer than this program's %d", newest, ms[len(ms)-1].Version)
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
