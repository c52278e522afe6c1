package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certificate is the TLS listener's certificate, replaced on SIGHUP without
// a restart: new handshakes get the new one, live sessions keep theirs.
type certificate struct {
	cert, key string
	cur       atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the certificate and key files.
func loadCertificate(cert, key string) (*certificate, error) {
	c := &certificate{cert: cert, key: key}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on failure the certificate in use stays.
func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", c.cert, c.key, err)
	}
	c.cur.Store(&pair)
	return nil
}

// config is the listener's TLS configuration, which asks for the current
// certificate at each handshake.
func (c *certificate) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }}
}

// Reload re-reads what can change without a restart: the TLS certificate
// and key. It is what SIGHUP does.
func (m *Main) Reload() error {
	if m.cert == nil {
		return nil
	}
	if err := m.cert.reload(); err != nil {
		m.Logger.Error("reload: the TLS certificate in use stays", "err", err)
		return err
	}
	m.Logger.Info("reload: TLS certificate loaded", "cert", m.cert.cert)
	return nil
}

// reloadOnHUP calls Reload at each SIGHUP until ctx ends.
func (m *Main) reloadOnHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = m.Reload()
		}
	}
}
