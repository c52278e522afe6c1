package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres"
	"github.com/otos-iot/otos/sqlite"
)

// openTimeout bounds connecting to the database and migrating it at start.
const openTimeout = time.Minute

// isPostgres reports whether dsn selects PostgreSQL.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// validateDB checks --db: empty (SQLite in the data directory), sqlite:PATH
// (or file:PATH), or a postgres:// URL. The DSN is never echoed, for it may
// hold a password.
func validateDB(dsn string) error {
	switch {
	case dsn == "", isPostgres(dsn):
		return nil
	case strings.HasPrefix(dsn, "sqlite:") || strings.HasPrefix(dsn, "file:"):
		if strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:") == "" {
			return fmt.Errorf("--db sqlite: needs a path, e.g. sqlite:/var/lib/otos/otos.db")
		}
		return nil
	}
	scheme, _, _ := strings.Cut(dsn, ":")
	if len(scheme) > 20 {
		scheme = scheme[:20] + "…"
	}
	return fmt.Errorf("--db: unknown database %q: want sqlite:PATH or postgres://user@host/db", scheme)
}

// openStore opens the store that --db selects: SQLite in the data directory
// by default, a SQLite file elsewhere, or PostgreSQL.
func (m *Main) openStore() (otos.Store, error) {
	if isPostgres(m.Config.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		db, err := postgres.OpenConfig(ctx, postgres.Config{DSN: m.Config.DB, Logger: m.Logger})
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return db, nil
	}
	path := filepath.Join(m.Config.Data, "otos.db")
	if m.Config.DB != "" {
		path = strings.TrimPrefix(strings.TrimPrefix(m.Config.DB, "sqlite:"), "file:")
	}
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}
