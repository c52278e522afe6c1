package main

// "otos backup FILE" and "otos restore FILE": an online, consistent copy of
// a running server's SQLite store, and putting one back into the data
// directory of a stopped server. PostgreSQL has pg_dump (see the README).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/otos-iot/otos/sqlite"
)

// storeFlags are the flags of backup and restore: where the store is.
type storeFlags struct {
	data, db string
}

func parseStoreFlags(name string, args []string, stderr io.Writer, env func(string) string) (*storeFlags, string, error) {
	f := &storeFlags{}
	fs := flag.NewFlagSet("otos "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: otos %s FILE [--data DIR | --db sqlite:PATH]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.data, "data", firstNonEmpty(env("OTOS_DATA"), "./otos-data"), "the server's data directory (env OTOS_DATA)")
	fs.StringVar(&f.db, "db", env("OTOS_DB"), "the server's --db, when it is a SQLite file elsewhere (env OTOS_DB)")
	var file string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" {
		fs.Usage()
		return nil, "", fmt.Errorf("%s: name the backup FILE", name)
	}
	if isPostgres(f.db) {
		return nil, "", fmt.Errorf("%s works on SQLite; for PostgreSQL use pg_dump and pg_restore (see the README, \"Backup and restore\")", name)
	}
	return f, file, nil
}

// path is the store's SQLite file.
func (f *storeFlags) path() string {
	if f.db != "" {
		return trimSQLite(f.db)
	}
	return filepath.Join(f.data, "otos.db")
}

// runBackup runs "otos backup FILE": a consistent copy of the store, taken
// while the server runs.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	f, file, err := parseStoreFlags("backup", args, stderr, env)
	if err != nil {
		return err
	}
	start := time.Now()
	info, err := sqlite.Backup(ctx, f.path(), file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s: schema %d, %d tenants, %d templates, %d devices, in %v\n", file, info.Version,
		info.Tenants, info.Templates, info.Devices, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "it holds the server key: keep it as private as the data directory")
	return nil
}

// runRestore runs "otos restore FILE": it checks the backup, then puts it in
// place of the store of a stopped server, keeping the store it replaces
// beside it. A running server (it holds the store's lock) is refused.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	f, file, err := parseStoreFlags("restore", args, stderr, env)
	if err != nil {
		return err
	}
	info, err := sqlite.Inspect(ctx, file)
	if err != nil {
		return fmt.Errorf("restore: %w; nothing changed", err)
	}
	dst := f.path()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	unlock, err := lockStore(dst)
	if err != nil {
		return fmt.Errorf("restore: %w; nothing changed", err)
	}
	defer unlock()
	kept, err := replaceStore(file, dst)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s: schema %d, %d tenants, %d templates, %d devices\n", file, dst,
		info.Version, info.Tenants, info.Templates, info.Devices)
	if kept != "" {
		fmt.Fprintf(stdout, "the store it replaced is kept as %s\n", kept)
	}
	return nil
}

// replaceStore copies src over the SQLite store dst: into a temporary file
// beside it, synced, then renamed in place. The store it replaces, if any,
// is renamed aside with its WAL, whose frames belong to it and must not be
// read into the restored file.
func replaceStore(src, dst string) (kept string, err error) {
	tmp := dst + ".restoring"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if _, err := os.Stat(dst); err == nil {
		kept = dst + ".before-restore-" + time.Now().UTC().Format("20060102T150405")
		for _, ext := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(dst+ext, kept+ext); err != nil && !errors.Is(err, os.ErrNotExist) {
				os.Remove(tmp)
				return "", err
			}
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return kept, err
	}
	syncDir(filepath.Dir(dst))
	return kept, nil
}

// copyFile copies src to a new private file dst, synced.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// lockStore takes the lock that a server holds on its SQLite store while
// it runs (a file beside it, flock), so that a restore cannot replace the
// store under it; it fails at once when the lock is held.
func lockStore(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("an otos server is running on %s: stop it first", path)
		}
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
