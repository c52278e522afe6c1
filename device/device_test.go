package device_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos/device"
)

// answer is one scripted answer of the auth API.
type answer struct {
	status     int
	body       string
	retryAfter string
	hangUp     bool // close the connection without an answer
}

// success is a BASIC voucher answer.
const success = `{"code":200,"message":"Success","data":{"device_id":"dev-1","voucher":"{\"username\":\"user-1\",\"password\":\"pass-1\"}"}}`

// authServer is a scripted auth API: it gives its answers in order, then
// repeats the last one, and records the requests.
type authServer struct {
	*httptest.Server
	mu      sync.Mutex
	answers []answer
	bodies  []map[string]any
}

func newAuthServer(t *testing.T, answers ...answer) *authServer {
	t.Helper()
	s := &authServer{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	ok := r.Method == http.MethodPost && r.URL.Path == device.AuthPath &&
		r.Header.Get("Content-Type") == "application/json" && json.NewDecoder(r.Body).Decode(&body) == nil
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	a := s.answers[min(len(s.bodies), len(s.answers))-1]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "bad request", http.StatusTeapot)
		return
	}
	if a.hangUp {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

// attempts is the number of requests received.
func (s *authServer) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// sleeps records the waits between attempts instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

// config is a device configuration for srv, caching in a fresh directory
// that does not exist yet.
func config(t *testing.T, srv *authServer, sl *sleeps) device.Config {
	t.Helper()
	return device.Config{
		Server: srv.URL, TemplateSecret: "template-secret", DeviceNumber: "AA:BB:CC:DD:EE:01",
		CachePath: filepath.Join(t.TempDir(), "state", "voucher.json"), Sleep: sl.sleep,
	}
}

func TestProvisionRegistersAndCaches(t *testing.T) {
	srv := newAuthServer(t, answer{status: 200, body: success})
	cfg := config(t, srv, &sleeps{})
	cfg.DeviceName = "Kitchen"

	v, err := device.Provision(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v.IssuedAt.IsZero() {
		t.Error("the voucher does not say when it was issued")
	}
	v.IssuedAt = time.Time{}
	if *v != (device.Voucher{DeviceID: "dev-1", Username: "user-1", Password: "pass-1"}) {
		t.Fatalf("voucher %#v", v)
	}
	want := map[string]any{"template_secret": "template-secret", "device_number": "AA:BB:CC:DD:EE:01", "device_name": "Kitchen"}
	if got := srv.bodies[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("request %v, want %v (no empty optional fields)", got, want)
	}
	checkCacheFile(t, cfg.CachePath)
	b, _ := os.ReadFile(cfg.CachePath)
	if bytes.Contains(b, []byte("template-secret")) {
		t.Error("the cache holds the template secret")
	}

	// A second start reuses the cached voucher: no request.
	again, err := device.Provision(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.IssuedAt.IsZero() {
		t.Error("the cache does not keep when the voucher was issued")
	}
	again.IssuedAt = time.Time{}
	if *again != *v || srv.attempts() != 1 {
		t.Errorf("second Provision: %v after %d requests, want the cached voucher after 1", again, srv.attempts())
	}
}

// checkCacheFile checks that path is private, in a private directory, with
// no temporary file left beside it.
func checkCacheFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no cache: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, mode %v, want 0700", err, di.Mode().Perm())
	}
	checkOnlyFiles(t, filepath.Dir(path), filepath.Base(path))
}

// checkOnlyFiles checks that dir holds exactly the named files.
func checkOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("files in %s: %v, want %v", dir, got, names)
	}
}

func TestProvisionAccessToken(t *testing.T) {
	srv := newAuthServer(t, answer{status: 200,
		body: `{"code":200,"message":"Success","data":{"device_id":"dev-2","voucher":"{\"username\":\"tok-1\"}"}}`})
	v, err := device.Provision(t.Context(), config(t, srv, &sleeps{}))
	if err != nil {
		t.Fatal(err)
	}
	if v.Username != "tok-1" || v.Password != "" || v.DeviceID != "dev-2" {
		t.Fatalf("voucher %#v", v)
	}
}

func TestProvisionRetries(t *testing.T) {
	unavailable := answer{status: 503, body: `{"code":100003,"message":"Service unavailable"}`}
	ok := answer{status: 200, body: success}
	httpDate := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name     string
		answers  []answer
		attempts int
		waits    [][2]time.Duration // each wait's bounds
		code     int                // the AuthError's code; 0 for success
	}{
		{"ok/429-retry-after", []answer{{status: 429, retryAfter: "7", body: `{"code":100008,"message":"slow down"}`}, ok},
			2, [][2]time.Duration{{7 * time.Second, 7 * time.Second}}, 0},
		{"ok/503-retry-after", []answer{{status: 503, retryAfter: "3", body: `{"code":100003,"message":"x"}`}, ok},
			2, [][2]time.Duration{{3 * time.Second, 3 * time.Second}}, 0},
		{"ok/503-retry-after-date", []answer{{status: 503, retryAfter: httpDate, body: `{}`}, ok},
			2, [][2]time.Duration{{8 * time.Second, 10 * time.Second}}, 0},
		{"ok/500-backoff", []answer{{status: 500, body: `{"code":100001,"message":"x"}`}, {status: 500, body: "oops"}, ok},
			3, [][2]time.Duration{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}}, 0},
		{"ok/502-proxy-page", []answer{{status: 502, body: "<html>Bad Gateway</html>"}, ok},
			2, [][2]time.Duration{{500 * time.Millisecond, time.Second}}, 0},
		{"ok/network-error", []answer{{hangUp: true}, ok},
			2, [][2]time.Duration{{500 * time.Millisecond, time.Second}}, 0},
		{"ok/compat-unavailable", []answer{{status: 200, body: `{"code":100003,"message":"x"}`}, ok},
			2, [][2]time.Duration{{500 * time.Millisecond, time.Second}}, 0},
		{"fail/bounded", []answer{unavailable}, device.DefaultMaxAttempts, [][2]time.Duration{
			{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second},
			{2 * time.Second, 4 * time.Second}, {4 * time.Second, 8 * time.Second}}, 100003},
		{"fail/retry-after-too-long", []answer{{status: 429, retryAfter: "3600", body: `{"code":100008,"message":"x"}`}}, 1, nil, 100008},
		{"fail/secret-unknown", []answer{{status: 401, body: `{"code":200080,"message":"Template secret does not exist"}`}}, 1, nil, 200080},
		{"fail/compat-secret-unknown", []answer{{status: 200, body: `{"code":200080,"message":"Template secret does not exist"}`}}, 1, nil, 200080},
		{"fail/compat-device-exists", []answer{{status: 200, body: `{"code":200082,"message":"Device already exists"}`}}, 1, nil, 200082},
		{"fail/invalid", []answer{{status: 400, body: `{"code":100002,"message":"device_number: required"}`}}, 1, nil, 100002},
		{"fail/not-found-page", []answer{{status: 404, body: "404 page not found"}}, 1, nil, 0},
		{"fail/voucher-not-json", []answer{{status: 200, body: `{"code":200,"message":"Success","data":{"device_id":"d","voucher":"user:pass"}}`}}, 1, nil, 200},
		{"fail/voucher-without-username", []answer{{status: 200, body: `{"code":200,"message":"Success","data":{"device_id":"d","voucher":"{}"}}`}}, 1, nil, 200},
		{"fail/no-device-id", []answer{{status: 200, body: `{"code":200,"message":"Success","data":{"voucher":"{\"username\":\"u\"}"}}`}}, 1, nil, 200},
		{"fail/no-data", []answer{{status: 200, body: `{"code":200,"message":"Success"}`}}, 1, nil, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newAuthServer(t, c.answers...)
			sl := &sleeps{}
			cfg := config(t, srv, sl)
			v, err := device.Provision(t.Context(), cfg)
			if got := srv.attempts(); got != c.attempts {
				t.Errorf("%d attempts, want %d", got, c.attempts)
			}
			if len(sl.d) != len(c.waits) {
				t.Fatalf("waits %v, want %d", sl.d, len(c.waits))
			}
			for i, w := range c.waits {
				if sl.d[i] < w[0] || sl.d[i] > w[1] {
					t.Errorf("wait %d: %v, want between %v and %v", i, sl.d[i], w[0], w[1])
				}
			}
			if c.code == 0 && c.name[:3] == "ok/" {
				if err != nil || v.Username != "user-1" {
					t.Fatalf("got %v, %v", v, err)
				}
				checkCacheFile(t, cfg.CachePath)
				return
			}
			var ae *device.AuthError
			if !errors.As(err, &ae) || ae.Code != c.code {
				t.Fatalf("error %v, want an AuthError with code %d", err, c.code)
			}
			if strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "user:") {
				t.Errorf("the error quotes the voucher: %v", err)
			}
			checkOnlyFiles(t, filepath.Dir(cfg.CachePath)) // nothing cached, no temporary file
		})
	}
}

func TestProvisionStopsWhenCancelled(t *testing.T) {
	srv := newAuthServer(t, answer{status: 503, retryAfter: "60", body: `{"code":100003,"message":"x"}`})
	cfg := config(t, srv, nil)
	cfg.Sleep = nil // the real one
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := device.Provision(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Provision took %v after its context ended", d)
	}
}

func TestProvisionIgnoresAnotherDevicesCache(t *testing.T) {
	srv := newAuthServer(t, answer{status: 200, body: success})
	cfg := config(t, srv, &sleeps{})
	if _, err := device.Provision(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.DeviceNumber = "AA:BB:CC:DD:EE:02"
	if _, err := device.Provision(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if srv.attempts() != 2 {
		t.Fatalf("another device number used the cache: %d requests", srv.attempts())
	}
	b, _ := os.ReadFile(cfg.CachePath)
	if !bytes.Contains(b, []byte(`"AA:BB:CC:DD:EE:02"`)) {
		t.Errorf("the cache was not replaced by the new device's: %s", b)
	}
	otherServer := newAuthServer(t, answer{status: 200, body: success})
	other.Server = otherServer.URL
	if _, err := device.Provision(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if otherServer.attempts() != 1 {
		t.Error("a cache written for another server was used")
	}
	other.Server += "/" // the same server
	if _, err := device.Provision(t.Context(), other); err != nil || otherServer.attempts() != 1 {
		t.Errorf("a trailing slash made the cache unusable: %v, %d requests", err, otherServer.attempts())
	}
}

func TestProvisionReplacesACorruptCache(t *testing.T) {
	srv := newAuthServer(t, answer{status: 200, body: success})
	cfg := config(t, srv, &sleeps{})
	for _, junk := range []string{"", "{not json", `{"server":"` + srv.URL + `","device_number":"AA:BB:CC:DD:EE:01","device_id":"d","voucher":"{}"}`} {
		os.MkdirAll(filepath.Dir(cfg.CachePath), 0o700)
		if err := os.WriteFile(cfg.CachePath, []byte(junk), 0o600); err != nil {
			t.Fatal(err)
		}
		before := srv.attempts()
		if v, err := device.Provision(t.Context(), cfg); err != nil || v.Username != "user-1" || srv.attempts() != before+1 {
			t.Fatalf("cache %q: %v, %v after %d requests", junk, v, err, srv.attempts()-before)
		}
		checkCacheFile(t, cfg.CachePath)
	}
}

func TestProvisionWillNotUseAVoucherItCannotKeep(t *testing.T) {
	srv := newAuthServer(t, answer{status: 200, body: success})
	cfg := config(t, srv, &sleeps{})
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	cfg.CachePath = filepath.Join(blocker, "voucher.json") // its directory is a file
	if v, err := device.Provision(t.Context(), cfg); err == nil {
		t.Fatalf("got %v without a cache", v)
	}
}

func TestForget(t *testing.T) {
	srv := newAuthServer(t, answer{status: 200, body: success})
	cfg := config(t, srv, &sleeps{})
	if _, err := device.Provision(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := device.Forget(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.CachePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache still there: %v", err)
	}
	if err := device.Forget(cfg); err != nil {
		t.Errorf("forget without a cache: %v", err)
	}
	if _, err := device.Provision(t.Context(), cfg); err != nil || srv.attempts() != 2 {
		t.Errorf("after Forget: %v, %d requests, want a new registration", err, srv.attempts())
	}
}

func TestConfigIsChecked(t *testing.T) {
	ok := device.Config{Server: "http://127.0.0.1:1", TemplateSecret: "s", DeviceNumber: "n", CachePath: "c"}
	for name, edit := range map[string]func(*device.Config){
		"no-server":     func(c *device.Config) { c.Server = "" },
		"server-no-url": func(c *device.Config) { c.Server = "127.0.0.1:8080" },
		"no-secret":     func(c *device.Config) { c.TemplateSecret = "" },
		"no-number":     func(c *device.Config) { c.DeviceNumber = "" },
		"no-cache":      func(c *device.Config) { c.CachePath = "" },
	} {
		c := ok
		edit(&c)
		if _, err := device.Provision(t.Context(), c); err == nil || !strings.HasPrefix(err.Error(), "device: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := device.Connect(t.Context(), ok); err == nil || !strings.Contains(err.Error(), "broker") {
		t.Errorf("Connect without a broker: %v", err)
	}
}

func TestVoucherHidesItsSecrets(t *testing.T) {
	basic := device.Voucher{DeviceID: "dev-1", Username: "user-1", Password: "pass-1"}
	token := device.Voucher{DeviceID: "dev-2", Username: "tok-1"}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("v", "basic", basic, "token", token, "ptr", &basic)
	text := fmt.Sprintf("%v %+v %#v %s %v", basic, token, basic, &token, &basic) + logs.String()
	for _, secret := range []string{"pass-1", "tok-1"} {
		if strings.Contains(text, secret) {
			t.Errorf("%q shows in %s", secret, text)
		}
	}
	for _, shown := range []string{"dev-1", "user-1", "dev-2"} {
		if !strings.Contains(text, shown) {
			t.Errorf("%q is not shown in %s", shown, text)
		}
	}
}
