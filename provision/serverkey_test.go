package provision_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/sqlite"
)

func TestServerKey(t *testing.T) {
	open := func(t *testing.T) *sqlite.DB { return newStore(t) }
	writeKey := func(t *testing.T, key []byte) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "server.key")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := func() []byte {
		b := make([]byte, provision.KeySize)
		rand.Read(b)
		return b
	}

	t.Run("new", func(t *testing.T) {
		// No file: a new key is stored, and the next start gets it back.
		store := open(t)
		path := filepath.Join(t.TempDir(), "server.key")
		first, err := provision.ServerKey(t.Context(), store, path, rand.Reader)
		if err != nil || len(first) != provision.KeySize {
			t.Fatalf("first start: %x, %v", first, err)
		}
		again, err := provision.ServerKey(t.Context(), store, path, rand.Reader)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("second start: %x, %v; want %x", again, err, first)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a key file was written: %v", err)
		}
	})
	t.Run("file-seeds-the-store", func(t *testing.T) {
		// A deployment from before the key moved into the database keeps
		// its key, and so does a node without the file afterwards.
		store, old := open(t), key()
		got, err := provision.ServerKey(t.Context(), store, writeKey(t, old), rand.Reader)
		if err != nil || !bytes.Equal(got, old) {
			t.Fatalf("with the file: %x, %v; want %x", got, err, old)
		}
		got, err = provision.ServerKey(t.Context(), store, "", rand.Reader)
		if err != nil || !bytes.Equal(got, old) {
			t.Fatalf("without the file: %x, %v; want %x", got, err, old)
		}
	})
	t.Run("fail/mismatch", func(t *testing.T) {
		store := open(t)
		if _, err := provision.ServerKey(t.Context(), store, "", rand.Reader); err != nil {
			t.Fatal(err)
		}
		_, err := provision.ServerKey(t.Context(), store, writeKey(t, key()), rand.Reader)
		if !errors.Is(err, provision.ErrKeyMismatch) {
			t.Fatalf("a file with another key: %v, want %v", err, provision.ErrKeyMismatch)
		}
	})
	t.Run("fail/damaged-file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "server.key")
		if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := provision.ServerKey(t.Context(), open(t), path, rand.Reader); err == nil {
			t.Fatal("a damaged key file was accepted")
		}
	})
}
