package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmts caches prepared statements by their text. Parsing SQL costs more
// than running a simple statement, so every query is prepared once per pool
// (database/sql then prepares it on each connection as needed).
type stmts struct {
	db *sql.DB
	m  sync.Map // query → *sql.Stmt
}

// get returns the prepared statement for query.
func (s *stmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// close closes every cached statement.
func (s *stmts) close() {
	s.m.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
}

// queryRow runs a read query on the reader pool.
func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := d.readStmts.get(ctx, query)
	if err != nil {
		return d.read.QueryRowContext(ctx, query, args...) // reports err
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read query returning rows on the reader pool.
func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := d.readStmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// txStmt returns query prepared for the writer, bound to tx.
func (d *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := d.writeStmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}
