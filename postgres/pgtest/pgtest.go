// Package pgtest helps tests run against a real PostgreSQL: the one named by
// the OTOS_TEST_POSTGRES environment variable (a DSN). Each test gets a schema
// of its own, with a random name, dropped when the test ends, so that test
// runs sharing one database never collide. Proxy stands between a store and
// the database, to cut the connection and restore it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN is the environment variable that holds the test database's DSN.
const EnvDSN = "OTOS_TEST_POSTGRES"

// DSN returns the test database's DSN, and skips the test when
// OTOS_TEST_POSTGRES is not set.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		tb.Skip(EnvDSN + " is not set: no PostgreSQL to test against")
	}
	return dsn
}

// Schema creates a schema with a random name in the test database, drops it
// (with everything in it) when the test ends, and returns the DSN of the
// database with that schema as the search path. It skips the test when
// OTOS_TEST_POSTGRES is not set.
func Schema(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "otos_test_" + hex.EncodeToString(b)
	exec(tb, dsn, `CREATE SCHEMA `+schema)
	tb.Cleanup(func() { exec(tb, dsn, `DROP SCHEMA `+schema+` CASCADE`) })
	return WithSearchPath(dsn, schema)
}

// exec runs one statement on a connection of its own.
func exec(tb testing.TB, dsn, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to the test database (%s): %v", EnvDSN, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// WithSearchPath returns dsn, a URL or key=value pairs, with search_path set
// to schema: pgx sends parameters it does not know to the server as run-time
// settings.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// WithHostPort returns dsn, a URL, pointed at addr (host:port) instead.
func WithHostPort(tb testing.TB, dsn, addr string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		tb.Fatalf("%s must be a postgres:// URL for this test", EnvDSN)
	}
	u.Host = addr
	return u.String()
}

// Addr returns the host:port of the database in dsn, a URL.
func Addr(tb testing.TB, dsn string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		tb.Fatalf("%s must be a postgres:// URL for this test", EnvDSN)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	return host + ":" + port
}
