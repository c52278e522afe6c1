package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"

	"github.com/otos-iot/otos/provision"
)

// keyring returns the keys under which template secrets are hashed and
// sealed, derived from the server key that the store keeps (see
// provision.ServerKey; <data>/server.key, where an older otos wrote it,
// seeds the store and must agree with it).
func (m *Main) keyring(ctx context.Context) (*provision.Keyring, error) {
	key, err := provision.ServerKey(ctx, m.Store, filepath.Join(m.Config.Data, "server.key"), rand.Reader)
	if err != nil {
		return nil, err
	}
	return provision.NewKeyring(key)
}

// notifier returns the store's channel to the other nodes that share it, or
// nil when the store is not shared (SQLite).
func (m *Main) notifier() provision.Notifier {
	if n, ok := m.Store.(provision.Notifier); ok {
		return n
	}
	return nil
}

// subscribe applies the other nodes' changes (voided vouchers, disabled
// devices, revoked accounts) to this node's voucher cache and broker. It
// runs once the broker is set, which the service's Revoked callback uses.
func (m *Main) subscribe() {
	if n := m.notifier(); n != nil {
		n.Subscribe(m.Service.Receive)
	}
}

// ensureAdminToken makes sure the admin token in the file at path is valid.
// On a store that several nodes share, the token is stored under a name of
// this node's own, so that nodes do not revoke each other's tokens when they
// start with empty data directories.
func (m *Main) ensureAdminToken(ctx context.Context, path string) (bool, error) {
	if m.notifier() == nil {
		return m.Service.Admin.EnsureBootstrapToken(ctx, path)
	}
	return m.Service.Admin.EnsureNodeToken(ctx, path, nodeName(m.Config.Data))
}

// nodeName names this node among those that share a store: its host name
// and data directory, which together stay the same across restarts.
func nodeName(data string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	return host + ":" + data
}
