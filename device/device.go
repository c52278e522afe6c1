// Package device is the device side of One Type One Secret: what firmware
// does, in Go.
//
// A device holds its template secret (shared by every device of its type)
// and its own device number (a MAC, IMEI or chip id). On first boot it trades
// them at POST /api/v1/device/auth for its own credential, the voucher, and
// keeps the voucher: every later start reuses it and does not call the API.
//
//	cfg := device.Config{
//		Server:         "http://otos.example:8080",
//		Broker:         "tcp://otos.example:1883",
//		TemplateSecret: secret,
//		DeviceNumber:   "AA:BB:CC:DD:EE:01",
//		CachePath:      "/var/lib/thermo/voucher.json",
//	}
//	s, err := device.Connect(ctx, cfg) // Provision (cached or not), then MQTT CONNECT
//	...
//	err = s.PublishTelemetry(ctx, []byte(`{"temp":21}`))
//
// Provision returns the cached voucher, or asks the server for one (with
// bounded retries and backoff) and caches it in a file only its owner can
// read, written atomically. Connect opens an MQTT 3.1.1 session with it; when
// the broker refuses a cached voucher (the operator reset the device, say),
// Connect asks the server once for a new one, and reports the error if that
// fails too, rather than looping.
//
// The package talks to otos only over its public wire contract (HTTP and
// MQTT): it imports no server package, and works against ThingsPanel too.
package device

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxAttempts    = 5
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	// DefaultHTTPTimeout bounds one auth request of the default HTTP client.
	DefaultHTTPTimeout = 15 * time.Second
)

// Config describes one device and where it connects. Server, TemplateSecret,
// DeviceNumber and CachePath are required; Broker is required by Connect.
type Config struct {
	// Server is the base URL of the otos HTTP API, e.g. "http://127.0.0.1:8080".
	Server string
	// RegisterOverMQTT registers through the broker instead of the HTTP
	// API, for firmware without HTTP: as a registration session
	// (otos.RegistrationUsername) on Broker. Server is then not needed.
	RegisterOverMQTT bool
	// Broker is the MQTT broker: "host:port", or a URL "tcp://host:port",
	// "ssl://host:port" (TLS). A bare host:port means TLS when TLS is set.
	Broker string

	// TemplateSecret is the secret shared by every device of the template.
	TemplateSecret string
	// Sign sends a signed request instead of the secret (the secret never
	// travels), naming the template by TemplateID, or else by ProductKey.
	Sign       bool
	TemplateID string
	// Now is the clock of signed requests; time.Now when nil.
	Now func() time.Time
	// DeviceNumber identifies the device across the platform.
	DeviceNumber string
	// DeviceName, ProductKey: optional fields of the auth request.
	DeviceName, ProductKey string
	// ParentDeviceNumber and SubDeviceAddr are required for a sub-device
	// template: the gateway's number and the address under it.
	ParentDeviceNumber, SubDeviceAddr string
	// HardwareID is a chip id or serial that survives a factory reset:
	// under a template with reregistration "hardware", a registration that
	// sends the same one recovers the device's voucher after a reset.
	// HardwareKey, optional, is an Ed25519 key kept where a reset does not
	// reach (a secure element); its public key is enrolled at the first
	// registration and every registration is signed with it.
	HardwareID  string
	HardwareKey ed25519.PrivateKey
	// Jitter returns a number in [0, 1) that spreads the renewals of a
	// fleet (Voucher.RenewAt); math/rand's when nil.
	Jitter func() float64

	// CachePath is the file that keeps the voucher between runs (mode 0600).
	CachePath string

	// ClientID is the MQTT client id; the device number when empty.
	ClientID string
	// TLS, when set, secures the MQTT connection.
	TLS *tls.Config
	// ConnectTimeout bounds the MQTT CONNECT; DefaultConnectTimeout when 0.
	ConnectTimeout time.Duration
	// KeepAlive is the MQTT keep-alive interval; DefaultKeepAlive when 0.
	KeepAlive time.Duration

	// HTTPClient sends the auth request; one with DefaultHTTPTimeout when nil.
	HTTPClient *http.Client
	// MaxAttempts bounds the auth requests of one Provision, retries
	// included; DefaultMaxAttempts when 0.
	MaxAttempts int
	// Sleep waits between attempts, or returns ctx's error if ctx ends first.
	// Tests replace it to record the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives what the library does (never a secret); silent when nil.
	Logger *slog.Logger

	origin string // whom the cached voucher is from: Server, or the broker
}

// withDefaults checks c and fills in its zero values.
func (c Config) withDefaults() (Config, error) { return c.defaults(true) }

// defaults is withDefaults; registers tells whether c must be able to
// register (a template secret), or only to connect with a voucher it is
// given (a sub-device whose gateway registered it).
func (c Config) defaults(registers bool) (Config, error) {
	switch {
	case c.Server == "" && !c.RegisterOverMQTT:
		return c, errors.New("device: no server URL")
	case c.RegisterOverMQTT && c.Broker == "":
		return c, errors.New("device: registration over MQTT needs the broker")
	case c.TemplateSecret == "" && registers:
		return c, errors.New("device: no template secret")
	case c.DeviceNumber == "":
		return c, errors.New("device: no device number")
	case c.CachePath == "":
		return c, errors.New("device: no cache path: a device must keep its voucher")
	case c.Sign && c.TemplateID == "" && c.ProductKey == "":
		return c, errors.New("device: a signed request needs the template id or a product key")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	if c.HardwareKey != nil && (len(c.HardwareKey) != ed25519.PrivateKeySize || c.HardwareID == "") {
		return c, errors.New("device: a hardware key must be an Ed25519 private key, with a hardware id")
	}
	c.origin = c.Server
	if c.RegisterOverMQTT {
		c.origin = brokerURL(c.Broker, c.TLS != nil)
	} else if u, err := url.Parse(c.Server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("device: server %q is not an http:// or https:// URL", c.Server)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ClientID == "" {
		c.ClientID = c.DeviceNumber
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	return c, nil
}

// sleep waits d, or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Voucher is a device's credential: its MQTT username and password, and the
// id the server gave the device. An ACCESSTOKEN voucher has no password: its
// username is the secret. String and LogValue never show the secrets.
type Voucher struct {
	DeviceID string
	Username string
	Password string
	// IssuedAt is when the device received the voucher, by its clock;
	// ExpiresAt when it stops working (zero: never), by the server's.
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// String describes v without its secrets, so that printing or logging a
// voucher by mistake leaks nothing.
func (v Voucher) String() string {
	return fmt.Sprintf("voucher{device_id=%s username=%s password=%s}", v.DeviceID, v.username(), redact(v.Password))
}

// GoString is String, so that %#v does not show the secrets either.
func (v Voucher) GoString() string { return v.String() }

// LogValue implements slog.LogValuer with the secrets redacted.
func (v Voucher) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device_id", v.DeviceID), slog.String("username", v.username()),
		slog.String("password", redact(v.Password)))
}

// username is the username when it may be shown: a BASIC username is an
// identifier, an ACCESSTOKEN username (no password) is the secret itself.
func (v Voucher) username() string {
	if v.Password == "" {
		return redact(v.Username)
	}
	return v.Username
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}
