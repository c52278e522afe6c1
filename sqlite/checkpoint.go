package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints copy the WAL back into the database file. SQLite runs one on
// the committing connection once the WAL passes wal_autocheckpoint pages,
// which stalls the single writer, and every registration queued behind it,
// while it writes the pages and fsyncs the file (up to 100 ms seen here).
// So a goroutine of its own checkpoints in the background, on a connection
// of its own, every checkpointEvery; a PASSIVE checkpoint blocks neither the
// writer nor the readers. The writer's automatic checkpoint stays as a
// backstop, at a size (see pragmas) that it reaches only when the
// background one falls behind: a storm writes tens of thousands of WAL
// pages a second, mostly the same hot pages again.
const checkpointEvery = 250 * time.Millisecond

// checkpointer runs background checkpoints until ctx ends.
type checkpointer struct {
	db   *sql.DB // one connection, used by run only
	stop context.CancelFunc
	done chan struct{}
}

func newCheckpointer(path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An error leaves the work to the writer's automatic checkpoint.
		var busy, walPages, copied int
		_ = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &copied)
	}
}

// close stops the checkpoints and closes the connection.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}
