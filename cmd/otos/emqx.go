package main

import (
	"net/netip"

	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/otos-iot/otos/console"
	otoshttp "github.com/otos-iot/otos/http"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/emqx"
	"github.com/otos-iot/otos/provision"
)

// emqxToken returns the credential EMQX sends otos, derived from the
// server key: every node that shares the store accepts the same.
func emqxToken(keys *provision.Keyring) otos.Secret {
	return otos.Secret(base64.RawURLEncoding.EncodeToString(keys.Derive("otos/emqx/token/v1")))
}

// validateBrokers checks the external brokers' flags.
func (c *Config) validateBrokers() error {
	if c.EMQXAPI != "" {
		c.EMQX = true
		u, err := url.Parse(c.EMQXAPI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--emqx-api %q is not an http(s):// URL", c.EMQXAPI)
		}
		if c.EMQXAPIKey == "" || c.EMQXAPISecret == "" {
			return errors.New("--emqx-api needs --emqx-api-key and OTOS_EMQX_API_SECRET (an EMQX API key)")
		}
	}
	return nil
}

// openEMQX prepares EMQX's authentication service, if asked for.
func (m *Main) openEMQX(keys *provision.Keyring) {
	if !m.Config.EMQX && m.Config.EMQXAPI == "" {
		return
	}
	m.EMQX = emqx.New(emqx.Config{Sessions: m.Service.Sessions, Token: emqxToken(keys), API: m.Config.EMQXAPI,
		APIKey: m.Config.EMQXAPIKey, APISecret: m.Config.EMQXAPISecret, Logger: m.Logger})
	m.Logger.Info("answering EMQX's authentication and authorization", "path", emqx.Prefix+"/", "api", m.Config.EMQXAPI)
}

// mounts returns the other adapters' handlers on the HTTP port.
// mounts are the handlers of other adapters on the HTTP port: EMQX's
// authentication service, and the web console, whose clients are named as
// the API names them (proxies trusted).
func (m *Main) mounts(proxies []netip.Prefix) map[string]http.Handler {
	out := map[string]http.Handler{}
	if m.EMQX != nil {
		out[emqx.Prefix+"/"] = http.StripPrefix(emqx.Prefix, m.EMQX.Handler())
	}
	if m.Config.Console {
		c := console.New(console.Config{Admin: m.Service.Admin, Now: m.Config.Now, Logger: m.Logger,
			ClientOf: func(r *http.Request) otos.Client { return otoshttp.ClientOf(r, proxies) },
			OverTLS:  func(r *http.Request) bool { return otoshttp.OverTLS(r, proxies) }})
		out[console.Prefix+"/"] = c.Handler()
		out["GET "+console.Prefix] = http.RedirectHandler(console.Prefix+"/", http.StatusMovedPermanently)
	}
	return out
}

// runEMQX runs "otos emqx config URL": it prints the emqx.conf block that
// makes otos, at URL as EMQX reaches it, EMQX's authentication service.
func runEMQX(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) < 2 || args[0] != "config" {
		fmt.Fprint(stderr, "usage: otos emqx config URL [--data DIR] [--db DSN]\n")
		return errors.New("emqx takes one command: config, with the URL at which EMQX reaches otos")
	}
	u, err := url.Parse(args[1])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: give the http(s):// address at which EMQX reaches otos", args[1])
	}
	keys, closeStore, err := storeKeys(ctx, args[2:], stderr, env)
	if err != nil {
		return err
	}
	defer closeStore()
	_, err = io.WriteString(stdout, emqx.ServerConfig(args[1], string(emqxToken(keys))))
	return err
}

// storeKeys opens the store that serve's flags in args name and returns
// its keyring, for the commands that print a broker's configuration.
func storeKeys(ctx context.Context, args []string, stderr io.Writer, env func(string) string) (*provision.Keyring, func(), error) {
	m := NewMain()
	if err := m.ParseFlags(args, stderr, env); err != nil {
		return nil, nil, err
	}
	m.Logger = slog.New(slog.DiscardHandler)
	if err := os.MkdirAll(m.Config.Data, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	var err error
	if m.Store, err = m.openStore(); err != nil {
		return nil, nil, err
	}
	keys, err := m.keyring(ctx)
	if err != nil {
		m.Store.Close()
		return nil, nil, err
	}
	return keys, func() { m.Store.Close() }, nil
}
