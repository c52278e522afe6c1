// Package postgres implements otos.Store on PostgreSQL through pgx v5, so
// that several otos nodes can share one database. The schema is embedded and
// migrated at Open, under an advisory lock, so that nodes starting at the same
// moment on an empty database all come up. It also carries cache
// invalidations between nodes (LISTEN/NOTIFY, see Publish and Subscribe) and
// the server's master key (InitServerKey).
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/otos-iot/otos"
)

// Defaults of Config.
const (
	DefaultMaxConns       = 16
	DefaultConnectTimeout = 5 * time.Second
	DefaultQueryTimeout   = 5 * time.Second
)

// Config is how to reach the database and how long to wait for it.
type Config struct {
	// DSN is a PostgreSQL connection string, a URL (postgres://user@host/db)
	// or key=value pairs. pgxpool's pool_* parameters are honoured.
	DSN string
	// MaxConns sizes the connection pool; 0 takes the DSN's pool_max_conns
	// or DefaultMaxConns.
	MaxConns int32
	// ConnectTimeout bounds each attempt to open a connection; 0 takes the
	// DSN's connect_timeout or DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// QueryTimeout bounds each store call, so that a call fails with
	// EUNAVAILABLE instead of hanging while the database is unreachable;
	// 0 takes DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Logger receives the listener's reconnections; none by default.
	Logger *slog.Logger
}

// DB is an otos.Store on a PostgreSQL database. It is safe for concurrent use.
type DB struct {
	pool         *pgxpool.Pool
	queryTimeout time.Duration
	log          *slog.Logger
	closed       atomic.Bool

	// node tells this process's notifications from other nodes'; channel
	// is the NOTIFY channel of this schema.
	node    string
	channel string

	// stop ends the listeners started by Subscribe; wg waits for them.
	stop context.CancelFunc
	wg   sync.WaitGroup
	// listenCtx is the parent context of the listeners.
	listenCtx context.Context
	// inserts group-commits device inserts (batch.go).
	inserts *inserter
}

var _ otos.Store = (*DB)(nil)

// Open connects to the database at dsn with the default settings and
// migrates its schema to the current version.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenConfig(ctx, Config{DSN: dsn})
}

// OpenConfig connects to the database as cfg says and migrates its schema to
// the current version. It fails when the database cannot be reached.
func OpenConfig(ctx context.Context, cfg Config) (*DB, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// The parser's message may quote the DSN, password included.
		return nil, errors.New("postgres: open: the DSN is not a valid PostgreSQL connection string")
	}
	switch {
	case cfg.MaxConns > 0:
		pc.MaxConns = cfg.MaxConns
	case !strings.Contains(cfg.DSN, "pool_max_conns"):
		pc.MaxConns = DefaultMaxConns
	}
	switch {
	case cfg.ConnectTimeout > 0:
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	case pc.ConnConfig.ConnectTimeout == 0:
		pc.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// A broken connection is found at its next use; checking idle ones
	// often lets a pool recover sooner after an outage.
	pc.HealthCheckPeriod = 10 * time.Second
	var migrated atomic.Bool
	pc.AfterConnect = sessionTimeouts(pc.ConnConfig.RuntimeParams, &migrated)
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	node := make([]byte, 8)
	_, _ = rand.Read(node)
	listenCtx, stop := context.WithCancel(context.Background())
	d := &DB{pool: pool, queryTimeout: cfg.QueryTimeout, log: cfg.Logger, node: hex.EncodeToString(node),
		listenCtx: listenCtx, stop: stop}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		d.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	d.channel = channelName(schema)
	// The connections of the migration had no lock timeout; their
	// successors have.
	migrated.Store(true)
	pool.Reset()
	d.inserts = newInserter(d)
	return d, nil
}

// Session timeouts, unless the DSN sets them.
const (
	// IdleInTransactionTimeout ends the session of a client that stalls in
	// a transaction, which may hold the row that orders every node's
	// events: without it, one stalled client holds up every writer.
	IdleInTransactionTimeout = "30s"
	// LockTimeout bounds a statement's wait for a lock, on the server's
	// side. The migration waits for another node's as long as it takes.
	LockTimeout = "10s"
)

// sessionTimeouts returns the AfterConnect hook that sets the session
// timeouts the DSN does not: with SET, not startup parameters, which
// PgBouncer refuses. Until migrated is set, no lock timeout.
func sessionTimeouts(params map[string]string, migrated *atomic.Bool) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, conn *pgx.Conn) error {
		var set []string
		if _, ok := params["idle_in_transaction_session_timeout"]; !ok {
			set = append(set, "SET idle_in_transaction_session_timeout = '"+IdleInTransactionTimeout+"'")
		}
		if _, ok := params["lock_timeout"]; !ok && migrated.Load() {
			set = append(set, "SET lock_timeout = '"+LockTimeout+"'")
		}
		if len(set) == 0 {
			return nil
		}
		_, err := conn.Exec(ctx, strings.Join(set, "; "))
		return err
	}
}

// Close stops the listeners and closes the pool. Calls after the first do
// nothing; methods called after Close return EUNAVAILABLE.
func (d *DB) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	if d.inserts != nil {
		d.inserts.close()
	}
	d.stop()
	d.wg.Wait()
	d.pool.Close()
	return nil
}

// Ping returns nil when the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := d.timeout(ctx)
	defer cancel()
	var one int
	if err := d.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return d.fail("ping", err)
	}
	return nil
}

// timeout bounds a store call by the query timeout.
func (d *DB) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.queryTimeout)
}

// tx runs fn in a transaction, and commits if fn returns nil.
func (d *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	if d.closed.Load() {
		return unavailable
	}
	return pgx.BeginFunc(ctx, d.pool, fn)
}
