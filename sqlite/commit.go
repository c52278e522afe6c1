package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

	msqlite "modernc.org/sqlite"
	lib "modernc.org/sqlite/lib"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 256

// errClosed answers writes that arrive after Close.
var errClosed = errors.New("sqlite: closed")

// committer is group commit: writes from concurrent callers run one after
// another on the single write connection, inside one shared transaction per
// batch, so that a failing write (a unique violation, say) rolls back only
// itself: a write of one statement relies on SQLite undoing a failed
// statement, a write of several runs in a savepoint of its own. The batch
// commits once, with one fsync, and only then does each caller learn its own
// result: a write is acknowledged only once it is durable. Under load a
// batch holds every write that arrived while the previous one was
// committing, so throughput grows with concurrency instead of being one
// fsync per request.
type committer struct {
	db      *sql.DB
	reqs    chan *writeReq
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run has returned
	once    sync.Once
	// mu orders enqueuing against closing: after close, nothing is queued
	// that run would never answer.
	mu     sync.RWMutex
	closed bool
	// batches and writes count what was committed, for metrics.
	batches, writes atomic.Int64
	// beforeCommit, if set, runs last in every batch's transaction, for
	// writes that are cheaper done once per batch; an error fails the batch.
	// afterBatch, if set, runs after every batch, committed or not.
	beforeCommit func(context.Context, *sql.Tx) error
	afterBatch   func()
}

// writeFunc is one write. Its context is the caller's without the
// cancellation: once a write has started it runs to the end, because
// interrupting a statement would roll back the whole shared transaction.
type writeFunc func(context.Context, *sql.Tx) error

// writeReq is one caller's write and the channel for its result.
type writeReq struct {
	ctx context.Context
	fn  writeFunc
	// single says fn runs one statement, so needs no savepoint.
	single bool
	result chan error
}

func newCommitter(db *sql.DB, beforeCommit func(context.Context, *sql.Tx) error, afterBatch func()) *committer {
	c := &committer{db: db, reqs: make(chan *writeReq, maxBatch), done: make(chan struct{}), stopped: make(chan struct{}),
		beforeCommit: beforeCommit, afterBatch: afterBatch}
	go c.run()
	return c
}

// do runs fn in a shared transaction and returns its result once the
// transaction has committed (or fn's own error, its changes undone). single
// says that fn runs one statement.
func (c *committer) do(ctx context.Context, single bool, fn writeFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, single: single, result: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	select {
	case c.reqs <- r:
		c.mu.RUnlock()
	case <-c.done:
		c.mu.RUnlock()
		return errClosed
	}
	// Wait even if ctx ends: once queued, the write may commit, and the
	// caller must not believe otherwise.
	return <-r.result
}

// close stops the committer and waits until it no longer uses the
// connection; writes still queued are answered with errClosed.
func (c *committer) close() {
	c.once.Do(func() {
		// Senders blocked on a full queue get in while run still consumes;
		// once closed is set no one else can, and run then answers them all.
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.done)
	})
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-c.reqs:
			batch = append(batch[:0], r)
		case <-c.done:
			c.drain()
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.commit(batch)
	}
}

// drain answers the writes still queued at close.
func (c *committer) drain() {
	for {
		select {
		case r := <-c.reqs:
			r.result <- errClosed
		default:
			return
		}
	}
}

// commit runs a batch in one transaction and answers each write.
func (c *committer) commit(batch []*writeReq) {
	c.batches.Add(1)
	c.writes.Add(int64(len(batch)))
	if c.afterBatch != nil {
		defer c.afterBatch()
	}
	results := make([]error, len(batch))
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		answer(batch, results, err)
		return
	}
	alone := len(batch) == 1
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		results[i] = runOne(tx, r, alone)
		if fatal(results[i]) {
			// SQLite may have rolled the transaction back already; a later
			// write would then commit on its own, outside the batch.
			_ = tx.Rollback()
			answer(batch, results, results[i])
			return
		}
	}
	if alone && results[0] != nil {
		_ = tx.Rollback()
		answer(batch, results, nil)
		return
	}
	if c.beforeCommit != nil {
		if err := c.beforeCommit(context.Background(), tx); err != nil {
			_ = tx.Rollback()
			answer(batch, results, err)
			return
		}
	}
	answer(batch, results, tx.Commit())
}

// fatal reports whether err, from one write of a batch, ends the batch: any
// error of SQLite's but a constraint violation, which undoes only the
// failed statement. Errors such as SQLITE_FULL, SQLITE_IOERR or
// SQLITE_BUSY may roll back the whole transaction.
func fatal(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff != lib.SQLITE_CONSTRAINT
}

// runOne runs one write of a batch. With others in the batch a write of
// several statements runs inside a savepoint, so that its failure leaves
// theirs intact; SQLite undoes a failed statement by itself.
func runOne(tx *sql.Tx, r *writeReq, alone bool) error {
	ctx := context.WithoutCancel(r.ctx)
	if alone || r.single {
		return r.fn(ctx, tx)
	}
	if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
		return err
	}
	err := r.fn(ctx, tx)
	if err != nil {
		if _, rerr := tx.Exec(`ROLLBACK TO w`); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if _, rerr := tx.Exec(`RELEASE w`); rerr != nil && err == nil {
		return rerr
	}
	return err
}

// answer sends each write its result; a failed commit fails every write
// that had succeeded inside the transaction.
func answer(batch []*writeReq, results []error, commitErr error) {
	for i, r := range batch {
		if results[i] == nil {
			results[i] = commitErr
		}
		r.result <- results[i]
	}
}
