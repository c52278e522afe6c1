package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// testClock is a clock that stands still until the test moves it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// post sends a device auth request and returns the status, Retry-After and
// the body's code.
func (s *testServer) post(t *testing.T, body string, headers ...string) (status int, retryAfter string, code int) {
	t.Helper()
	res, b := do(t, "POST", s.URL+"/api/v1/device/auth", body, headers...)
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return res.StatusCode, res.Header.Get("Retry-After"), env.Code
}

// registerFromGoroutine registers a device; unlike the test helpers it may
// run outside the test's goroutine, so it returns what went wrong.
func (s *testServer) registerFromGoroutine(secret, number string) error {
	res, err := http.Post(s.URL+"/api/v1/device/auth", "application/json", strings.NewReader(authBody(secret, number)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var env envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return err
	}
	if res.StatusCode != 200 || env.Code != 200 {
		return fmt.Errorf("register %s: %d %d %s", number, res.StatusCode, env.Code, env.Message)
	}
	return nil
}

func authBody(secret, number string) string {
	return fmt.Sprintf(`{"template_secret":%q,"device_number":%q}`, secret, number)
}

// TestLockout: 30 wrong secrets a minute from one address (the default)
// lock it out for 5 minutes, whatever it sends; then it may register again.
func TestLockout(t *testing.T) {
	clock := newTestClock()
	s := startServer(t, "", func(c *Config) { c.Now = clock.Now })
	tp := s.createTemplate(t, nil)
	for i := range 30 { // 30 failures within 29 seconds
		if i > 0 {
			clock.Advance(time.Second)
		}
		if status, _, code := s.post(t, authBody("wrong-secret", "lock-1")); status != 401 || code != 200080 {
			t.Fatalf("wrong secret %d: %d %d", i+1, status, code)
		}
	}
	status, retry, code := s.post(t, authBody("wrong-secret", "lock-1"))
	if status != 429 || code != 201003 || retry != "300" {
		t.Fatalf("31st attempt: %d code %d Retry-After %q; want 429 201003 300", status, code, retry)
	}
	clock.Advance(4 * time.Minute)
	status, retry, code = s.post(t, authBody(tp.Secret, "lock-1"), "Accept-Language", "zh-CN")
	if status != 429 || code != 201003 || retry != "60" {
		t.Fatalf("correct request while locked: %d code %d Retry-After %q", status, code, retry)
	}
	if status, _, code := s.post(t, `{"malformed`); status != 429 || code != 201003 {
		t.Fatalf("malformed body while locked: %d %d", status, code)
	}
	clock.Advance(time.Minute)
	s.register(t, tp.Secret, "lock-1")

	_, metrics := do(t, "GET", s.URL+"/metrics", "")
	for _, want := range []string{"otos_lockouts_total 1", `otos_rate_limited_total{reason="lockout"} 3`, `otos_registrations_total{code="201003"} 3`} {
		if !bytes.Contains(metrics, []byte(want+"\n")) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(s.Logs.String(), `"msg":"client locked out","client":"127.0.0.1"`) {
		t.Error("the lock-out was not logged")
	}
}

// TestLockoutCompat: in ThingsPanel mode a locked address gets HTTP 200,
// code 201003, and still the Retry-After header.
func TestLockoutCompat(t *testing.T) {
	s := startServer(t, "", func(c *Config) { c.Compat, c.LockoutThreshold = true, 2 })
	for range 2 {
		s.post(t, authBody("wrong-secret", "compat-1"))
	}
	if status, retry, code := s.post(t, authBody("wrong-secret", "compat-1")); status != 200 || code != 201003 || retry != "300" {
		t.Fatalf("compat lock-out: %d code %d Retry-After %q", status, code, retry)
	}
}

// TestSuccessNeverThrottled: a factory behind one NAT registers a thousand
// devices, and repeats some, without ever being throttled.
func TestSuccessNeverThrottled(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"reregistration": "never"})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 1000; i += 8 {
				if err := s.registerFromGoroutine(tp.Secret, fmt.Sprintf("nat-%04d", i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Other refusals do not count either: 50 repeats get 200082, never 429.
	for i := range 50 {
		if status, _, code := s.post(t, authBody(tp.Secret, "nat-0001")); status != 409 || code != 200082 {
			t.Fatalf("repeat %d: %d %d", i, status, code)
		}
	}
	s.register(t, tp.Secret, "nat-1000")
}

// TestLockoutIgnoresSpoofedForwardedFor: without trusted proxies the
// lock-out follows the connection, whatever X-Forwarded-For claims.
func TestLockoutIgnoresSpoofedForwardedFor(t *testing.T) {
	s := startServer(t, "", func(c *Config) { c.LockoutThreshold = 5 })
	tp := s.createTemplate(t, nil)
	for i := range 5 {
		s.post(t, authBody("wrong-secret", "spoof-1"), "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
	}
	status, _, code := s.post(t, authBody(tp.Secret, "spoof-1"), "X-Forwarded-For", "198.51.100.99")
	if status != 429 || code != 201003 {
		t.Fatalf("a fresh X-Forwarded-For escaped the lock-out: %d %d", status, code)
	}
}

// TestLockoutBehindTrustedProxy: with --trusted-proxies 127.0.0.1 the
// X-Forwarded-For address is the one counted, locked and audited.
func TestLockoutBehindTrustedProxy(t *testing.T) {
	s := startServer(t, "", func(c *Config) { c.LockoutThreshold, c.TrustedProxies = 5, "127.0.0.1" })
	tp := s.createTemplate(t, nil)
	for range 5 {
		s.post(t, authBody("wrong-secret", "proxied-1"), "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
	}
	if status, _, code := s.post(t, authBody(tp.Secret, "proxied-1"), "X-Forwarded-For", "203.0.113.9"); status != 429 || code != 201003 {
		t.Fatalf("the forwarded client was not locked out: %d %d", status, code)
	}
	if status, _, code := s.post(t, authBody(tp.Secret, "proxied-2"), "X-Forwarded-For", "203.0.113.10"); status != 200 || code != 200 {
		t.Fatalf("another client behind the proxy: %d %d", status, code)
	}
	s.register(t, tp.Secret, "proxied-3") // the proxy itself, no header

	s.Service.FlushAudit(context.Background())
	rs, _, err := s.Store.Audit(context.Background(), otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rs {
		if r.Kind == otos.AuditRegistration {
			got[fmt.Sprintf("%d/%s", r.Code, r.DeviceNumber)] = r.ClientAddr
		}
	}
	for key, want := range map[string]string{"200080/proxied-1": "203.0.113.9", "201003/": "203.0.113.9",
		"200/proxied-2": "203.0.113.10", "200/proxied-3": "127.0.0.1"} {
		if got[key] != want {
			t.Errorf("audit %s: client %q, want %q", key, got[key], want)
		}
	}
}

// TestTemplateRateLimit: a template with rate_limit 5 answers 429/201003
// beyond its bucket of 5, and again after a second.
func TestTemplateRateLimit(t *testing.T) {
	clock := newTestClock()
	s := startServer(t, "", func(c *Config) { c.Now = clock.Now })
	tp := s.createTemplate(t, nil)
	s.admin(t, "PATCH", "/api/v1/templates/"+tp.ID, map[string]any{"rate_limit": 5}, 200, nil)
	other := s.createTemplate(t, nil)
	for i := range 5 {
		s.register(t, tp.Secret, fmt.Sprintf("rate-%d", i))
	}
	status, retry, code := s.post(t, authBody(tp.Secret, "rate-5"))
	if status != 429 || code != 201003 || retry != "1" {
		t.Fatalf("6th registration in a second: %d code %d Retry-After %q", status, code, retry)
	}
	// Other templates are not limited, and the template's 429s are no
	// failures: forty of them do not lock the address out.
	for range 40 {
		if status, _, _ := s.post(t, authBody(tp.Secret, "rate-5")); status != 429 {
			t.Fatalf("over the limit: %d", status)
		}
	}
	s.register(t, other.Secret, "rate-other")
	clock.Advance(time.Second)
	s.register(t, tp.Secret, "rate-5")
}

func TestServeLimitFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // the parsed settings, or the error
	}{
		{"ok/defaults", nil, nil, "30 1m0s 5m0s []"},
		{"ok/flags", []string{"--lockout-threshold", "0", "--lockout-window", "30s", "--lockout-duration", "1h", "--trusted-proxies", "10.0.0.0/8,127.0.0.1"},
			nil, "0 30s 1h0m0s [10.0.0.0/8 127.0.0.1/32]"},
		{"ok/env", nil, map[string]string{"OTOS_LOCKOUT_THRESHOLD": "7", "OTOS_LOCKOUT_DURATION": "10m", "OTOS_TRUSTED_PROXIES": "::1"},
			"7 1m0s 10m0s [::1/128]"},
		{"ok/flag-over-env", []string{"--lockout-threshold", "9"}, map[string]string{"OTOS_LOCKOUT_THRESHOLD": "7"}, "9 1m0s 5m0s []"},
		{"fail/env-not-a-number", nil, map[string]string{"OTOS_LOCKOUT_THRESHOLD": "many"}, "OTOS_LOCKOUT_THRESHOLD"},
		{"fail/negative", []string{"--lockout-threshold", "-1"}, nil, "--lockout-threshold -1"},
		{"fail/window", []string{"--lockout-window", "10ms"}, nil, "--lockout-window 10ms"},
		{"fail/duration", []string{"--lockout-duration", "48h"}, nil, "--lockout-duration 48h0m0s"},
		{"fail/proxy", []string{"--trusted-proxies", "proxy.local"}, nil, `--trusted-proxies: trusted proxy "proxy.local"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMain()
			err := m.ParseFlags(append([]string{"--data", t.TempDir()}, c.args...), io.Discard, func(k string) string { return c.env[k] })
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				cfg := m.Config
				_, proxies, _ := cfg.limits()
				got = fmt.Sprint(cfg.LockoutThreshold, " ", cfg.LockoutWindow, " ", cfg.LockoutDuration, " ", proxies)
			}
			if !strings.HasPrefix(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
