package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/otos-iot/otos"
)

// Config is what Open needs.
type Config struct {
	// URL names the NATS servers otos connects to, comma-separated.
	URL      string
	Keys     *Keys
	Sessions otos.Sessions
	Logger   *slog.Logger
	// Options are added to the connections' own (TLS, for one).
	Options []natsgo.Option
	// Workers bounds the callouts answered at once; 0 means 256.
	Workers int
}

// Service is otos as the authentication service of a NATS cluster: the
// callout, the relays and the revocations. Every otos node runs one; the
// servers hand each callout and relayed message to one of them.
type Service struct {
	cfg   Config
	log   *slog.Logger
	conn  *natsgo.Conn // AccountOTOS: callouts, relays, events
	sys   *natsgo.Conn // the system account: connection events, kicks
	work  chan struct{}
	boxes *boxes
	sign  jwt.SignFn // the issuer's, with its key expanded once

	conns   connections
	mu      sync.Mutex
	mine    map[connID]*answered // connections whose callout this node answered
	closing chan struct{}
}

// Open connects to the NATS servers at cfg.URL as otos's two users and
// starts answering callouts. It fails when the servers cannot be reached
// or refuse otos's users (a configuration that is not ServerConfig's).
func Open(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	s := &Service{cfg: cfg, log: cfg.Logger, work: make(chan struct{}, cfg.Workers),
		mine: map[connID]*answered{}, closing: make(chan struct{})}
	s.conns.init()
	seed, err := cfg.Keys.XKey.Seed()
	if err != nil {
		return nil, err
	}
	_, private, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, err
	}
	s.boxes = newBoxes(private)
	if s.sign, err = signer(cfg.Keys.Issuer); err != nil {
		return nil, err
	}
	if s.conn, err = s.connect("otos", cfg.Keys.User, nil); err != nil {
		return nil, err
	}
	if s.sys, err = s.connect("otos-sys", cfg.Keys.Sys, func() { go s.resync() }); err != nil {
		s.conn.Close()
		return nil, err
	}
	if err = s.subscribe(); err != nil {
		s.Close()
		return nil, err
	}
	go s.resync()
	go s.sweep()
	return s, nil
}

// connect opens one of otos's connections as user; reconnected runs after
// each reconnection.
func (s *Service) connect(name string, user nkeys.KeyPair, reconnected func()) (*natsgo.Conn, error) {
	opts := append([]natsgo.Option{natsgo.Name(name), natsgo.Nkey(public(user), user.Sign),
		natsgo.MaxReconnects(-1), natsgo.ReconnectWait(250 * time.Millisecond),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				s.log.Warn("nats: disconnected", "conn", name, "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(*natsgo.Conn) {
			s.log.Info("nats: reconnected", "conn", name)
			if reconnected != nil {
				reconnected()
			}
		})}, s.cfg.Options...)
	c, err := natsgo.Connect(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect as %s to %s: %w", name, s.cfg.URL, err)
	}
	return c, nil
}

// subscribe starts the callout, the relays and the connection events.
func (s *Service) subscribe() error {
	subs := []struct {
		conn  *natsgo.Conn
		subj  string
		queue bool
		fn    natsgo.MsgHandler
	}{
		{s.conn, authSubject, true, s.callout},
		{s.conn, uplinkPrefix + ">", true, s.uplink},
		{s.conn, appPrefix + ">", true, s.downlink},
		{s.sys, fmt.Sprintf(connectEvent, AccountDevices), false, s.connected},
		{s.sys, fmt.Sprintf(connectEvent, AccountApps), false, s.connected},
		{s.sys, fmt.Sprintf(disconnectEvent, AccountDevices), false, s.disconnected},
		{s.sys, fmt.Sprintf(disconnectEvent, AccountApps), false, s.disconnected},
	}
	for _, sub := range subs {
		var err error
		if sub.queue {
			_, err = sub.conn.QueueSubscribe(sub.subj, queueGroup, sub.fn)
		} else {
			_, err = sub.conn.Subscribe(sub.subj, sub.fn)
		}
		if err != nil {
			return fmt.Errorf("nats: subscribe %s: %w", sub.subj, err)
		}
	}
	for _, c := range []*natsgo.Conn{s.conn, s.sys} {
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nats: subscribe: %w", err)
		}
		if err := c.LastError(); err != nil {
			return fmt.Errorf("nats: subscribe: %w", err)
		}
	}
	return nil
}

// Close stops answering and closes otos's connections. The servers keep
// their clients; new ones wait for another otos node.
func (s *Service) Close() error {
	select {
	case <-s.closing:
		return nil
	default:
		close(s.closing)
	}
	var errs []error
	for _, c := range []*natsgo.Conn{s.conn, s.sys} {
		if c != nil {
			errs = append(errs, c.Drain())
		}
	}
	return errors.Join(errs...)
}

// background returns a context for work that must not outlive Close.
func (s *Service) background(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
