package postgres

import (
	"cmp"
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/otos-iot/otos"
)

// Device inserts are group-committed: the inserts of concurrent
// registrations are gathered by a few workers, each of which inserts what
// it gathered with one statement, in one transaction and one WAL flush.
// PostgreSQL spends about a third as much per device that way as on one
// INSERT per transaction, which is what a registration storm is made of.
// The statement skips rows that break a unique constraint (ON CONFLICT DO
// NOTHING); each skipped row, and every row of a statement that failed as a
// whole (a foreign key, a full template), is then inserted alone, so that it
// gets its own, precise answer. A database that cannot be reached fails the
// whole batch at once.

// maxInsertBatch bounds the rows of one statement.
const maxInsertBatch = 64

// insertWorkers is how many batches may be in flight at once, each on a
// connection of its own: one per two cores. Fewer, larger statements cost
// the database less per device; on two cores, with PostgreSQL on the same
// machine, one worker registered 10-15% more devices a second than two.
var insertWorkers = max(1, runtime.GOMAXPROCS(0)/2)

// insertBatch is the batch statement: the columns of deviceInsertColumns,
// as arrays, one element per device.
const insertBatch = `INSERT INTO devices (` + deviceInsertColumns + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::bytea[], $11::bytea[], $12::timestamptz[], $13::timestamptz[],
		$14::timestamptz[], $15::timestamptz[], $16::boolean[], $17::timestamptz[], $18::bytea[], $19::bytea[])
	ON CONFLICT DO NOTHING
	RETURNING id`

// inserter runs the group commit of device inserts.
type inserter struct {
	d    *DB
	reqs chan *insertReq
	stop chan struct{} // closed by close
	wg   sync.WaitGroup
	// mu orders enqueuing against closing, as in the SQLite committer.
	mu     sync.RWMutex
	closed bool
	// statements counts the batch statements run, alone the inserts run by
	// a statement of their own.
	statements, alone atomic.Int64
}

// insertReq is one caller's device, its events and the channel for its
// result.
type insertReq struct {
	ctx    context.Context
	dev    *otos.Device
	events []*otos.Event
	result chan error
}

func newInserter(d *DB) *inserter {
	in := &inserter{d: d, reqs: make(chan *insertReq, maxInsertBatch*insertWorkers), stop: make(chan struct{})}
	in.wg.Add(insertWorkers)
	for range insertWorkers {
		go in.work()
	}
	return in
}

// insert inserts dev in a shared statement and returns its own result.
func (in *inserter) insert(ctx context.Context, dev *otos.Device, events []*otos.Event) error {
	r := &insertReq{ctx: ctx, dev: dev, events: events, result: make(chan error, 1)}
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return unavailable
	}
	select {
	case in.reqs <- r:
		in.mu.RUnlock()
	case <-ctx.Done():
		in.mu.RUnlock()
		return in.d.fail("create device", ctx.Err())
	}
	// Once queued, the insert may commit: wait for its outcome.
	return <-r.result
}

// close stops the workers; inserts still queued are answered EUNAVAILABLE.
func (in *inserter) close() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	in.mu.Unlock()
	close(in.stop)
	in.wg.Wait()
	for {
		select {
		case r := <-in.reqs:
			r.result <- unavailable
		default:
			return
		}
	}
}

func (in *inserter) work() {
	defer in.wg.Done()
	batch := make([]*insertReq, 0, maxInsertBatch)
	for {
		select {
		case r := <-in.reqs:
			batch = append(batch[:0], r)
		case <-in.stop:
			return
		}
	more:
		for len(batch) < maxInsertBatch {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		in.run(batch)
	}
}

// run inserts a batch and answers each of its callers.
func (in *inserter) run(batch []*insertReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.result <- in.d.fail("create device", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var inserted map[string]bool
	var err error
	if len(live) > 1 {
		in.statements.Add(1)
		inserted, err = in.insertMany(live)
		if err = in.d.fail("create devices", err); otos.ErrorCode(err) == otos.EUNAVAILABLE {
			// Alone, each would wait for the database once more.
			for _, r := range live {
				r.result <- err
			}
			return
		}
	}
	for _, r := range live {
		if err == nil && inserted[r.dev.ID] {
			r.result <- nil
			continue
		}
		in.alone.Add(1)
		r.result <- in.d.insertOne(r.ctx, r.dev, r.events)
	}
}

// insertMany inserts the devices of batch with one statement, and returns
// the ids of those it inserted.
func (in *inserter) insertMany(batch []*insertReq) (map[string]bool, error) {
	// Rows in one order in every batch: two batches that both hold the same
	// two new numbers then wait for each other in turn, never in a cycle.
	// Stable: of two rows with one number, the first to arrive wins.
	slices.SortStableFunc(batch, func(a, b *insertReq) int { return cmp.Compare(a.dev.DeviceNumber, b.dev.DeviceNumber) })
	n := len(batch)
	var (
		ids, tenants, templates, numbers, names, statuses = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		products, parents, addrs                          = make([]*string, n), make([]*string, n), make([]*string, n)
		lookups, hashes, hwHashes, hwKeys                 = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		created, updated                                  = make([]time.Time, n), make([]time.Time, n)
		connected, seen, expires                          = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		online                                            = make([]bool, n)
	)
	for i, r := range batch {
		dv := r.dev
		ids[i], tenants[i], templates[i], numbers[i], names[i], statuses[i] =
			dv.ID, dv.TenantID, dv.TemplateID, dv.DeviceNumber, dv.Name, string(dv.Status)
		products[i], parents[i], addrs[i] = optional(dv.ProductID), optional(dv.ParentID), optional(dv.SubDeviceAddr)
		lookups[i], hashes[i] = nonEmpty(dv.Credential.Lookup), nonEmpty(dv.Credential.PasswordHash)
		created[i], updated[i], connected[i], seen[i], online[i] = dv.CreatedAt, dv.UpdatedAt, dv.FirstConnectedAt, dv.LastSeenAt, dv.Online
		expires[i], hwHashes[i], hwKeys[i] = dv.VoucherExpiresAt, nonEmpty(dv.Hardware.IDHash), nonEmpty(dv.Hardware.PublicKey)
	}
	var events []*otos.Event
	for _, r := range batch {
		events = append(events, r.events...)
	}
	// No caller's context: the statement is everyone's.
	ctx, cancel := in.d.timeout(context.Background())
	defer cancel()
	args := []any{ids, tenants, templates, products, parents, numbers, names,
		addrs, statuses, lookups, hashes, created, updated, connected, seen, online, expires, hwHashes, hwKeys}
	if len(events) == 0 {
		rows, err := in.d.pool.Query(ctx, insertBatch, args...)
		if err != nil {
			return nil, err
		}
		return insertedIDs(rows, n)
	}
	return in.insertWithEvents(ctx, batch, args)
}

// insertWithEvents runs the batch statement and the events of the devices
// it inserted in one transaction, pipelined into two round trips: BEGIN
// with the insert, then the events with COMMIT. The events come last, as
// writeEvents requires.
func (in *inserter) insertWithEvents(ctx context.Context, batch []*insertReq, args []any) (map[string]bool, error) {
	conn, err := in.d.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	rollback := func(err error) (map[string]bool, error) {
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			conn.Conn().Close(ctx) // leave no connection in a transaction in the pool
		}
		return nil, err
	}
	var first pgx.Batch
	first.Queue("BEGIN")
	first.Queue(insertBatch, args...)
	br := conn.SendBatch(ctx, &first)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return rollback(err)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return rollback(err)
	}
	inserted, err := insertedIDs(rows, len(batch))
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rollback(err)
	}
	var events []*otos.Event
	for _, r := range batch {
		if inserted[r.dev.ID] {
			events = append(events, r.events...)
		}
	}
	var second pgx.Batch
	if len(events) > 0 {
		eargs, err := eventArgs(events)
		if err != nil {
			return rollback(err)
		}
		second.Queue(insertEvents, eargs...)
	}
	second.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &second).Close(); err != nil {
		return rollback(err)
	}
	return inserted, nil
}

// insertedIDs reads the ids that the batch statement returned.
func insertedIDs(rows pgx.Rows, n int) (map[string]bool, error) {
	defer rows.Close()
	inserted := make(map[string]bool, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		inserted[id] = true
	}
	return inserted, rows.Err()
}

// optional is an optional text column's value: nil (NULL) for "".
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonEmpty is an optional hash column's value: nil (NULL) for empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
