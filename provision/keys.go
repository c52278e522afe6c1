package provision

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
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
	subkey []byte    // the root of Derive's keys
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
	k := &Keyring{lookup: derive(master, "otos/template-secret/lookup/v1"), aead: aead,
		subkey: derive(master, "otos/subkeys/v1")}
	// Keying an HMAC costs two hash blocks; every registration needs one.
	k.macs.New = func() any { return hmac.New(sha256.New, k.lookup) }
	return k, nil
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Derive returns 32 bytes derived from the server key for purpose: the same
// on every node that shares the store, and revealing neither the server key
// nor another purpose's bytes. The broker adapters take their signing keys
// and passwords from it, so that nothing more has to be stored or copied.
func (k *Keyring) Derive(purpose string) []byte { return derive(k.subkey, purpose) }

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

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so that a crash leaves either the old or the new file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
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
	return os.Rename(f.Name(), path)
}

// randomString returns n random bytes from rand, base64url without padding.
func randomString(rand io.Reader, n int) (otos.Secret, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return otos.Secret(base64.RawURLEncoding.EncodeToString(b)), nil
}
