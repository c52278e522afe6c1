package provision

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/otos-iot/otos"
)

// KeySize is the size in bytes of the server's master key.
const KeySize = 32

// Keyring holds the keys derived from the server's master key: one for the
// keyed hash under which template secrets are looked up, one for sealing
// secrets that must be kept recoverable. Neither is the master key itself.
type Keyring struct {
	lookup []byte
	aead   cipher.AEAD
	macs   sync.Pool // of keyed HMACs for Hash
}

// NewKeyring derives a Keyring from master, which must be KeySize bytes.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("server key must be %d bytes, got %d", KeySize, len(master))
	}
	block, err := aes.NewCipher(derive(master, "otos/template-secret/seal/v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keyring{lookup: derive(master, "otos/template-secret/lookup/v1"), aead: aead}
	// Keying an HMAC costs two hash blocks; every registration needs one.
	k.macs.New = func() any { return hmac.New(sha256.New, k.lookup) }
	return k, nil
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Hash returns the keyed hash under which secret is stored and looked up.
// Without the server key, a copy of the database does not reveal which
// secret belongs to which template, nor allow an offline guess.
func (k *Keyring) Hash(secret otos.Secret) []byte {
	m := k.macs.Get().(hash.Hash)
	defer k.macs.Put(m)
	m.Reset()
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Seal encrypts secret (AES-256-GCM, random nonce from rand).
func (k *Keyring) Seal(rand io.Reader, secret otos.Secret) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k.aead.Seal(nonce, nonce, []byte(secret), []byte("template-secret")), nil
}

// Open decrypts what Seal produced.
func (k *Keyring) Open(sealed []byte) (otos.Secret, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("open: sealed secret too short")
	}
	b, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte("template-secret"))
	if err != nil {
		return "", fmt.Errorf("open: %w", err)
	}
	return otos.Secret(b), nil
}

// LoadOrCreateKey returns the master key kept in the file at path (hex, mode
// 0600), creating it from rand on first use. The key must survive restarts:
// without it no stored template secret can be recognised.
//
// Deprecated: the key lives in the store, so that the nodes sharing it
// share the key; see ServerKey, which reads such a file once.
func LoadOrCreateKey(path string, rand io.Reader) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("server key %s is damaged: want %d hex-encoded bytes", path, KeySize)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read server key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("generate server key: %w", err)
	}
	err = CreateFileAtomic(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use its key.
		return LoadOrCreateKey(path, rand)
	}
	if err != nil {
		return nil, fmt.Errorf("write server key: %w", err)
	}
	return key, nil
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so that a crash leaves either the old or the new file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeVia(path, data, perm, os.Rename)
}

// CreateFileAtomic is WriteFileAtomic that fails with os.ErrExist instead of
// replacing an existing file.
func CreateFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeVia(path, data, perm, os.Link)
}

func writeVia(path string, data []byte, perm os.FileMode, place func(tmp, path string) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return place(f.Name(), path)
}

// randomString returns n random bytes from rand, base64url without padding.
func randomString(rand io.Reader, n int) (otos.Secret, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return otos.Secret(base64.RawURLEncoding.EncodeToString(b)), nil
}
