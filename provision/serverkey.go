package provision

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// KeyStore keeps the server's master key.
type KeyStore interface {
	InitServerKey(ctx context.Context, key []byte) ([]byte, error)
}

// ErrKeyMismatch is returned by ServerKey when the key file and the
// database hold different keys.
var ErrKeyMismatch = errors.New("server key mismatch")

// ServerKey returns the server's master key. Its home is the database, so
// that every node sharing the database hashes and seals template secrets
// alike: the first node to start stores a new key from rand, and the others
// get that one.
//
// A key file at path, which otos wrote before the key moved into the
// database (hex, mode 0600), is honoured: its key is stored when
// the database holds none yet, so that an existing deployment keeps
// recognising its template secrets. When the database holds another key,
// ServerKey fails with ErrKeyMismatch rather than pick one, for secrets
// hashed under the one are not recognised under the other. No key file is
// written.
func ServerKey(ctx context.Context, store KeyStore, path string, rand io.Reader) ([]byte, error) {
	key, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	fromFile := key != nil
	if !fromFile {
		key = make([]byte, KeySize)
		if _, err := io.ReadFull(rand, key); err != nil {
			return nil, fmt.Errorf("generate server key: %w", err)
		}
	}
	stored, err := store.InitServerKey(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("load server key: %w", err)
	}
	if len(stored) != KeySize {
		return nil, fmt.Errorf("the server key in the database is damaged: want %d bytes, got %d", KeySize, len(stored))
	}
	if fromFile && !bytes.Equal(stored, key) {
		return nil, fmt.Errorf("%w: %s holds another key than the database; the database's key hashed its "+
			"template secrets, so move the file away if this node belongs to that database", ErrKeyMismatch, path)
	}
	return stored, nil
}

// readKeyFile returns the key in the file at path, nil if there is no file.
func readKeyFile(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read server key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("server key %s is damaged: want %d hex-encoded bytes", path, KeySize)
	}
	return key, nil
}
