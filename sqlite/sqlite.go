// Package sqlite implements otos.Store on SQLite through modernc.org/sqlite,
// a pure-Go driver (no cgo), so that otos runs as one binary with no set-up.
// The schema is embedded and migrated at Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/internal/migrations"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// readConns is the size of the reader pool.
const readConns = 4

// pragmas are applied by the driver to every new connection. WAL lets readers
// run beside the writer; synchronous FULL makes a commit durable before it
// returns, because a registration acknowledged to a device must survive a
// crash or a power loss; busy_timeout makes a connection wait for a lock
// held by another process instead of failing at once; temp_store keeps
// savepoint journals in memory; checkpoints run in the background
// (checkpoint.go), the writer's own only past 20,000 pages (80 MB of WAL).
const pragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=temp_store(2)" +
	"&_pragma=wal_autocheckpoint(20000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)"

// writerMmap lets the writer read the database file through a memory map
// of up to 2 GiB (SQLite's limit here) rather than one pread a page. Device
// numbers arrive in no order, so each new device touches a random page of
// their index, and past a few million devices that index no longer fits
// SQLite's 2 MiB page cache; through the map, a page that the OS holds
// costs no system call. A bigger page cache did the same for the index
// (256 MiB until issue 19's third pass), but at the end of a transaction
// that split a page SQLite scans its page hash, whose size grows with the
// pages cached: a tenth of the writer's time in BenchmarkCreateDevice's
// profile with 256 MiB, 1% with the default (docs/PERFORMANCE.md). Pages SQLite writes still go through its cache and
// the WAL; the map only serves reads.
const writerMmap = "&_pragma=mmap_size(2147418112)"

// DB is an otos.Store on one SQLite database file. It is safe for concurrent use.
//
// SQLite lets one connection write at a time; a second writer waits for the
// file lock and fails with SQLITE_BUSY when busy_timeout runs out. So every
// write goes through one goroutine, the group committer, which runs the
// writes of concurrent callers one after another in shared transactions on
// the write pool: they queue in Go instead of on the file lock, and a batch
// costs one commit. Its transactions begin
// IMMEDIATE, taking the write lock up front, so that a transaction that reads
// and then writes never fails to upgrade its lock. Reads go through read, a
// pool of several query-only connections: in WAL mode readers neither block
// the writer nor each other, and see every write committed before they start.
type DB struct {
	// commits batches every write after Open (migrations run before it).
	commits *committer
	// readStmts and writeStmts cache prepared statements of each pool.
	readStmts, writeStmts *stmts
	write                 *sql.DB
	read                  *sql.DB
	closed                atomic.Bool
	// ckpt copies the WAL back into the database in the background.
	ckpt *checkpointer
	// counts are the devices per template that the batch being written has
	// inserted (see count.go); events are the events of its changes
	// (event.go).
	counts batchCounts
	events batchEvents
}

var _ otos.Store = (*DB)(nil)

// Open opens the SQLite database file at path, creating the file if it does
// not exist (but not its directory), and migrates its schema to the current
// version. path is a file name, not a URI; Open adds the connection settings.
func Open(path string) (*DB, error) {
	switch {
	case path == "":
		return nil, errors.New("sqlite: open: empty path")
	case path == ":memory:":
		// Each connection of the two pools would see its own database.
		return nil, errors.New("sqlite: open: in-memory databases are not supported; use a file")
	}
	if err := restrictFiles(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write, err := sql.Open("sqlite", dsn(path, "&_txlock=immediate"+writerMmap))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Writes run one at a time on the committer's goroutine; the second
	// connection lets a statement be prepared while a transaction holds the
	// first (it never writes at the same time).
	write.SetMaxOpenConns(2)
	write.SetMaxIdleConns(2)
	d := &DB{write: write}

	// Migrate before the readers connect: the first connection converts the
	// file to WAL, and the readers need the schema.
	if err := d.migrate(context.Background()); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	// query_only guards against a write slipping onto a reader connection,
	// where it would contend for the file lock with the writer.
	read, err := sql.Open("sqlite", dsn(path, "&_pragma=query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	if err := read.Ping(); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	d.read = read
	d.readStmts, d.writeStmts = &stmts{db: read}, &stmts{db: write}
	d.ckpt, err = newCheckpointer(path)
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	d.counts = batchCounts{}
	d.commits = newCommitter(write, d.beforeCommit, d.afterBatch)
	return d, nil
}

// CommitStats returns how many transactions the group commit has made and
// how many writes they carried.
func (d *DB) CommitStats() (batches, writes int64) {
	return d.commits.batches.Load(), d.commits.writes.Load()
}

// exec runs one write statement through the group commit.
func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.execEmit(ctx, nil, query, args...)
}

// execEmit is exec for a change that has events: they are written only if
// the statement changed a row.
func (d *DB) execEmit(ctx context.Context, events []*otos.Event, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := d.tx1(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := d.txStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		if res, err = st.ExecContext(ctx, args...); err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			d.emit(events)
		}
		return nil
	})
	return res, err
}

// writeRow runs a write statement with a RETURNING clause through the group
// commit and scans its one row with scan; the events are written only if
// there was a row.
func (d *DB) writeRow(ctx context.Context, events []*otos.Event, scan func(scanner) error, query string, args ...any) error {
	return d.tx1(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := d.txStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		if err := scan(st.QueryRowContext(ctx, args...)); err != nil {
			return err
		}
		d.emit(events)
		return nil
	})
}

// restrictFiles makes the database file, and its WAL and shared-memory
// files if they exist, readable by the owner only: the database holds the
// server key. SQLite creates the WAL files with the database file's mode.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// dsn returns the driver's data source name for the file at path. Characters
// that a URI would read as delimiters are escaped.
func dsn(path, extra string) string {
	return "file:" + escapePath(path) + "?" + pragmas + extra
}

// Close closes the database. Calls after the first do nothing; methods called
// after Close return EUNAVAILABLE.
func (d *DB) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.commits.close()
	cerr := d.ckpt.close()
	d.readStmts.close()
	d.writeStmts.close()
	return errors.Join(cerr, d.read.Close(), d.write.Close())
}

// Ping returns nil when the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return d.fail(ctx, "ping", err)
	}
	return nil
}

// tx runs fn in a transaction on the writer, and commits if fn returns nil.
// Once the store is open, writes share transactions (see committer).
func (d *DB) tx(ctx context.Context, fn writeFunc) error {
	return d.runTx(ctx, false, fn)
}

// tx1 is tx for an fn that runs a single statement, which needs no
// savepoint of its own in a shared transaction.
func (d *DB) tx1(ctx context.Context, fn writeFunc) error {
	return d.runTx(ctx, true, fn)
}

func (d *DB) runTx(ctx context.Context, single bool, fn writeFunc) error {
	if d.commits != nil {
		return d.commits.do(ctx, single, fn)
	}
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migrations.Migration, error) {
	return migrations.Load(migrationFS, "migrations/*.sql")
}

// migrate applies the migrations that the database lacks, each in its own
// transaction together with its schema_migrations row, so that a failed
// migration leaves nothing behind. The version check runs inside the
// (IMMEDIATE) transaction, so two processes opening one new file at once
// apply each migration once.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := d.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := d.write.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(ms) > 0 && newest.Int64 > int64(ms[len(ms)-1].Version) {
		return fmt.Errorf("schema version %d is newer than this program's %d", newest.Int64, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		err := d.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
