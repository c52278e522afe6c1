package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/emqx"
	otoshttp "github.com/otos-iot/otos/http"
	"github.com/otos-iot/otos/limit"
	"github.com/otos-iot/otos/mqtt"
	otosnats "github.com/otos-iot/otos/nats"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the configuration of "otos serve". Each flag --name may also be
// given as the environment variable OTOS_NAME; a flag wins over the variable.
type Config struct {
	Data    string // data directory: SQLite database, admin token
	HTTP    string // HTTP listen address
	MQTT    string // MQTT listen address; empty disables the broker
	MQTTTLS string // MQTT over TLS listen address; empty for none
	// NoMQTTRegistration refuses registration sessions on the embedded
	// broker (otos.RegistrationUsername) and gateways' batches over MQTT.
	NoMQTTRegistration bool
	TLSCert            string // PEM certificate (chain) for the TLS listener
	TLSKey             string // PEM private key for the TLS listener
	DB                 string // database DSN; empty selects SQLite in Data
	Compat             bool   // ThingsPanel compatibility: device API always HTTP 200
	// Console serves the web console under /console/ on the HTTP port.
	Console  bool
	LogLevel string // debug, info, warn, error
	Pprof    string // pprof listen address; empty: off
	// NATS names the NATS servers otos answers the authorization callout of
	// (see nats.go); empty: none.
	NATS string
	// EMQX serves EMQX's HTTP authentication and authorization (see
	// emqx.go); EMQXAPI, EMQXAPIKey and EMQXAPISecret (environment only)
	// reach its REST API to disconnect revoked clients.
	EMQX                bool
	EMQXAPI, EMQXAPIKey string
	EMQXAPISecret       otos.Secret
	// AdminToken comes from OTOS_ADMIN_TOKEN only: a flag would show it in ps.
	AdminToken otos.Secret
	// ShutdownTimeout bounds how long in-flight requests may take at exit.
	ShutdownTimeout time.Duration
	// DBTimeout bounds each PostgreSQL call (serve_db.go); 0 is the default.
	DBTimeout time.Duration
	// TrustedProxies lists the proxies (IPs, CIDRs, comma-separated) whose
	// X-Forwarded-For names the client; see serve_limits.go for these four.
	TrustedProxies   string
	LockoutThreshold int           // failed attempts in LockoutWindow that lock an address out; 0: off
	LockoutWindow    time.Duration // span over which failed attempts are counted
	LockoutDuration  time.Duration // how long a locked-out address is refused
	AuditRetention   time.Duration // how long audit records are kept
	EventRetention   time.Duration // how long events are kept for replay
	// WebhookAllowPrivate lets webhooks reach loopback and private addresses.
	WebhookAllowPrivate bool
	// WebhookRetries and WebhookTimeout, when set, replace the delivery
	// retries and the bound of one attempt. No flags: tests set them.
	WebhookRetries []time.Duration
	WebhookTimeout time.Duration
	// Now is the clock of the service and its limits; nil is time.Now. It
	// has no flag: tests set it.
	Now func() time.Time
}

// Main is the otos server process: its configuration and its parts, so that
// tests can start it on free ports and stop it.
type Main struct {
	Config Config
	Logger *slog.Logger
	// LogOutput receives the logs (JSON lines); stderr by default.
	LogOutput io.Writer

	Store   otos.Store
	Service *provision.Service
	HTTP    *otoshttp.Server
	Broker  *mqtt.Broker
	NATS    *otosnats.Service
	EMQX    *emqx.Service

	// unlockStore releases the lock a server holds on its SQLite store.
	unlockStore func()
	// cert is the MQTT TLS listener's certificate, which Reload re-reads.
	cert *certificate

	// stopBackground ends the service's background writer (presence, audit);
	// backgroundDone closes once it has written what it held.
	pprof          net.Listener
	stopBackground context.CancelFunc
	backgroundDone chan struct{}
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{
		Config: Config{
			Data: "./otos-data", HTTP: ":8080", MQTT: ":1883", LogLevel: "info", Console: true,
			ShutdownTimeout:  15 * time.Second,
			LockoutThreshold: limit.DefaultThreshold, LockoutWindow: limit.DefaultWindow, LockoutDuration: limit.DefaultDuration,
			AuditRetention: provision.DefaultAuditRetention, EventRetention: provision.DefaultEventRetention,
		},
		LogOutput: os.Stderr,
	}
}

// ParseFlags reads the serve flags, over environment variables, over defaults.
func (m *Main) ParseFlags(args []string, stderr io.Writer, env func(string) string) error {
	c := &m.Config
	fs := flag.NewFlagSet("otos serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, help string) {
		if v, ok := lookup(env, name); ok {
			*p = v
		}
		fs.StringVar(p, name, *p, help+" (env OTOS_"+envName(name)+")")
	}
	str(&c.Data, "data", "data directory")
	str(&c.HTTP, "http", "HTTP listen address")
	str(&c.MQTT, "mqtt", `MQTT listen address; "" or off disables the plain listener`)
	str(&c.MQTTTLS, "mqtt-tls", "MQTT over TLS listen address (needs --tls-cert and --tls-key)")
	str(&c.TLSCert, "tls-cert", "PEM certificate file for --mqtt-tls")
	str(&c.TLSKey, "tls-key", "PEM private key file for --mqtt-tls")
	str(&c.DB, "db", "database DSN (default: SQLite in the data directory)")
	str(&c.LogLevel, "log-level", "log level: debug, info, warn, error")
	str(&c.NATS, "nats", "NATS server URLs (comma-separated) whose authorization callout otos answers; see \"otos nats config\"")
	str(&c.EMQXAPI, "emqx-api", "EMQX's REST API URL (http://emqx:18083), to disconnect revoked clients; implies --emqx")
	str(&c.EMQXAPIKey, "emqx-api-key", "the EMQX API key for --emqx-api; its secret in OTOS_EMQX_API_SECRET")
	if v, ok := lookup(env, "emqx"); ok {
		c.EMQX = v == "1" || strings.EqualFold(v, "true")
	}
	fs.BoolVar(&c.EMQX, "emqx", c.EMQX, "serve EMQX's HTTP authentication and authorization under /api/v1/emqx/ (see: otos emqx config) (env OTOS_EMQX)")
	str(&c.Pprof, "pprof", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off when empty")
	if v, ok := lookup(env, "compat-thingspanel"); ok {
		c.Compat = v == "1" || strings.EqualFold(v, "true")
	}
	if v, ok := lookup(env, "no-mqtt-registration"); ok {
		c.NoMQTTRegistration = v == "1" || strings.EqualFold(v, "true")
	}
	fs.BoolVar(&c.NoMQTTRegistration, "no-mqtt-registration", c.NoMQTTRegistration, "refuse device registration over MQTT (username \"provision\") and gateway batches over MQTT (env OTOS_NO_MQTT_REGISTRATION)")
	if v, ok := lookup(env, "console"); ok {
		c.Console = !(v == "0" || strings.EqualFold(v, "false"))
	}
	fs.BoolVar(&c.Console, "console", c.Console, "serve the web console under /console/ on the HTTP port; --console=false turns it off (env OTOS_CONSOLE)")
	fs.BoolVar(&c.Compat, "compat-thingspanel", c.Compat, "answer the device API with HTTP 200 always, as ThingsPanel (env OTOS_COMPAT_THINGSPANEL)")
	if err := c.limitFlags(fs, env); err != nil {
		return err
	}
	if err := c.dbFlags(fs, env); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Arg(0))
	}
	c.AdminToken = otos.Secret(env("OTOS_ADMIN_TOKEN"))
	c.EMQXAPISecret = otos.Secret(env("OTOS_EMQX_API_SECRET"))
	return c.Validate()
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	if c.Data == "" {
		return errors.New("--data must not be empty")
	}
	if c.MQTT == "off" { // an empty OTOS_MQTT reads as unset: "off" says it in the environment too
		c.MQTT = ""
	}
	if err := c.validateBrokers(); err != nil {
		return err
	}
	for name, addr := range map[string]string{"--http": c.HTTP, "--mqtt": c.MQTT, "--mqtt-tls": c.MQTTTLS} {
		if addr == "" && name != "--http" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q is not a host:port address", name, addr)
		}
	}
	if err := c.validateDB(); err != nil {
		return err
	}
	if (c.MQTTTLS != "") != (c.TLSCert != "" && c.TLSKey != "") {
		return errors.New("--mqtt-tls, --tls-cert and --tls-key go together")
	}
	if c.AdminToken != "" && len(c.AdminToken) < otos.MinAdminTokenLen {
		return fmt.Errorf("OTOS_ADMIN_TOKEN must be at least %d characters", otos.MinAdminTokenLen)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	return c.validateLimits()
}

func lookup(env func(string) string, name string) (string, bool) {
	v := env("OTOS_" + envName(name))
	return v, v != ""
}

func envName(flag string) string {
	return strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Open opens the store and starts the servers.
func (m *Main) Open(ctx context.Context) error {
	level, _ := parseLevel(m.Config.LogLevel)
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewJSONHandler(m.LogOutput, &slog.HandlerOptions{Level: level}))
	}
	if err := os.MkdirAll(m.Config.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	var err error
	if m.Store, err = m.openServeStore(); err != nil {
		return err
	}
	keys, err := m.keyring(ctx)
	if err != nil {
		return err
	}
	lockout, proxies, err := m.Config.limits()
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	// The core tells the broker which sessions to drop; the broker asks the
	// core who may connect. The broker is set before anything runs.
	var broker *mqtt.Broker
	m.Service = provision.New(provision.Config{Store: meteredStore(registry, m.Store), Keys: keys, Logger: m.Logger, Now: m.Config.Now,
		AuditRetention: m.Config.AuditRetention, Lockout: lockout,
		EventRetention: m.Config.EventRetention, WebhookAllowPrivate: m.Config.WebhookAllowPrivate,
		Deliverer: webhook.New(webhook.Config{AllowPrivate: m.Config.WebhookAllowPrivate, Now: m.Config.Now}),
		Node:      nodeName(m.Config.Data), WebhookRetries: m.Config.WebhookRetries, WebhookTimeout: m.Config.WebhookTimeout,
		AdminToken: m.Config.AdminToken, Notifier: m.notifier(), Revoked: func(id string) {
			if broker != nil {
				broker.Drop(id)
			}
			if m.NATS != nil {
				m.NATS.Drop(id)
			}
			if m.EMQX != nil {
				m.EMQX.Drop(id)
			}
		}, RotationRequested: func(sess *otos.Session) {
			if broker != nil {
				broker.RotationRequested(sess)
			}
		}})
	if m.Config.AdminToken == "" {
		path := filepath.Join(m.Config.Data, "admin.token")
		created, err := m.ensureAdminToken(ctx, path)
		if err != nil {
			return err
		}
		if created {
			m.Logger.Info("admin token written", "path", path)
		}
	}
	if err := m.openNATS(keys); err != nil { // before anything can revoke: Revoked reads m.NATS and m.EMQX
		return err
	}
	m.openEMQX(keys)
	bg, cancel := context.WithCancel(context.Background())
	m.stopBackground, m.backgroundDone = cancel, make(chan struct{})
	go func() {
		defer close(m.backgroundDone)
		m.Service.Run(bg)
	}()
	watchLockout(registry, lockout)
	watchWebhooks(registry, m.Service, m.Logger)
	if broker, err = m.openBroker(registry); err != nil {
		return err
	}
	m.subscribe()
	if pub := m.publishers(); pub != nil {
		go m.Service.Follow(bg, pub)
	}
	m.HTTP = otoshttp.NewServer(otoshttp.Config{
		Addr: m.Config.HTTP, Registry: registry, Logger: m.Logger,
		Registrar: m.Service.Registrar, Admin: m.Service.Admin, Sessions: m.Service.Sessions, Ready: m.Service.Ping,
		CompatThingsPanel: m.Config.Compat, TrustedProxies: proxies, Mount: m.mounts(proxies),
	})
	if err := m.HTTP.Open(); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: %w: choose another address with --http", m.Config.HTTP, err)
		}
		return fmt.Errorf("listen on %s: %w", m.Config.HTTP, err)
	}
	if m.Config.Pprof != "" {
		if m.pprof, err = m.servePprof(m.Config.Pprof); err != nil {
			return fmt.Errorf("pprof listen on %s: %w", m.Config.Pprof, err)
		}
	}
	m.Logger.Info("otos serving", "http", m.HTTP.URL(), "mqtt", m.MQTTAddr(), "mqtt_tls", m.MQTTTLSAddr(),
		"data", m.Config.Data, "compat_thingspanel", m.Config.Compat)
	return nil
}

// openBroker starts the MQTT broker and the presence writer, unless no MQTT
// listener is configured.
func (m *Main) openBroker(registry *prometheus.Registry) (*mqtt.Broker, error) {
	if m.Config.MQTT == "" && m.Config.MQTTTLS == "" {
		return nil, nil
	}
	cfg := mqtt.Config{Addr: m.Config.MQTT, TLSAddr: m.Config.MQTTTLS, Sessions: m.Service.Sessions, Logger: m.Logger, Registry: registry}
	if !m.Config.NoMQTTRegistration {
		cfg.Registrar = m.Service.Registrar
	}
	if m.Config.MQTTTLS != "" {
		cert, err := loadCertificate(m.Config.TLSCert, m.Config.TLSKey)
		if err != nil {
			return nil, err
		}
		m.cert, cfg.TLS = cert, cert.config()
	}
	broker := mqtt.New(cfg)
	if err := broker.Open(); err != nil {
		broker.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf(`%w: another MQTT broker (Mosquitto?) may hold the port; choose another with --mqtt (e.g. --mqtt :1884) or run without the broker with --mqtt ""`, err)
		}
		return nil, err
	}
	m.Broker = broker
	return m.Broker, nil
}

// MQTTAddr returns the broker's plain listen address, "" when off.
func (m *Main) MQTTAddr() string {
	if m.Broker == nil {
		return ""
	}
	return m.Broker.Addr()
}

// MQTTTLSAddr returns the broker's TLS listen address, "" when off.
func (m *Main) MQTTTLSAddr() string {
	if m.Broker == nil {
		return ""
	}
	return m.Broker.TLSAddr()
}

// Close stops the servers, letting in-flight requests finish, then closes
// the store.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	var errs []error
	if m.HTTP != nil {
		errs = append(errs, m.HTTP.Close(ctx))
	}
	if m.Broker != nil {
		errs = append(errs, m.Broker.Close())
	}
	if m.NATS != nil {
		errs = append(errs, m.NATS.Close())
	}
	if m.pprof != nil {
		m.pprof.Close()
	}
	if m.stopBackground != nil {
		m.stopBackground()
		<-m.backgroundDone // the last presence and audit records are written before the store closes
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
		if m.unlockStore != nil {
			m.unlockStore()
		}
	}
	return errors.Join(errs...)
}

// Serve opens, waits for ctx to end (SIGINT, SIGTERM), then closes.
func (m *Main) Serve(ctx context.Context) error {
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	go m.reloadOnHUP(ctx)
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}
