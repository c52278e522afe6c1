package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// systemAdmin is the principal of the system administrator's token, for
// tests that call the core directly.
var systemAdmin = &otos.Principal{Role: otos.RoleAdmin}

// testClient is the client a test that calls the core directly speaks as.
var testClient = otos.Client{Addr: "test", Key: "test"}

// envelope is the device API answer.
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *struct {
		DeviceID string `json:"device_id"`
		Voucher  string `json:"voucher"`
	} `json:"data"`
}

// voucher is the decoded voucher string.
type voucher struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// do sends an HTTP request with an optional JSON body and headers (pairs).
func do(t testing.TB, method, url string, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// admin calls the admin API with the server's token and decodes the answer
// into out (when not nil), failing unless the status is want.
func (s *testServer) admin(t testing.TB, method, path string, body any, want int, out any) {
	t.Helper()
	var js string
	if body != nil {
		b, _ := json.Marshal(body)
		js = string(b)
	}
	res, b := do(t, method, s.URL+path, js, "Authorization", "Bearer "+s.Token)
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// template is what the tests keep of a created template.
type template struct {
	ID     string `json:"id"`
	Secret string `json:"template_secret"`
}

// createTemplate creates a template with the given fields over the defaults.
func (s *testServer) createTemplate(t *testing.T, fields map[string]any) template {
	t.Helper()
	body := map[string]any{"name": "sensor", "device_type": "direct"}
	for k, v := range fields {
		body[k] = v
	}
	var tp template
	s.admin(t, "POST", "/api/v1/templates", body, http.StatusCreated, &tp)
	if tp.ID == "" || tp.Secret == "" {
		t.Fatalf("template without id or secret: %+v", tp)
	}
	return tp
}

// auth posts a device auth body and returns the HTTP status and envelope.
func (s *testServer) auth(t *testing.T, body any, headers ...string) (int, envelope) {
	t.Helper()
	js, ok := body.(string)
	if !ok {
		b, _ := json.Marshal(body)
		js = string(b)
	}
	res, b := do(t, "POST", s.URL+"/api/v1/device/auth", js, headers...)
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("device auth answer is not JSON (status %d): %q", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	return res.StatusCode, env
}

// register registers a device and fails unless it succeeds.
func (s *testServer) register(t *testing.T, secret, number string, extra ...string) (string, voucher) {
	t.Helper()
	body := map[string]string{"template_secret": secret, "device_number": number}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	status, env := s.auth(t, body)
	if status != http.StatusOK || env.Code != 200 || env.Data == nil {
		t.Fatalf("register %s: status %d, %+v", number, status, env)
	}
	var v voucher
	dec := json.NewDecoder(bytes.NewReader([]byte(env.Data.Voucher)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("voucher %q: %v", env.Data.Voucher, err)
	}
	return env.Data.DeviceID, v
}

// voucherKey is the store key of a voucher username.
func voucherKey(username string) []byte { return otos.VoucherLookup(username) }

// writeFile writes content to path or fails the test.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// httpClient is the tests' client, with a timeout so a dying server cannot
// hang them.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// readAll reads r to the end.
func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }
