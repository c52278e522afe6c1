package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/device"
)

// connectCLI runs "otos device connect" against s for the device number
// with the cache file, plus args, and returns its stdout and error.
func (s *testServer) connectCLI(t *testing.T, ctx context.Context, secret, number, cache string, args ...string) (string, error) {
	t.Helper()
	out := &syncBuffer{}
	err := s.connectCLIOut(ctx, out, secret, number, cache, args...)
	return out.String(), err
}

// connectCLIOut is connectCLI writing stdout to out, for a command that
// runs in a goroutine.
func (s *testServer) connectCLIOut(ctx context.Context, out io.Writer, secret, number, cache string, args ...string) error {
	args = append([]string{"device", "connect", "--server", s.URL, "--mqtt", s.MQTTAddr(),
		"--secret", secret, "--number", number, "--cache", cache}, args...)
	return run(ctx, args, out, io.Discard, func(string) string { return "" })
}

// registrations returns otos_registrations_total for a result code.
func (s *testServer) registrations(t *testing.T, code int) int {
	t.Helper()
	_, b := do(t, "GET", s.URL+"/metrics", "")
	m := regexp.MustCompile(`(?m)^otos_registrations_total\{code="` + strconv.Itoa(code) + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// cachedVoucher reads the voucher cache file written by the device library.
func cachedVoucher(t *testing.T, path string) (deviceID, voucher string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read cache: %v", err)
	}
	var c struct {
		DeviceID string `json:"device_id"`
		Voucher  string `json:"voucher"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.DeviceID == "" || c.Voucher == "" {
		t.Fatalf("cache %s: %v", b, err)
	}
	return c.DeviceID, c.Voucher
}

// TestDeviceConnect follows one device through its life: first boot, a
// restart, an operator's reset, disable and enable.
func TestDeviceConnect(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	const number = "cli-dev-1"
	cache := filepath.Join(t.TempDir(), "voucher.json")
	consumer := s.consumer(t, "otos/"+otos.DefaultTenantID+"/"+number+"/devices/telemetry")

	var id, voucher string
	t.Run("first-boot-registers-and-publishes", func(t *testing.T) {
		out, err := s.connectCLI(t, t.Context(), tp.Secret, number, cache, "--publish", `{"t":1}`)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "published devices/telemetry {\"t\":1}") {
			t.Errorf("stdout: %s", out)
		}
		if m, ok := consumer.received("otos/"+otos.DefaultTenantID+"/"+number+"/devices/telemetry", 2*time.Second); !ok || string(m.Payload()) != `{"t":1}` {
			t.Error("the platform did not receive the telemetry")
		}
		fi, err := os.Stat(cache)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("cache: %v, mode %v", err, fi.Mode().Perm())
		}
		id, voucher = cachedVoucher(t, cache)
		if !strings.Contains(out, id) || strings.Contains(out, "password") {
			t.Errorf("stdout should show the device id and no password: %s", out)
		}
	})
	t.Run("restart-reuses-the-voucher", func(t *testing.T) {
		if _, err := s.connectCLI(t, t.Context(), tp.Secret, number, cache, "--publish", `{"t":2}`); err != nil {
			t.Fatal(err)
		}
		if _, v := cachedVoucher(t, cache); v != voucher {
			t.Error("the cached voucher changed")
		}
		if n := s.registrations(t, 200); n != 1 {
			t.Errorf("%d registrations, want 1", n)
		}
		var list struct{ Items []json.RawMessage }
		s.admin(t, "GET", "/api/v1/devices?device_number="+number, nil, 200, &list)
		if len(list.Items) != 1 {
			t.Errorf("%d devices", len(list.Items))
		}
	})
	t.Run("reset-gets-a-new-voucher", func(t *testing.T) {
		s.admin(t, "POST", "/api/v1/devices/"+id+"/reset", nil, 200, nil)
		if _, err := s.connectCLI(t, t.Context(), tp.Secret, number, cache, "--publish", `{"t":3}`); err != nil {
			t.Fatal(err)
		}
		newID, newVoucher := cachedVoucher(t, cache)
		if newID != id || newVoucher == voucher {
			t.Errorf("after reset: id %s (was %s), voucher changed: %v", newID, id, newVoucher != voucher)
		}
		voucher = newVoucher
	})
	t.Run("disabled-is-refused-once", func(t *testing.T) {
		s.admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, 200, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := s.connectCLI(t, ctx, tp.Secret, number, cache, "--publish", `{"t":4}`)
		if err == nil || !strings.Contains(err.Error(), "not Authorized") || !strings.Contains(err.Error(), "200082") {
			t.Fatalf("error %v, want the broker's refusal and the server's 200082", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		if n := s.registrations(t, 200082); n != 1 {
			t.Errorf("%d refused registrations, want exactly 1", n)
		}
		// The cache is kept: the voucher is only suspended.
		if _, v := cachedVoucher(t, cache); v != voucher {
			t.Error("the cached voucher changed")
		}
	})
	t.Run("enabled-again-the-cached-voucher-works", func(t *testing.T) {
		s.admin(t, "POST", "/api/v1/devices/"+id+"/enable", nil, 200, nil)
		if _, err := s.connectCLI(t, t.Context(), tp.Secret, number, cache, "--publish", `{"t":5}`); err != nil {
			t.Fatal(err)
		}
		if n := s.registrations(t, 200); n != 2 {
			t.Errorf("%d registrations, want 2 (first boot, reset)", n)
		}
	})
}

// consumer connects a platform consumer (a service account) over MQTT 3.1.1,
// subscribed to filters if any.
func (s *testServer) consumer(t *testing.T, filters ...string) *client3 {
	t.Helper()
	acct, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := connect3(t, "tcp://"+s.MQTTAddr(), "consumer-"+acct.ID, acct.Username, acct.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range filters {
		if got := c.subscribe(t, f); got != 1 {
			t.Fatalf("consumer subscribe %s: %#x", f, got)
		}
	}
	return c
}

// waitFor waits up to 5 s for out to contain want n times.
func waitFor(t *testing.T, out *syncBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("stdout has not %d× %q:\n%s", n, want, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeviceConnectEvery: with --every the command publishes until stopped,
// prints its downlinks, survives a reset, and stops when disabled.
func TestDeviceConnectEvery(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	const number = "cli-every-1"
	cache := filepath.Join(t.TempDir(), "voucher.json")
	platform := s.consumer(t)

	start := func(t *testing.T) (*syncBuffer, context.CancelFunc, <-chan error) {
		out := &syncBuffer{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.connectCLIOut(ctx, out, tp.Secret, number, cache, "--every", "100ms") }()
		waitFor(t, out, "listening on", 1)
		return out, cancel, done
	}
	t.Run("downlinks-and-reset", func(t *testing.T) {
		out, cancel, done := start(t)
		defer cancel()
		waitFor(t, out, `published devices/telemetry {"ts":`, 2)
		tok := platform.Publish("devices/command/"+number+"/1", 1, false, `{"method":"reboot"}`)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish the command: %v", tok.Error())
		}
		waitFor(t, out, `received devices/command/`+number+`/1 {"method":"reboot"}`, 1)

		// A reset drops the session; the command gets a new voucher and goes on.
		id, _ := cachedVoucher(t, cache)
		s.admin(t, "POST", "/api/v1/devices/"+id+"/reset", nil, 200, nil)
		waitFor(t, out, "listening on", 2)
		n := strings.Count(out.String(), "published")
		waitFor(t, out, "published", n+1)

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("interrupted: %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the command did not stop when interrupted")
		}
	})
	t.Run("disabled-stops-it", func(t *testing.T) {
		_, cancel, done := start(t)
		defer cancel()
		id, _ := cachedVoucher(t, cache)
		s.admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, 200, nil)
		select {
		case err := <-done:
			var refused *device.RefusedError
			if !errors.As(err, &refused) {
				t.Errorf("error %v, want the broker's refusal", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the command still runs after its device was disabled")
		}
	})
}

// TestDeviceConnectTLS connects over TLS, with the CA given by --tls-ca.
func TestDeviceConnectTLS(t *testing.T) {
	certFile, keyFile, _ := writeTestCert(t, t.TempDir())
	s := startBroker(t, func(c *Config) {
		c.MQTTTLS, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile
	})
	tp := s.createTemplate(t, nil)
	cache := filepath.Join(t.TempDir(), "voucher.json")
	for _, broker := range []string{"ssl://" + s.MQTTTLSAddr(), s.MQTTTLSAddr()} {
		args := []string{"device", "connect", "--server", s.URL, "--mqtt", broker, "--tls-ca", certFile,
			"--secret", tp.Secret, "--number", "cli-tls", "--cache", cache, "--publish", "{}"}
		if err := run(t.Context(), args, io.Discard, io.Discard, func(string) string { return "" }); err != nil {
			t.Errorf("%s: %v", broker, err)
		}
	}
}

func TestDeviceConnectDefaultsAndFlags(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	t.Chdir(t.TempDir())
	env := func(k string) string {
		return map[string]string{"OTOS_SERVER": s.URL, "OTOS_BROKER": s.MQTTAddr(), "OTOS_TEMPLATE_SECRET": tp.Secret}[k]
	}
	args := []string{"device", "connect", "--number", "AA:BB:CC:DD:EE:01", "--publish", "{}"}
	if err := run(t.Context(), args, io.Discard, io.Discard, env); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("otos-device-AA_BB_CC_DD_EE_01.json"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("default cache file: %v", err)
	}

	for name, args := range map[string][]string{
		"fail/no-number":      {"--secret", "s"},
		"fail/no-secret":      {"--number", "n"},
		"fail/bad-mqtt":       {"--secret", "s", "--number", "n", "--mqtt", "nowhere"},
		"fail/mqtt-scheme":    {"--secret", "s", "--number", "n", "--mqtt", "http://h:1"},
		"fail/tls-ca-on-tcp":  {"--secret", "s", "--number", "n", "--mqtt", "tcp://h:1", "--tls-ca", "x.pem"},
		"fail/tls-ca-missing": {"--secret", "s", "--number", "n", "--tls-ca", "missing.pem"},
		"fail/argument":       {"--secret", "s", "--number", "n", "extra"},
		"fail/bad-server":     {"--secret", "s", "--number", "n", "--server", "127.0.0.1:8080"},
	} {
		err := run(t.Context(), append([]string{"device", "connect"}, args...), io.Discard, io.Discard, func(string) string { return "" })
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// countingTransport counts the requests to the device auth API.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == device.AuthPath {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestDeviceLibraryConnectRecovers: device.Connect against the real server
// replaces a voided voucher with one request, and reports a disabled device
// after exactly one.
func TestDeviceLibraryConnectRecovers(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	config := func(number string) (device.Config, *countingTransport) {
		tr := &countingTransport{}
		return device.Config{Server: s.URL, Broker: s.MQTTAddr(), TemplateSecret: tp.Secret, DeviceNumber: number,
			CachePath: filepath.Join(t.TempDir(), "voucher.json"), HTTPClient: &http.Client{Transport: tr}}, tr
	}

	t.Run("voided-voucher", func(t *testing.T) {
		cfg, tr := config("lib-voided")
		old, err := device.Provision(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.register(t, tp.Secret, "lib-voided") // re-issued behind the device's back: the cached one is void
		sess, err := device.Connect(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if tr.n.Load() != 2 {
			t.Errorf("%d auth requests, want 2 (first boot, recovery)", tr.n.Load())
		}
		if id, v := cachedVoucher(t, cfg.CachePath); id != old.DeviceID || strings.Contains(v, old.Password) {
			t.Error("the cache does not hold the new voucher")
		}
		if err := sess.PublishTelemetry(t.Context(), []byte(`{"ok":true}`)); err != nil {
			t.Error(err)
		}
	})
	t.Run("disabled-device", func(t *testing.T) {
		cfg, tr := config("lib-disabled")
		v, err := device.Provision(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.admin(t, "POST", "/api/v1/devices/"+v.DeviceID+"/disable", nil, 200, nil)
		_, err = device.Connect(t.Context(), cfg)
		var refused *device.RefusedError
		var auth *device.AuthError
		if !errors.As(err, &refused) || refused.ReturnCode != 5 || !errors.As(err, &auth) || auth.Code != device.CodeDeviceExists {
			t.Fatalf("error %v, want return code 5 and 200082", err)
		}
		if tr.n.Load() != 2 {
			t.Errorf("%d auth requests, want 2 (first boot, one retry)", tr.n.Load())
		}
	})
	t.Run("access-token", func(t *testing.T) {
		tt := s.createTemplate(t, map[string]any{"voucher_type": "ACCESSTOKEN"})
		cfg, _ := config("lib-token")
		cfg.TemplateSecret = tt.Secret
		sess, err := device.Connect(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if err := sess.SubscribeDownlinks(t.Context(), func(string, []byte) {}); err != nil {
			t.Error(err)
		}
	})
}

// TestDeviceConnectSigned registers with a signed request on a template that
// refuses plain secrets, and reconnects from the cache.
func TestDeviceConnectSigned(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, map[string]any{"auth_mode": "signed"})
	cache := filepath.Join(t.TempDir(), "v.json")
	if _, err := s.connectCLI(t, t.Context(), tp.Secret, "signed-dev", cache, "--publish", `{"t":1}`); err == nil {
		t.Fatal("a plain secret was accepted by a signed-only template")
	}
	out, err := s.connectCLI(t, t.Context(), tp.Secret, "signed-dev", cache, "--sign", "--template-id", tp.ID, "--publish", `{"t":1}`)
	if err != nil {
		t.Fatalf("signed connect: %v\n%s", err, out)
	}
	if n := s.registrations(t, 200); n != 1 {
		t.Fatalf("%d registrations, want 1", n)
	}
	if _, err := s.connectCLI(t, t.Context(), tp.Secret, "signed-dev", cache, "--sign", "--template-id", tp.ID, "--publish", `{"t":2}`); err != nil {
		t.Fatalf("second run from the cache: %v", err)
	}
}
