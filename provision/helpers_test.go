package provision_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/sqlite"
)

// sys is the principal of the system administrator.
var sys = &otos.Principal{Role: otos.RoleAdmin}

// device is the client that tests register and connect from.
var device = otos.Client{Addr: "192.0.2.10", Key: "192.0.2.10"}

// newStore returns a SQLite store in a temporary directory.
func newStore(t testing.TB) *sqlite.DB {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// newKeys returns a Keyring of a fixed master key.
func newKeys(t testing.TB) *provision.Keyring {
	t.Helper()
	keys, err := provision.NewKeyring(make([]byte, provision.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// newService returns a Service on SQLite in a temporary directory, and its
// store.
func newService(t testing.TB) (*provision.Service, otos.Store) {
	t.Helper()
	store := newStore(t)
	return provision.New(provision.Config{Store: store, Keys: newKeys(t)}), store
}

// register runs req through the registrar, as a protocol adapter would
// hand it over, from client from.
func register(ctx context.Context, s *provision.Service, from otos.Client, req *otos.AuthRequest) (*otos.Issued, error) {
	return s.Registrar.Register(ctx, from, func() (*otos.AuthRequest, error) { return req, nil })
}

// createTemplate creates a template of the system administrator and returns
// its secret.
func createTemplate(t testing.TB, s *provision.Service, tpl *otos.Template) otos.Secret {
	t.Helper()
	secret, err := s.Admin.CreateTemplate(context.Background(), sys, tpl)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}
