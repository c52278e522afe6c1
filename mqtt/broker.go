// Package mqtt is the embedded MQTT broker of otos, on mochi-mqtt: an adapter
// of the core's sessions service (otos.Sessions), which authenticates each
// CONNECT (devices by voucher, service accounts by their credentials, the
// lock-out by client address) and decides every topic. Device uplinks are
// republished under otos/{tenant}/{device_number}/ for the tenant's
// consumers, with the sender in MQTT 5 user properties.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/otos-iot/otos"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxPacketSize is the largest MQTT packet the broker reads.
const MaxPacketSize = 256 << 10

// Config holds the broker's dependencies and listeners.
type Config struct {
	Addr     string        // plain TCP listen address; "" for none
	TLSAddr  string        // TLS listen address; "" for none
	TLS      *tls.Config   // required with TLSAddr
	Sessions otos.Sessions // the core, which decides who may connect and what topics it may use
	// Registrar, when set, answers device auth requests of registration
	// sessions and gateways' sub-device batches (register.go); nil: the
	// registration topics are refused.
	Registrar otos.Registrar
	Logger    *slog.Logger
	Registry  *prometheus.Registry
}

// Broker is the embedded MQTT broker.
type Broker struct {
	cfg    Config
	server *mochi.Server
	hook   *hook
	tcp    *listener
	tls    *listener
	stop   chan struct{} // closed by Close: ends the sweeper
	once   sync.Once
}

// maxWritesPending bounds the messages queued to one client. mochi's
// default, 8,192, makes the queue's buffer (64 kB) a large allocation, fresh
// and zeroed at every CONNECT, which cost a CONNECT storm half its CPU in
// page faults; 4,000 keeps the buffer (32 kB) a small allocation, which kept
// most of the saving of a queue of 1,024. It stays large because the queue
// also takes the burst of retained messages that a subscription receives at
// once (a consumer subscribing to a tenant's whole topic tree gets every
// device's retained uplink): mochi drops what does not fit, and the broker
// counts it (otos_mqtt_dropped_total).
const maxWritesPending = 4000

// New returns a broker; Open starts it.
func New(cfg Config) *Broker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	caps := mochi.NewDefaultServerCapabilities()
	// Sessions of devices that never come back must not live forever.
	caps.MaximumSessionExpiryInterval = 7 * 24 * 3600
	// mochi sizes its read buffer from a packet's header before reading it:
	// without a bound, 5 bytes claiming 256 MB allocate 256 MB, before any
	// authentication.
	caps.MaximumPacketSize = MaxPacketSize
	// The ACL sees a publish's topic before an alias is resolved; offering
	// no aliases keeps every topic visible to it.
	caps.TopicAliasMaximum = 0
	// mochi makes each client's outbound queue at CONNECT, with a buffer
	// of 8 bytes per entry; see maxWritesPending.
	caps.MaximumClientWritesPending = maxWritesPending
	server := mochi.New(&mochi.Options{
		Capabilities: caps,
		// The broker publishes the core's events itself (events.go).
		InlineClient: true,
		// mochi logs every refused CONNECT as a warning without context; the
		// hook logs refusals itself.
		Logger: slog.New(levelFilter{cfg.Logger.Handler(), slog.LevelError}),
	})
	b := &Broker{cfg: cfg, server: server, stop: make(chan struct{})}
	b.hook = &hook{core: cfg.Sessions, registrar: cfg.Registrar, server: server, log: cfg.Logger, metrics: newMetrics(cfg.Registry),
		byKey: map[string]map[*mochi.Client]struct{}{}}
	return b
}

// Open binds the listeners and starts serving. A listener that cannot bind
// stops the start with an error.
func (b *Broker) Open() error {
	if err := b.server.AddHook(b.hook, nil); err != nil {
		return err
	}
	if b.cfg.Addr != "" {
		ln, err := net.Listen("tcp", b.cfg.Addr)
		if err != nil {
			return fmt.Errorf("mqtt listen on %s: %w", b.cfg.Addr, err)
		}
		b.tcp = newListener("tcp", retryListener{ln, b.cfg.Logger}, b.cfg.Logger)
		if err := b.server.AddListener(b.tcp); err != nil {
			return err
		}
	}
	if b.cfg.TLSAddr != "" {
		if b.cfg.TLS == nil {
			return errors.New("mqtt: a TLS listener needs a certificate and key")
		}
		ln, err := net.Listen("tcp", b.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("mqtt TLS listen on %s: %w", b.cfg.TLSAddr, err)
		}
		b.tls = newListener("tls", tls.NewListener(retryListener{ln, b.cfg.Logger}, b.cfg.TLS), b.cfg.Logger)
		if err := b.server.AddListener(b.tls); err != nil {
			return err
		}
	}
	if err := b.server.Serve(); err != nil {
		return err
	}
	go b.sweep()
	return nil
}

// sweepEvery is how often clients that vanished without a disconnect event
// are forgotten.
const sweepEvery = 5 * time.Second

func (b *Broker) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.hook.sweep()
		}
	}
}

// Addr returns the plain listener's address, "" when there is none.
func (b *Broker) Addr() string {
	if b.tcp == nil {
		return ""
	}
	return b.tcp.Address()
}

// TLSAddr returns the TLS listener's address, "" when there is none.
func (b *Broker) TLSAddr() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// Drop ends every live session of a device or service account id, with
// reason "not authorized". It returns without waiting for the sockets.
func (b *Broker) Drop(id string) {
	for _, cl := range b.hook.clients(id) {
		b.hook.revoked.Store(cl, struct{}{})
		b.cfg.Logger.Info("mqtt session dropped", "key", id, "client", cl.ID)
		_ = b.server.DisconnectClient(cl, packets.ErrNotAuthorized)
	}
}

// Close stops the listeners and disconnects every client.
func (b *Broker) Close() error {
	b.once.Do(func() { close(b.stop) })
	return b.server.Close()
}

// levelFilter passes only records at or above min to h.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(as), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}
