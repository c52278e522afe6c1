package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/otos-iot/otos"
	otosnats "github.com/otos-iot/otos/nats"
	"github.com/otos-iot/otos/provision"
)

// openNATS starts answering the callout of the NATS servers at
// m.Config.NATS, if any.
func (m *Main) openNATS(keys *provision.Keyring) error {
	if m.Config.NATS == "" {
		return nil
	}
	k, err := otosnats.DeriveKeys(keys.Derive)
	if err != nil {
		return err
	}
	m.NATS, err = otosnats.Open(otosnats.Config{URL: m.Config.NATS, Keys: k, Sessions: m.Service.Sessions, Logger: m.Logger})
	if err != nil {
		return fmt.Errorf("%w (is the server configured with the block `otos nats config` prints?)", err)
	}
	m.Logger.Info("answering the NATS authorization callout", "url", m.Config.NATS)
	return nil
}

// publishers returns what passes events on as they happen: the embedded
// broker, the NATS servers, both, or nil.
func (m *Main) publishers() otos.EventPublisher {
	var ps eventPublishers
	if m.Broker != nil {
		ps = append(ps, m.Broker)
	}
	if m.NATS != nil {
		ps = append(ps, m.NATS)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

type eventPublishers []otos.EventPublisher

func (ps eventPublishers) PublishEvents(es []*otos.Event) {
	for _, p := range ps {
		p.PublishEvents(es)
	}
}

// runNATS runs "otos nats config": it prints the nats-server configuration
// block that makes otos its authentication service. It reads the server key
// from the store the flags name, as "otos serve" would.
func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "config" {
		fmt.Fprint(stderr, "usage: otos nats config [--data DIR] [--db DSN]\n")
		return errors.New(`nats takes one command: config`)
	}
	keys, closeStore, err := storeKeys(ctx, args[1:], stderr, env)
	if err != nil {
		return err
	}
	defer closeStore()
	k, err := otosnats.DeriveKeys(keys.Derive)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, otosnats.ServerConfig(k, ""))
	return err
}
