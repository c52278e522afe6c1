package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Backup writes a consistent copy of the database at src to dst, which must
// not exist, while otos may be writing to src: VACUUM INTO reads one
// snapshot (a read transaction of the WAL) and writes a compacted, complete
// database, so registrations go on meanwhile. The copy is then checked
// (Inspect) and made readable by its owner only. Secrets stay as protected
// as in the store: hashed, or sealed with the server key's data key, which
// is in the copy too (see the README: keep backups as private as the data
// directory).
func Backup(ctx context.Context, src, dst string) (Info, error) {
	if _, err := os.Stat(src); err != nil {
		return Info{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return Info{}, fmt.Errorf("sqlite: backup: %s exists; choose a new file", dst)
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(src)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return Info{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	// Created private before SQLite writes to it.
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Info{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	if err := os.Remove(dst); err != nil { // VACUUM INTO wants to create it; the mode is set again below
		return Info{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		os.Remove(dst)
		return Info{}, fmt.Errorf("sqlite: backup of %s: %w", src, err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return Info{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	info, err := Inspect(ctx, dst)
	if err != nil {
		return Info{}, fmt.Errorf("sqlite: the backup does not check: %w", err)
	}
	return info, nil
}

// Info is what Inspect found in an otos database.
type Info struct {
	// Version is the newest schema migration applied; Known the newest
	// this build knows.
	Version, Known              int
	Tenants, Templates, Devices int64
}

// Inspect checks that the file at path is a whole otos SQLite database that
// this build can open: a SQLite file, PRAGMA integrity_check "ok", otos's
// schema at a version it knows, and a server key. It opens the file read
// only and changes nothing.
func Inspect(ctx context.Context, path string) (Info, error) {
	var info Info
	if err := sqliteHeader(path); err != nil {
		return info, err
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?mode=ro&immutable=1")
	if err != nil {
		return info, err
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return info, fmt.Errorf("%s: integrity check: %w", path, err)
	}
	if check != "ok" {
		return info, fmt.Errorf("%s is damaged: integrity check says %q", path, check)
	}
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&info.Version); err != nil {
		return info, fmt.Errorf("%s is not an otos database (no schema_migrations)", path)
	}
	ms, err := loadMigrations()
	if err != nil {
		return info, err
	}
	info.Known = ms[len(ms)-1].Version
	if info.Version > info.Known {
		return info, fmt.Errorf("%s has schema version %d, newer than this otos knows (%d): use a newer otos", path, info.Version, info.Known)
	}
	var keys int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM server_key`).Scan(&keys); err != nil || keys == 0 {
		return info, fmt.Errorf("%s holds no server key: not a whole otos database", path)
	}
	for _, c := range []struct {
		n     *int64
		table string
	}{{&info.Tenants, "tenants"}, {&info.Templates, "templates"}, {&info.Devices, "devices"}} {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table).Scan(c.n); err != nil {
			return info, fmt.Errorf("%s is not an otos database (no %s)", path, c.table)
		}
	}
	return info, nil
}

// sqliteHeader checks that path starts as a SQLite database file does.
func sqliteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "SQLite format 3\x00" {
		return errors.New(path + " is not a SQLite database file")
	}
	return nil
}

// escapePath makes path safe in a file: URI.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
}
