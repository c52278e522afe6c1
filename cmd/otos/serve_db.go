package main

import (
	"context"
	"flag"
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

// maxDBTimeout bounds --db-timeout.
const maxDBTimeout = time.Minute

// dbFlags defines --db-timeout on fs, over OTOS_DB_TIMEOUT.
func (c *Config) dbFlags(fs *flag.FlagSet, env func(string) string) error {
	fs.DurationVar(&c.DBTimeout, "db-timeout", c.DBTimeout, "how long a call may wait for PostgreSQL before "+
		"the request fails with 503 (default "+postgres.DefaultQueryTimeout.String()+") (env OTOS_DB_TIMEOUT)")
	if v, ok := lookup(env, "db-timeout"); ok {
		if err := fs.Set("db-timeout", v); err != nil {
			return fmt.Errorf("OTOS_DB_TIMEOUT: %w", err)
		}
	}
	return nil
}

// validateDB checks --db: empty (SQLite in the data directory), sqlite:PATH
// (or file:PATH), or a postgres:// URL, and --db-timeout. The DSN is never
// echoed, for it may hold a password.
func (c *Config) validateDB() error {
	if c.DBTimeout < 0 || c.DBTimeout > maxDBTimeout {
		return fmt.Errorf("--db-timeout %v: want up to %v", c.DBTimeout, maxDBTimeout)
	}
	dsn := c.DB
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
		db, err := postgres.OpenConfig(ctx, postgres.Config{DSN: m.Config.DB, Logger: m.Logger,
			QueryTimeout: m.Config.DBTimeout})
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return db, nil
	}
	return openSQLite(m.sqlitePath())
}

// sqlitePath is the file of the SQLite store: --db, or otos.db in the data
// directory.
func (m *Main) sqlitePath() string {
	if m.Config.DB != "" {
		return trimSQLite(m.Config.DB)
	}
	return filepath.Join(m.Config.Data, "otos.db")
}

// openServeStore is openStore for "otos serve", which also holds the SQLite
// store's lock while it runs, so that "otos restore" cannot replace it.
func (m *Main) openServeStore() (otos.Store, error) {
	if !isPostgres(m.Config.DB) {
		unlock, err := lockStore(m.sqlitePath())
		if err != nil {
			return nil, err
		}
		m.unlockStore = unlock
	}
	db, err := m.openStore()
	if err != nil && m.unlockStore != nil {
		m.unlockStore()
		m.unlockStore = nil
	}
	return db, err
}

// openSQLite is the SQLite half of openStore.
func openSQLite(path string) (otos.Store, error) {
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// trimSQLite is the file of a sqlite:PATH or file:PATH DSN.
func trimSQLite(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
}
