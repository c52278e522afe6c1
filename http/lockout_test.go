package http

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
	"github.com/otos-iot/otos/provision"
)

// fakeRegistrar answers every registration with err, or success when nil.
type fakeRegistrar struct {
	Admin // not used here
	mu    sync.Mutex
	err   error
	calls int
	last  *otos.AuthRequest
	// refusals are the audited refusals: "addr code".
	refusals []string
}

func (f *fakeRegistrar) Register(ctx context.Context, req *otos.AuthRequest) (*provision.Registration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.last = req
	if f.err != nil {
		return nil, f.err
	}
	return &provision.Registration{Device: &otos.Device{ID: "d1"}, Voucher: otos.Voucher{Username: "u"}}, nil
}

func (f *fakeRegistrar) Ping(ctx context.Context) error { return nil }

func (f *fakeRegistrar) RecordRefusal(req *otos.AuthRequest, clientAddr string, code otos.Code) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusals = append(f.refusals, clientAddr+" "+itoa(code.Number()))
}

// lockoutServer is a Server with a lock-out of 3 failures a minute, 5
// minutes, on a clock that the test moves.
type lockoutServer struct {
	*Server
	svc *fakeRegistrar
	now time.Time
}

func newLockoutServer(t *testing.T, compat bool, err error) *lockoutServer {
	t.Helper()
	ls := &lockoutServer{svc: &fakeRegistrar{err: err}, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	ls.Server = NewServer(Config{Service: ls.svc, CompatThingsPanel: compat, Now: func() time.Time { return ls.now },
		Lockout: limit.NewLockout(limit.LockoutConfig{Threshold: 3, Window: time.Minute, Duration: 5 * time.Minute})})
	return ls
}

// post sends a device auth request from remote.
func (ls *lockoutServer) post(t *testing.T, remote, body string, headers ...string) (*http.Response, Envelope) {
	t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/device/auth", strings.NewReader(body))
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	ls.Handler().ServeHTTP(w, r)
	var env Envelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("answer %q: %v", w.Body.String(), err)
	}
	return w.Result(), env
}

const goodBody = `{"template_secret":"s","device_number":"d"}`

func TestLockoutCountedCodes(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		body   string
		counts bool
	}{
		{"counts/secret-unknown", otos.Errorf(otos.ESECRETUNKNOWN, "x"), goodBody, true},
		{"counts/bad-signature", otos.Errorf(otos.EBADSIGNATURE, "x"), goodBody, true},
		{"counts/stale", otos.Errorf(otos.ESTALE, "x"), goodBody, true},
		{"counts/replay", otos.Errorf(otos.EREPLAY, "x"), goodBody, true},
		{"free/success", nil, goodBody, false},
		{"free/device-exists", otos.Errorf(otos.EDEVICEEXISTS, "x"), goodBody, false},
		{"free/registration-off", otos.Errorf(otos.EREGISTRATIONOFF, "x"), goodBody, false},
		{"free/template-rate", &otos.Error{Code: otos.ERATELIMITED, RetryAfter: time.Second}, goodBody, false},
		{"free/internal", io.ErrUnexpectedEOF, goodBody, false},
		{"free/malformed", nil, `{`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ls := newLockoutServer(t, false, c.err)
			for range 10 {
				ls.post(t, "198.51.100.7:1000", c.body)
			}
			ls.svc.err = nil
			res, env := ls.post(t, "198.51.100.7:1000", goodBody)
			locked := env.Code == otos.ERATELIMITED.Number() && res.StatusCode == http.StatusTooManyRequests
			if locked != c.counts {
				t.Fatalf("locked = %v after 10 × %s (answer %d %+v)", locked, c.name, res.StatusCode, env)
			}
		})
	}
}

func TestLockoutAnswer(t *testing.T) {
	ls := newLockoutServer(t, false, otos.Errorf(otos.ESECRETUNKNOWN, "Template secret does not exist"))
	for i := range 3 {
		if res, env := ls.post(t, "198.51.100.7:1000", goodBody); res.StatusCode != 401 || env.Code != 200080 {
			t.Fatalf("failure %d: %d %+v", i+1, res.StatusCode, env)
		}
	}
	ls.svc.err = nil // a correct request is refused too, and never reaches the service
	ls.now = ls.now.Add(90 * time.Second)
	res, env := ls.post(t, "198.51.100.7:2000", goodBody)
	if res.StatusCode != 429 || env.Code != 201003 || res.Header.Get("Retry-After") != "210" ||
		!strings.Contains(env.Message, "210 seconds") {
		t.Fatalf("locked: %d Retry-After %q %+v", res.StatusCode, res.Header.Get("Retry-After"), env)
	}
	if _, env := ls.post(t, "198.51.100.7:2000", `{not json`, "Accept-Language", "zh-CN"); env.Message != "请求过于频繁，请稍后重试" {
		t.Fatalf("zh message %q", env.Message)
	}
	if ls.svc.calls != 3 {
		t.Fatalf("the service saw %d requests, want only the 3 before the lock-out", ls.svc.calls)
	}
	if got := strings.Join(ls.svc.refusals, ", "); got != "198.51.100.7 201003, 198.51.100.7 201003" {
		t.Fatalf("audited refusals: %s", got)
	}
	if res, env := ls.post(t, "198.51.100.8:1000", goodBody); res.StatusCode != 200 || env.Code != 200 {
		t.Fatalf("another address: %d %+v", res.StatusCode, env)
	}
	ls.now = ls.now.Add(210 * time.Second)
	if res, env := ls.post(t, "198.51.100.7:1000", goodBody); res.StatusCode != 200 || env.Code != 200 {
		t.Fatalf("after the cool-down: %d %+v", res.StatusCode, env)
	}
	metrics := ls.scrape(t)
	for _, want := range []string{"otos_lockouts_total 1", `otos_rate_limited_total{reason="lockout"} 2`,
		"otos_lockout_tracked_addresses 1", "otos_lockout_untracked_total 0"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestLockoutCompat(t *testing.T) {
	ls := newLockoutServer(t, true, otos.Errorf(otos.ESECRETUNKNOWN, "x"))
	for range 3 {
		ls.post(t, "198.51.100.7:1000", goodBody)
	}
	res, env := ls.post(t, "198.51.100.7:1000", goodBody)
	if res.StatusCode != 200 || env.Code != 201003 || res.Header.Get("Retry-After") != "300" {
		t.Fatalf("compat: %d Retry-After %q %+v", res.StatusCode, res.Header.Get("Retry-After"), env)
	}
}

func TestLockoutFollowsTrustedProxy(t *testing.T) {
	ls := newLockoutServer(t, false, otos.Errorf(otos.ESECRETUNKNOWN, "x"))
	ls.cfg.TrustedProxies, _ = ParseTrustedProxies("10.0.0.1")
	for range 3 {
		ls.post(t, "10.0.0.1:1000", goodBody, "X-Forwarded-For", "203.0.113.9")
	}
	if res, _ := ls.post(t, "10.0.0.1:1000", goodBody, "X-Forwarded-For", "203.0.113.9"); res.StatusCode != 429 {
		t.Fatalf("client behind the proxy: %d, want 429", res.StatusCode)
	}
	ls.svc.err = nil
	if res, _ := ls.post(t, "10.0.0.1:1000", goodBody, "X-Forwarded-For", "203.0.113.10"); res.StatusCode != 200 {
		t.Fatalf("another client behind the proxy: %d, want 200", res.StatusCode)
	}
	if got := ls.svc.last.ClientAddr; got != "203.0.113.10" {
		t.Fatalf("ClientAddr = %q", got)
	}
}

func TestMalformedBodyAudited(t *testing.T) {
	ls := newLockoutServer(t, false, nil)
	if res, _ := ls.post(t, "[2001:db8::7]:1000", `{"device_number":1}`); res.StatusCode != 400 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := strings.Join(ls.svc.refusals, ", "); got != "2001:db8::7 100002" || ls.svc.calls != 0 {
		t.Fatalf("audited refusals: %s; %d registrations", got, ls.svc.calls)
	}
}

func TestRetryAfterFromService(t *testing.T) {
	ls := newLockoutServer(t, false, &otos.Error{Code: otos.ERATELIMITED, Message: "slow", RetryAfter: 200 * time.Millisecond})
	res, env := ls.post(t, "198.51.100.7:1000", goodBody)
	if res.StatusCode != 429 || env.Code != 201003 || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("template rate: %d Retry-After %q %+v", res.StatusCode, res.Header.Get("Retry-After"), env)
	}
	if !strings.Contains(ls.scrape(t), `otos_rate_limited_total{reason="template"} 1`) {
		t.Error("template refusal not counted")
	}
}

func (ls *lockoutServer) scrape(t *testing.T) string {
	t.Helper()
	w := httptest.NewRecorder()
	ls.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}
