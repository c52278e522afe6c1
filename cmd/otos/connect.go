package main

// "otos device connect" is the reference device client: the whole device side
// of One Type One Secret in one place, for firmware authors to read. The work
// is done by package device; this file shows the order of things.
//
//  1. The firmware holds two values: the template secret, the same for every
//     device of the type (burned in at the factory), and the device number,
//     unique to this unit (MAC, IMEI, chip id).
//  2. At start it looks for its voucher in its cache (here a file of mode
//     0600). On first boot there is none: it POSTs the secret and the number
//     to /api/v1/device/auth, retrying network errors, 429 and 5xx with
//     backoff (and as long as Retry-After says), but not refusals (200080
//     and the like): asking again would get the same answer.
//  3. It writes the voucher to the cache before it uses it, atomically
//     (temporary file, sync, rename). Once the device has connected, the
//     server will not issue it another: a voucher lost after that is lost
//     for good, until an operator resets the device.
//  4. It connects to the broker over MQTT 3.1.1 with the voucher's username
//     and password. If the broker refuses a cached voucher (return code 4:
//     the operator reset the device; 5: disabled), it asks the server once
//     for a new voucher and connects with that. If that fails too it stops
//     with the error rather than loop: a disabled device stays refused until
//     an operator enables it, and then its cached voucher works again.
//  5. It publishes telemetry to devices/telemetry (QoS 1: the PUBACK says the
//     broker has it) and subscribes to its downlinks:
//     devices/telemetry/control/{number}, devices/attributes/set/{number}/+,
//     devices/command/{number}/+ and devices/attributes/response/{number}/+.
//  6. When the connection drops it connects again (step 4), waiting longer
//     after each failure.
//  7. A voucher with an expiry (the template gives it a lifetime) is renewed
//     at two thirds of its lifetime, give or take a twelfth so that a fleet
//     spreads its renewals: POST /api/v1/device/voucher/rotate with the
//     voucher (or, registered over MQTT, devices/voucher/rotate/{id}). The
//     new voucher is cached first, then the device connects with it, which
//     ends the old one's overlap. It rotates at once when otos says so on
//     its control topic, devices/voucher/control/{number} (an operator's
//     request).
//
// The template secret is a secret of the whole fleet: prefer the environment
// (OTOS_TEMPLATE_SECRET) to --secret, which other users can see in ps.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/device"
)

// defaultBroker is where "otos device connect" finds the broker when neither
// --mqtt nor OTOS_BROKER says.
const defaultBroker = "127.0.0.1:1883"

// connectFlags are the flags of "otos device connect".
type connectFlags struct {
	server, broker, tlsCA, clientID                string
	secret, number, name, productKey, parent, addr string
	cache, publish                                 string
	every                                          time.Duration
	sign                                           bool
	templateID                                     string
	registerOver, gateway                          string
}

// runConnect runs "otos device connect". With --publish alone it publishes
// once and returns; otherwise it stays connected, publishing every --every
// if given and printing the downlinks it receives, until ctx ends.
func runConnect(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	f, err := parseConnectFlags(args, stderr, env)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := f.config(log)
	if err != nil {
		return err
	}
	out := &lockedWriter{w: stdout} // downlinks are printed from the MQTT client's goroutine

	// Steps 2 to 4: the cached voucher or a new one, then MQTT CONNECT.
	sess, err := device.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	connected(out, f, sess)
	if f.gateway != "" {
		subs, err := connectSubDevices(ctx, cfg, sess, f.gateway, out)
		for _, s := range subs {
			defer s.Close()
		}
		if err != nil {
			sess.Close()
			return err
		}
	}
	if f.publish != "" && f.every == 0 {
		defer sess.Close()
		return publish(ctx, sess, f.publish, out)
	}
	return stayConnected(ctx, cfg, sess, f, out, log)
}

func parseConnectFlags(args []string, stderr io.Writer, env func(string) string) (*connectFlags, error) {
	f := &connectFlags{}
	fs := flag.NewFlagSet("otos device connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: otos device connect --secret S --number N [flags]\n\n"+
			"Registers the device once (caching its voucher), connects to the MQTT broker with the voucher,\n"+
			"publishes telemetry and prints the downlinks it receives.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.server, "server", firstNonEmpty(env("OTOS_SERVER"), defaultServer), "otos HTTP API base URL (env OTOS_SERVER)")
	// OTOS_MQTT is the server's listen address; the device side has its own variable.
	fs.StringVar(&f.broker, "mqtt", firstNonEmpty(env("OTOS_BROKER"), defaultBroker), "MQTT broker: host:port, tcp://host:port or ssl://host:port (env OTOS_BROKER)")
	// The secret is read from the environment after parsing, so that -h cannot print it.
	fs.StringVar(&f.secret, "secret", "", "template secret (env OTOS_TEMPLATE_SECRET, safer: flags show in ps)")
	fs.BoolVar(&f.sign, "sign", false, "sign the registration with the secret instead of sending it (needs --template-id or --product-key)")
	fs.StringVar(&f.templateID, "template-id", "", "the template's `ID`, named by a signed registration")
	fs.StringVar(&f.number, "number", "", "device number: unique id of this device (MAC, IMEI, chip id)")
	fs.StringVar(&f.name, "name", "", "device name, sent at registration")
	fs.StringVar(&f.productKey, "product-key", "", "product key, sent at registration")
	fs.StringVar(&f.parent, "parent", "", "gateway's device number (sub-device templates)")
	fs.StringVar(&f.addr, "addr", "", "sub-device address under the gateway (sub-device templates)")
	fs.StringVar(&f.cache, "cache", "", "voucher cache file (default ./otos-device-<number>.json, characters unsafe in a file name as _)")
	fs.StringVar(&f.publish, "publish", "", "telemetry to publish (JSON); alone: publish once and exit")
	fs.DurationVar(&f.every, "every", 0, `publish every DURATION until interrupted (default payload {"ts":<unix ms>})`)
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA certificate(s) to verify the broker (and an https server) with; connects with TLS")
	fs.StringVar(&f.clientID, "client-id", "", "MQTT client id (default: the device number)")
	fs.StringVar(&f.registerOver, "register-over", "http", "register over http (POST /api/v1/device/auth) or mqtt (a registration session on the broker)")
	fs.StringVar(&f.gateway, "gateway", "", "as a gateway, register the sub-devices listed in `FILE` (CSV: sub_device_addr,device_number[,device_name[,product_key]]) in one batch and connect each")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("device connect takes no arguments, got %q", fs.Arg(0))
	}
	if f.secret == "" {
		f.secret = env("OTOS_TEMPLATE_SECRET")
	}
	if f.secret == "" || f.number == "" {
		fs.Usage()
		return nil, errors.New("device connect: --secret (or OTOS_TEMPLATE_SECRET) and --number are required")
	}
	if f.every < 0 {
		return nil, fmt.Errorf("device connect: --every %s must be positive", f.every)
	}
	if f.registerOver != "http" && f.registerOver != "mqtt" {
		return nil, fmt.Errorf("device connect: --register-over %q: want http or mqtt", f.registerOver)
	}
	if f.cache == "" {
		f.cache = "otos-device-" + unsafeFileChars.ReplaceAllString(f.number, "_") + ".json"
	}
	return f, nil
}

// unsafeFileChars are what may not go into the default cache file name: a
// MAC address's colons, and anything that would leave the directory.
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// config turns the flags into the device library's configuration.
func (f *connectFlags) config(log *slog.Logger) (device.Config, error) {
	cfg := device.Config{
		Server: f.server, Broker: f.broker, ClientID: f.clientID,
		TemplateSecret: f.secret, Sign: f.sign, TemplateID: f.templateID, DeviceNumber: f.number, DeviceName: f.name, ProductKey: f.productKey,
		ParentDeviceNumber: f.parent, SubDeviceAddr: f.addr,
		CachePath: f.cache, Logger: log, RegisterOverMQTT: f.registerOver == "mqtt",
	}
	useTLS, err := checkBroker(f.broker, f.tlsCA != "")
	if err != nil {
		return cfg, err
	}
	if f.tlsCA != "" {
		if cfg.TLS, err = loadCA(f.tlsCA); err != nil {
			return cfg, err
		}
		// The same CA verifies an https:// server.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS.Clone()
		cfg.HTTPClient = &http.Client{Timeout: device.DefaultHTTPTimeout, Transport: tr}
	} else if useTLS {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12} // the system's CAs
	}
	return cfg, nil
}

// checkBroker checks the --mqtt address and reports whether it asks for TLS.
func checkBroker(addr string, haveCA bool) (useTLS bool, err error) {
	if !strings.Contains(addr, "://") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return false, fmt.Errorf("--mqtt %q: want host:port, tcp://host:port or ssl://host:port", addr)
		}
		return haveCA, nil
	}
	u, err := url.Parse(addr)
	if err != nil || u.Port() == "" {
		return false, fmt.Errorf("--mqtt %q: want host:port, tcp://host:port or ssl://host:port", addr)
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts":
		return true, nil
	case "tcp", "mqtt":
		if haveCA {
			return false, fmt.Errorf("--tls-ca with the plain broker URL %q: use ssl://", addr)
		}
		return false, nil
	}
	return false, fmt.Errorf("--mqtt %q: unknown scheme %q (want tcp or ssl)", addr, u.Scheme)
}

// loadCA returns a TLS configuration that trusts the certificates in file.
func loadCA(file string) (*tls.Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// publish sends one telemetry message and waits for the broker's PUBACK.
func publish(ctx context.Context, sess *device.Session, payload string, out io.Writer) error {
	if err := sess.PublishTelemetry(ctx, []byte(payload)); err != nil {
		return err
	}
	fmt.Fprintf(out, "published %s %s\n", device.TelemetryTopic, payload)
	return nil
}

// stayConnected serves sessions until ctx ends: when one is lost (a network
// failure, a broker restart, a revoked voucher) it connects again (step 6).
func stayConnected(ctx context.Context, cfg device.Config, sess *device.Session, f *connectFlags, out io.Writer, log *slog.Logger) error {
	for {
		err := serve(ctx, cfg, sess, f, out, log)
		sess.Close()
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errRotated) {
			log.Warn("connection lost; connecting again", "err", err)
		}
		if sess, err = reconnect(ctx, cfg, log); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		connected(out, f, sess)
	}
}

// connected prints the session that began, and when its voucher expires.
func connected(out io.Writer, f *connectFlags, sess *device.Session) {
	fmt.Fprintf(out, "connected: device %s, id %s, broker %s\n", f.number, sess.DeviceID, f.broker)
	if v := sess.Voucher(); !v.ExpiresAt.IsZero() {
		fmt.Fprintf(out, "voucher expires %s, renewal at %s\n", v.ExpiresAt.Format(time.RFC3339), sess.RenewAt().Format(time.RFC3339))
	}
}

// errRotated ends a session whose voucher was rotated: the device connects
// again with the new one.
var errRotated = errors.New("voucher rotated")

// renewal returns what asks the session to renew its voucher: its renewal
// time, and an operator's request on its control topic.
func renewal(ctx context.Context, sess *device.Session, log *slog.Logger) (<-chan time.Time, <-chan struct{}) {
	asked := make(chan struct{}, 1)
	err := sess.OnControl(ctx, func(n otos.ControlNotice) {
		if n.Action == otos.ActionRotateVoucher {
			select {
			case asked <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		log.Warn("no control topic: an operator's rotation request reaches this device only at its renewal", "err", err)
	}
	var at <-chan time.Time
	if t := sess.RenewAt(); !t.IsZero() {
		at = time.After(time.Until(t))
	}
	return at, asked
}

// rotate renews the session's voucher, over MQTT when the device registers
// over MQTT, else over HTTP.
func rotate(ctx context.Context, cfg device.Config, sess *device.Session, f *connectFlags, out io.Writer) error {
	var v *device.Voucher
	var err error
	if f.registerOver == "mqtt" {
		v, err = sess.Rotate(ctx)
	} else {
		v, err = device.Rotate(ctx, cfg)
	}
	if err != nil {
		return err
	}
	if v.ExpiresAt.IsZero() {
		fmt.Fprintln(out, "voucher rotated")
	} else {
		fmt.Fprintf(out, "voucher rotated: expires %s\n", v.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// serve subscribes to the downlinks, prints them, and publishes every
// f.every, until ctx ends or the session is lost.
func serve(ctx context.Context, cfg device.Config, sess *device.Session, f *connectFlags, out io.Writer, log *slog.Logger) error {
	err := sess.SubscribeDownlinks(ctx, func(topic string, payload []byte) {
		fmt.Fprintf(out, "received %s %s\n", topic, printable(payload))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on %s\n", strings.Join(device.DownlinkFilters(f.number), " "))
	renewAt, asked := renewal(ctx, sess, log)
	var tick <-chan time.Time
	if f.every > 0 {
		t := time.NewTicker(f.every)
		defer t.Stop()
		tick = t.C
		if err := publish(ctx, sess, telemetry(f.publish), out); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			return sess.Err()
		case <-tick:
			if err := publish(ctx, sess, telemetry(f.publish), out); err != nil {
				return err
			}
			continue
		case <-renewAt:
		case <-asked:
		}
		// The renewal time came, or an operator asked: rotate, then connect
		// again with the new voucher. A failure is tried again in a minute.
		if err := rotate(ctx, cfg, sess, f, out); err != nil {
			log.Warn("voucher rotation failed; trying again in a minute", "err", err)
			renewAt = time.After(time.Minute)
			continue
		}
		return errRotated
	}
}

// telemetry is the payload to publish: the --publish text, or a timestamp.
func telemetry(payload string) string {
	if payload != "" {
		return payload
	}
	return fmt.Sprintf(`{"ts":%d}`, time.Now().UnixMilli())
}

// reconnect connects again until it succeeds, ctx ends, or the device is
// refused (by the broker, or by the server when asked for a new voucher):
// waiting longer after each failure, up to a minute, but not before the
// first try.
func reconnect(ctx context.Context, cfg device.Config, log *slog.Logger) (*device.Session, error) {
	var wait time.Duration
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		sess, err := device.Connect(ctx, cfg)
		if err == nil || refused(err) {
			return sess, err
		}
		wait = min(max(2*wait, time.Second), time.Minute)
		log.Warn("connect failed; trying again", "err", err, "wait", wait)
	}
}

// refused reports whether err is a refusal of the device, which trying again
// would not change, as opposed to a network or server failure.
func refused(err error) bool {
	var r *device.RefusedError
	var a *device.AuthError
	return errors.As(err, &r) || errors.As(err, &a) && !a.Temporary()
}

// printable is payload as text, or quoted when it is not UTF-8.
func printable(payload []byte) string {
	if utf8.Valid(payload) {
		return string(payload)
	}
	return fmt.Sprintf("%q", payload)
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
