package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestRegisterBasicVoucher(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "AA:BB:CC:00:00:01", "device_name": "kitchen"})
	if status != 200 || env.Code != 200 || env.Message != "Success" {
		t.Fatalf("got %d %+v", status, env)
	}
	if !uuidRE.MatchString(env.Data.DeviceID) {
		t.Errorf("device_id %q is not a UUID", env.Data.DeviceID)
	}
	// Keys in SPEC order, no spaces; a BASIC voucher has ≥128 bits of password.
	re := regexp.MustCompile(`^\{"username":"([0-9a-f-]{36})","password":"([A-Za-z0-9_-]+)"\}$`)
	m := re.FindStringSubmatch(env.Data.Voucher)
	if m == nil {
		t.Fatalf("voucher %q is not in the BASIC format", env.Data.Voucher)
	}
	if len(m[2])*6 < 128 {
		t.Errorf("password %d characters: under 128 bits", len(m[2]))
	}
	// The username is not the secret: a UUIDv7, whose time order keeps the
	// credential index append-only.
	if m[1][14] != '7' {
		t.Errorf("username %q is not a UUIDv7", m[1])
	}
	var d struct {
		DeviceNumber     string     `json:"device_number"`
		Name             string     `json:"name"`
		Status           string     `json:"status"`
		TemplateID       string     `json:"template_id"`
		FirstConnectedAt *time.Time `json:"first_connected_at"`
	}
	s.admin(t, "GET", "/api/v1/devices/"+env.Data.DeviceID, nil, 200, &d)
	if d.DeviceNumber != "AA:BB:CC:00:00:01" || d.Name != "kitchen" || d.Status != "enabled" || d.TemplateID != tp.ID || d.FirstConnectedAt != nil {
		t.Errorf("device as stored: %+v", d)
	}
}

func TestRegisterAccessTokenVoucher(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"voucher_type": "ACCESSTOKEN"})
	_, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "imei-1"})
	m := regexp.MustCompile(`^\{"username":"([0-9a-f-]{36})"\}$`).FindStringSubmatch(env.Data.Voucher)
	if m == nil {
		t.Fatalf("voucher %q is not in the ACCESSTOKEN format", env.Data.Voucher)
	}
	// The username is the secret: a random UUIDv4, 122 random bits.
	if m[1][14] != '4' {
		t.Errorf("username %q is not a random (v4) UUID", m[1])
	}
}

// fixture is a server with one template of each kind, a product, a gateway
// and a registered sub-device.
type fixture struct {
	*testServer
	direct, gateway, sub, off, never template
	productKey, otherProductKey      string
}

func newFixture(t *testing.T, compat bool) *fixture {
	s := startServer(t, "", func(c *Config) { c.Compat = compat })
	f := &fixture{testServer: s}
	f.direct = s.createTemplate(t, nil)
	f.gateway = s.createTemplate(t, map[string]any{"device_type": "gateway"})
	f.sub = s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	f.off = s.createTemplate(t, map[string]any{"registration": "off"})
	f.never = s.createTemplate(t, map[string]any{"reregistration": "never"})
	var p struct {
		ProductKey string `json:"product_key"`
	}
	s.admin(t, "POST", "/api/v1/products", map[string]string{"name": "p1", "template_id": f.direct.ID}, 201, &p)
	f.productKey = p.ProductKey
	s.admin(t, "POST", "/api/v1/products", map[string]string{"name": "p2", "template_id": f.gateway.ID}, 201, &p)
	f.otherProductKey = p.ProductKey
	s.register(t, f.gateway.Secret, "gw-1")
	s.register(t, f.direct.Secret, "direct-1")
	s.register(t, f.never.Secret, "never-1")
	s.register(t, f.sub.Secret, "sub-1", "parent_device_number", "gw-1", "sub_device_addr", "0x01")
	return f
}

// TestResultCodes walks every row of SPEC's result-code table over HTTP, in
// default and in ThingsPanel compatibility mode, in English and Chinese: the
// status, the code and the message a device sees. The rules and their order
// are tested where they live (provision.TestRegisterRules).
func TestResultCodes(t *testing.T) {
	for _, compat := range []bool{false, true} {
		f := newFixture(t, compat)
		cases := []struct {
			name   string
			body   map[string]string
			code   int
			status int
			en, zh string
		}{
			{"ok", map[string]string{"template_secret": f.direct.Secret, "device_number": "new-1"}, 200, 200, "Success", "操作成功"},
			{"ok/product-key", map[string]string{"template_secret": f.direct.Secret, "device_number": "new-2", "product_key": f.productKey}, 200, 200, "Success", "操作成功"},
			{"ok/sub-fields-ignored-for-direct", map[string]string{"template_secret": f.direct.Secret, "device_number": "new-3", "parent_device_number": "nope", "sub_device_addr": "x"}, 200, 200, "Success", "操作成功"},
			{"fail/missing-number", map[string]string{"template_secret": f.direct.Secret}, 100002, 400, "device_number is required", "device_number"},
			{"fail/bad-secret", map[string]string{"template_secret": "not-a-secret", "device_number": "x-1"}, 200080, 401, "Template secret does not exist", "模板密钥不存在"},
			{"fail/registration-off", map[string]string{"template_secret": f.off.Secret, "device_number": "x-2"}, 200081, 403, "disabled", "自动注册已关闭"},
			{"fail/exists-never", map[string]string{"template_secret": f.never.Secret, "device_number": "never-1"}, 200082, 409, "Device already exists", "设备已存在"},
			{"fail/exists-other-template", map[string]string{"template_secret": f.direct.Secret, "device_number": "gw-1"}, 200082, 409, "Device already exists", "设备已存在"},
			{"fail/product-unknown", map[string]string{"template_secret": f.direct.Secret, "device_number": "x-3", "product_key": "nope"}, 200083, 400, "Product key", "产品密钥不存在"},
			{"fail/product-other-template", map[string]string{"template_secret": f.direct.Secret, "device_number": "x-4", "product_key": f.otherProductKey}, 200083, 400, "Product key", "产品密钥不存在"},
			{"fail/sub-missing-parent", map[string]string{"template_secret": f.sub.Secret, "device_number": "x-5", "sub_device_addr": "0x02"}, 200084, 400, "parent_device_number", "子设备地址以及父设备编号不能为空"},
			{"fail/sub-missing-addr", map[string]string{"template_secret": f.sub.Secret, "device_number": "x-6", "parent_device_number": "gw-1"}, 200084, 400, "sub_device_addr", "子设备地址以及父设备编号不能为空"},
			{"fail/parent-unknown", map[string]string{"template_secret": f.sub.Secret, "device_number": "x-7", "parent_device_number": "nope", "sub_device_addr": "0x02"}, 200085, 400, "Parent device", "父设备编号不存在"},
			{"fail/parent-not-gateway", map[string]string{"template_secret": f.sub.Secret, "device_number": "x-8", "parent_device_number": "direct-1", "sub_device_addr": "0x02"}, 200085, 400, "Parent device", "父设备编号不存在"},
			{"fail/sub-addr-taken", map[string]string{"template_secret": f.sub.Secret, "device_number": "x-9", "parent_device_number": "gw-1", "sub_device_addr": "0x01"}, 200086, 409, "Sub-device address", "子设备地址已存在"},
		}
		for _, c := range cases {
			for _, lang := range []string{"en", "zh-CN,zh;q=0.9,en;q=0.8"} {
				name := c.name + "/" + lang[:2]
				if compat {
					name = "compat/" + name
				}
				t.Run(name, func(t *testing.T) {
					body := map[string]string{}
					for k, v := range c.body {
						body[k] = v
					}
					if c.code == 200 && lang != "en" {
						body["device_number"] += "-zh"
					}
					status, env := f.auth(t, body, "Accept-Language", lang)
					want := c.status
					if compat {
						want = 200
					}
					if status != want || env.Code != c.code {
						t.Fatalf("got status %d code %d (%q), want %d code %d", status, env.Code, env.Message, want, c.code)
					}
					msg := c.en
					if lang != "en" {
						msg = c.zh
					}
					if !strings.Contains(env.Message, msg) {
						t.Errorf("message %q does not contain %q", env.Message, msg)
					}
					if (env.Data != nil) != (c.code == 200) {
						t.Errorf("data present = %v for code %d", env.Data != nil, c.code)
					}
				})
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	sec := tp.Secret
	long := strings.Repeat("a", 101)
	cases := []struct {
		name, body, field string
		status            int
	}{
		{"empty", "", "empty", 400},
		{"array", `[{"template_secret":"` + sec + `"}]`, "JSON object", 400},
		{"string", `"hello"`, "JSON object", 400},
		{"null", `null`, "template_secret", 400},
		{"truncated", `{"template_secret":"` + sec + `","device_number":"ab`, "not valid JSON", 400},
		{"trailing", `{"template_secret":"` + sec + `","device_number":"ab"}}`, "not valid JSON", 400},
		{"number-type", `{"template_secret":"` + sec + `","device_number":12345}`, "device_number", 400},
		{"object-type", `{"template_secret":{"a":1},"device_number":"x"}`, "template_secret", 400},
		{"bool-name", `{"template_secret":"` + sec + `","device_number":"x","device_name":true}`, "device_name", 400},
		{"missing-secret", `{"device_number":"x"}`, "template_secret", 400},
		{"too-long-number", `{"template_secret":"` + sec + `","device_number":"` + long + `"}`, "device_number", 400},
		{"too-long-addr", `{"template_secret":"` + sec + `","device_number":"x","sub_device_addr":"` + strings.Repeat("b", 37) + `"}`, "sub_device_addr", 400},
		{"too-long-name", `{"template_secret":"` + sec + `","device_number":"x","device_name":"` + strings.Repeat("n", 256) + `"}`, "device_name", 400},
		{"control-char", `{"template_secret":"` + sec + `","device_number":"ab\u0000cd"}`, "device_number", 400},
		{"newline", `{"template_secret":"` + sec + `","device_number":"ab\ncd"}`, "device_number", 400},
		{"leading-space", `{"template_secret":"` + sec + `","device_number":" ab"}`, "device_number", 400},
		{"invalid-utf8", "{\"template_secret\":\"" + sec + "\",\"device_number\":\"\xff\xfe\"}", "UTF-8", 400},
		{"oversize", `{"template_secret":"` + sec + `","device_number":"x","pad":"` + strings.Repeat("p", 17<<10) + `"}`, "exceeds", 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, b := do(t, "POST", s.URL+"/api/v1/device/auth", c.body)
			var env envelope
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatalf("not JSON: %q", b)
			}
			if res.StatusCode != c.status || env.Code != 100002 {
				t.Fatalf("status %d code %d %q, want %d 100002", res.StatusCode, env.Code, env.Message, c.status)
			}
			if !strings.Contains(env.Message, c.field) {
				t.Errorf("message %q does not name %q", env.Message, c.field)
			}
		})
	}
	t.Run("unknown-fields-ignored", func(t *testing.T) {
		status, env := s.auth(t, `{"template_secret":"`+sec+`","device_number":"ok-1","firmware":"1.2","extra":{"a":[1]}}`)
		if status != 200 || env.Code != 200 {
			t.Fatalf("got %d %+v", status, env)
		}
	})
	t.Run("no-half-written-rows", func(t *testing.T) {
		var list struct{ Items []json.RawMessage }
		s.admin(t, "GET", "/api/v1/devices", nil, 200, &list)
		if len(list.Items) != 1 {
			t.Fatalf("%d devices after bad input, want only ok-1", len(list.Items))
		}
	})
}

func TestRouteErrors(t *testing.T) {
	s := startServer(t, "", nil)
	res, b := do(t, "GET", s.URL+"/api/v1/nope", "")
	if res.StatusCode != 404 || !strings.Contains(string(b), "No such route") {
		t.Errorf("unknown route: %d %s", res.StatusCode, b)
	}
	// A known route with the wrong method: 405, and Allow says which.
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/api/v1/device/auth", "POST"},
		{"PUT", "/api/v1/device/auth", "POST"},
		{"DELETE", "/api/v1/templates", "GET, HEAD, POST"},
		{"POST", "/api/v1/devices/0190a1b2-0000-7000-8000-000000000000", "GET, HEAD, DELETE"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		res, b := do(t, c.method, s.URL+c.path, "")
		var env envelope
		if res.StatusCode != 405 || res.Header.Get("Allow") != c.allow || json.Unmarshal(b, &env) != nil || env.Code != 100002 {
			t.Errorf("%s %s: %d Allow %q %s; want 405 Allow %q", c.method, c.path, res.StatusCode, res.Header.Get("Allow"), b, c.allow)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if res, b := do(t, "GET", s.URL+path, ""); res.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, res.StatusCode, b)
		}
	}
	res, b = do(t, "GET", s.URL+"/metrics", "")
	if res.StatusCode != 200 || !strings.Contains(string(b), "otos_registration_duration_seconds") {
		t.Errorf("metrics: %d", res.StatusCode)
	}
}

func TestMetricsCountResultCodes(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	s.register(t, tp.Secret, "m-1")
	s.auth(t, map[string]string{"template_secret": "wrong", "device_number": "m-2"})
	_, b := do(t, "GET", s.URL+"/metrics", "")
	for _, want := range []string{`otos_registrations_total{code="200"} 1`, `otos_registrations_total{code="200080"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// markConnected records a broker connection, as the broker will.
func (s *testServer) markConnected(t *testing.T, id string) {
	t.Helper()
	d, err := s.Store.Device(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.MarkConnected(context.Background(), id, d.Credential.Lookup, time.Now()); err != nil {
		t.Fatal(err)
	}
}
