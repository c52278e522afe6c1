// Package bench is the engine of "otos bench", a load tool for operators in
// the spirit of emqtt-bench: it simulates a fleet of devices against an otos
// server, or any server that speaks ThingsPanel's POST /api/v1/device/auth.
//
// A run has up to two phases. The registration phase sends auth requests on
// Concurrency keep-alive connections until Devices requests are answered or
// Duration has passed, whichever comes first, and tallies the answers by the
// body's "code" (a ThingsPanel-compatible server answers HTTP 200 to
// everything). The MQTT phase, when MQTT.Addr is set, connects every device
// registered in mode new with its voucher (MQTT 3.1.1), holds the sessions
// and publishes telemetry at a given rate.
//
// Both phases stop early when ctx ends (SIGINT), and Run still returns what
// was measured, marked Interrupted. The tool sends traffic only to the
// addresses in its Config: no proxy from the environment, no redirects.
package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Mode is what the registration phase sends.
type Mode string

// The modes, as in ../shared/bench/auth.lua.
const (
	// ModeNew sends a distinct device number in every request: new-device
	// registration.
	ModeNew Mode = "new"
	// ModeRepeat registers one device number once, then sends it again and
	// again: the server's answer to a device that is registered already.
	ModeRepeat Mode = "repeat"
	// ModeBadSecret sends a wrong template secret (or signs with one).
	ModeBadSecret Mode = "bad-secret"
	// ModeRotate registers one device per worker, then rotates its voucher
	// again and again (POST /api/v1/device/voucher/rotate), each rotation
	// with the voucher the last one issued.
	ModeRotate Mode = "rotate"
)

// Defaults for the zero values of Config.
const (
	DefaultConcurrency    = 32
	DefaultTimeout        = 10 * time.Second
	DefaultProgressEvery  = time.Second
	DefaultConnectTimeout = 10 * time.Second
)

// Config describes a run. Server, Secret and one of Devices or Duration are
// required.
type Config struct {
	// Server is the base URL of the HTTP API, e.g. "http://127.0.0.1:8080".
	Server string
	// Secret is the template secret the simulated devices share.
	Secret string
	// Mode is what to send; ModeNew when empty.
	Mode Mode
	// Tag starts every device number, so that runs do not collide: numbers
	// are "<tag>-<n>", and "<tag>-fixed" in ModeRepeat. Letters, digits and
	// "._:-" only, so that the numbers can name MQTT topics. A timestamp
	// when empty.
	Tag string
	// Devices is how many requests to send; 0 for no limit (then Duration
	// must be set).
	Devices int
	// Concurrency is how many requests are in flight at once, each on its
	// own keep-alive connection; DefaultConcurrency when 0.
	Concurrency int
	// Duration ends the registration phase after this long; 0 for none.
	Duration time.Duration
	// Timeout bounds one request; DefaultTimeout when 0.
	Timeout time.Duration
	// TLS, when set, is the TLS configuration for an https:// server (its
	// roots, say); the system's roots when nil.
	TLS *tls.Config
	// Sign sends signed requests naming TemplateID, with a fresh nonce each,
	// instead of the secret.
	Sign       bool
	TemplateID string

	// MQTT configures the MQTT phase; off when MQTT.Addr is empty.
	MQTT MQTTConfig

	// Progress receives a line every ProgressEvery while the run goes on;
	// none when nil.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Now is the clock of signed requests' timestamps; time.Now when nil.
	Now func() time.Time
}

// MQTTConfig describes the MQTT phase.
type MQTTConfig struct {
	// Addr is the broker: "host:port" or "tcp://host:port". In ModeNew every
	// registered device connects to it; in ModeRepeat the fixed device
	// connects once after its registration, so that the repeats are those
	// of a device that has connected (otos then answers 200082).
	Addr string
	// ConnectRate caps CONNECTs a second, overall; 0 for no cap. At most
	// Config.Concurrency CONNECTs are in flight at once.
	ConnectRate float64
	// Hold keeps the sessions open this long once all have connected.
	Hold time.Duration
	// PublishRate is the telemetry messages a second, overall, that the
	// sessions publish (QoS 1, in turn) while they are held; 0 for none.
	PublishRate float64
	// ConnectTimeout bounds one CONNECT; DefaultConnectTimeout when 0.
	ConnectTimeout time.Duration
	// Reconnect disconnects the sessions after the hold and connects them
	// all again, measured apart: a device's later CONNECTs, which otos
	// answers from its cache, where its first also records the connection.
	Reconnect bool
	// Username and Password, when set, replace every session's voucher: a
	// broker's static user, the baseline that a broker's authentication
	// through otos is measured against (bench/ratios.sh nats).
	Username, Password string
}

// tagPattern is what a tag may hold: characters that are safe in a device
// number, a topic level and a client id.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// withDefaults checks c and fills in its zero values.
func (c Config) withDefaults() (Config, error) {
	if c.Mode == "" {
		c.Mode = ModeNew
	}
	if c.Tag == "" {
		c.Tag = "bench-" + time.Now().UTC().Format("20060102T150405.000")
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = DefaultProgressEvery
	}
	if c.MQTT.ConnectTimeout == 0 {
		c.MQTT.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	if c.MQTT.Addr != "" && !strings.Contains(c.MQTT.Addr, "://") {
		c.MQTT.Addr = "tcp://" + c.MQTT.Addr
	}
	return c, nil
}

// validate checks a Config whose defaults are filled in.
func (c Config) validate() error {
	u, err := url.Parse(c.Server)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("bench: server %q is not an http:// or https:// URL", c.Server)
	case c.Secret == "":
		return errors.New("bench: no template secret")
	case c.Mode != ModeNew && c.Mode != ModeRepeat && c.Mode != ModeBadSecret && c.Mode != ModeRotate:
		return fmt.Errorf("bench: mode %q: want new, repeat, bad-secret or rotate", c.Mode)
	case c.Mode == ModeRotate && (c.Sign || c.MQTT.Addr != ""):
		return errors.New("bench: mode rotate sends plain registrations and no MQTT phase")
	case !tagPattern.MatchString(c.Tag):
		return fmt.Errorf("bench: tag %q: want 1 to 64 letters, digits or ._:-", c.Tag)
	case c.Devices < 0 || c.Concurrency < 0 || c.Duration < 0 || c.Timeout < 0 || c.ProgressEvery < 0:
		return errors.New("bench: devices, concurrency, duration, timeout and progress interval must not be negative")
	case c.Devices == 0 && c.Duration == 0:
		return errors.New("bench: set the number of devices, a duration, or both")
	case c.Sign && c.TemplateID == "":
		return errors.New("bench: signed requests need the template id")
	}
	return c.MQTT.validate(c)
}

// validate checks the MQTT phase's configuration.
func (m MQTTConfig) validate(c Config) error {
	if m.Addr == "" {
		return nil
	}
	if err := checkBrokerAddr(m.Addr); err != nil {
		return err
	}
	switch {
	case c.Mode == ModeBadSecret:
		return errors.New("bench: mode bad-secret registers no device to connect over MQTT")
	case c.Mode == ModeNew && c.Devices == 0:
		return errors.New("bench: the MQTT phase needs a number of devices, not only a duration")
	case m.ConnectRate < 0 || m.PublishRate < 0 || m.Hold < 0 || m.ConnectTimeout < 0:
		return errors.New("bench: MQTT rates, hold and timeout must not be negative")
	case m.PublishRate > 0 && m.Hold == 0:
		return errors.New("bench: publishing happens while the sessions are held: set a hold time")
	}
	return nil
}

// checkBrokerAddr accepts "host:port" and "tcp://host:port".
func checkBrokerAddr(addr string) error {
	hostPort := addr
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		if scheme != "tcp" && scheme != "mqtt" {
			return fmt.Errorf("bench: broker %q: want host:port or tcp://host:port", addr)
		}
		hostPort = rest
	}
	if _, port, err := net.SplitHostPort(hostPort); err != nil || port == "" {
		return fmt.Errorf("bench: broker %q: want host:port or tcp://host:port", addr)
	}
	return nil
}

// Run runs the registration phase, then the MQTT phase when configured, and
// returns what it measured. The error is for a Config that does not hold,
// or a run that could not start; when ctx ends early the report is still
// returned, with Interrupted set.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	reg, err := newRegistrar(c)
	if err != nil {
		return nil, err
	}
	rep, sessions, err := reg.run(ctx)
	if err != nil {
		return nil, err
	}
	if c.MQTT.Addr != "" && c.Mode == ModeNew && ctx.Err() == nil {
		rep.MQTT = newMQTTRun(c).run(ctx, sessions)
	}
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}
