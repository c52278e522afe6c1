package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// batchOf builds one batch of writes, each inserting its value into table
// t (or running bad SQL where the value is "bad"), as the committer would
// gather them from concurrent callers.
func batchOf(ctx context.Context, values ...string) []*writeReq {
	var b []*writeReq
	for _, v := range values {
		q := `INSERT INTO t (v) VALUES (?)`
		if v == "bad" {
			q = `INSERT INTO no_such_table (v) VALUES (?)`
		}
		b = append(b, &writeReq{ctx: ctx, single: true, result: make(chan error, 1),
			fn: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, q, v)
				return err
			}})
	}
	return b
}

// newTestCommitter returns a committer on a fresh database with a table t
// whose column v is unique.
func newTestCommitter(t *testing.T) (*committer, *DB) {
	t.Helper()
	d := mustOpenTemp(t)
	if _, err := d.write.Exec(`CREATE TABLE t (v TEXT NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	// A committer of the test's own, so that batches are formed by hand.
	return &committer{db: d.write}, d
}

func rowsOf(t *testing.T, d *DB) []string {
	t.Helper()
	rows, err := d.write.Query(`SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestBatchConstraintFailsAlone(t *testing.T) {
	c, d := newTestCommitter(t)
	b := batchOf(context.Background(), "a", "b", "a", "c")
	c.commit(b)
	for i, want := range []bool{true, true, false, true} {
		if err := <-b[i].result; (err == nil) != want {
			t.Errorf("write %d: err %v, want success %v", i, err, want)
		}
	}
	if got := rowsOf(t, d); len(got) != 3 {
		t.Errorf("rows %v, want a, b, c", got)
	}
}

func TestBatchEndsAtFatalError(t *testing.T) {
	c, d := newTestCommitter(t)
	b := batchOf(context.Background(), "a", "bad", "c")
	c.commit(b)
	for i := range b {
		if err := <-b[i].result; err == nil {
			t.Errorf("write %d succeeded; a fatal error must fail the whole batch", i)
		}
	}
	if got := rowsOf(t, d); len(got) != 0 {
		t.Errorf("rows %v after a failed batch, want none", got)
	}
}

// A write runs to its end once started, even if its caller gives up: the
// statements see a context without the caller's cancellation, because the
// driver would interrupt a running statement, and SQLite then rolls back the
// whole shared transaction with the writes of every other caller.
func TestWriteRunsToItsEndOnceStarted(t *testing.T) {
	c, d := newTestCommitter(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := batchOf(context.Background(), "a")
	b = append(b, &writeReq{ctx: ctx, result: make(chan error, 1),
		fn: func(ctx context.Context, tx *sql.Tx) error {
			cancel() // the caller goes away after the write has started
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ('b')`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES ('c')`)
			return err
		}})
	b = append(b, batchOf(context.Background(), "d")...)
	c.commit(b)
	for i := range b {
		if err := <-b[i].result; err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := rowsOf(t, d); len(got) != 4 {
		t.Errorf("rows %v, want a, b, c, d", got)
	}
	// A write whose caller has gone before it starts is not run.
	b = batchOf(ctx, "e")
	c.commit(b)
	if err := <-b[0].result; !errors.Is(err, context.Canceled) {
		t.Errorf("write after cancel: %v, want context.Canceled", err)
	}
}

// The background checkpointer copies the WAL into the database file while
// the WAL is far below the writer's own checkpoint threshold.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otos.db")
	d := mustOpen(t, path)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := d.exec(t.Context(), `INSERT INTO tenants (id, name, created_at, seq) VALUES (?, ?, 0, (SELECT MAX(seq) + 1 FROM tenants))`,
			fmt.Sprintf("tenant-%d", i), strings.Repeat("x", 2000)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if after.Size() > before.Size()+300*2000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (from %d) 5 s after the writes: not checkpointed", after.Size(), before.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
