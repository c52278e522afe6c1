package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// signed returns a signed auth body for template tp, signed with secret.
func signed(tp template, secret, number string, ts time.Time, nonce string, edit func(map[string]string)) map[string]string {
	body := map[string]string{"template_id": tp.ID, "device_number": number,
		"timestamp": strconv.FormatInt(ts.UnixMilli(), 10), "nonce": nonce, "sign_method": "hmac-sha256"}
	if edit != nil {
		edit(body)
	}
	r := otos.AuthRequest{DeviceNumber: body["device_number"], TemplateID: body["template_id"], Timestamp: body["timestamp"],
		Nonce: body["nonce"], ProductKey: body["product_key"], ParentDeviceNumber: body["parent_device_number"],
		SubDeviceAddr: body["sub_device_addr"]}
	body["sign"] = otos.Sign(otos.Secret(secret), r.SigningString())
	return body
}

func TestSignedRequests(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"auth_mode": "signed"})
	now := time.Now()
	nonce := func(i int) string { return fmt.Sprintf("nonce-%08d", i) }

	cases := []struct {
		name   string
		body   map[string]string
		code   int
		status int
	}{
		{"ok", signed(tp, tp.Secret, "sig-1", now, nonce(1), nil), 200, 200},
		{"ok/timestamp-in-window", signed(tp, tp.Secret, "sig-2", now.Add(-4*time.Minute), nonce(2), nil), 200, 200},
		{"fail/tampered-number", func() map[string]string {
			b := signed(tp, tp.Secret, "sig-3", now, nonce(3), nil)
			b["device_number"] = "sig-3-evil"
			return b
		}(), 200087, 401},
		{"fail/wrong-secret", signed(tp, tp.Secret+"x", "sig-4", now, nonce(4), nil), 200087, 401},
		{"fail/stale", signed(tp, tp.Secret, "sig-5", now.Add(-6*time.Minute), nonce(5), nil), 200088, 401},
		{"fail/future", signed(tp, tp.Secret, "sig-6", now.Add(6*time.Minute), nonce(6), nil), 200088, 401},
		{"fail/replayed", signed(tp, tp.Secret, "sig-1", now, nonce(1), nil), 200089, 401},
		{"fail/unknown-template", signed(template{ID: "0196a1b2-0000-7000-8000-000000000000"}, tp.Secret, "sig-7", now, nonce(7), nil), 200080, 401},
		{"fail/plain-secret-on-signed-template", map[string]string{"template_secret": tp.Secret, "device_number": "sig-8"}, 200087, 401},
		{"fail/short-nonce", signed(tp, tp.Secret, "sig-9", now, "short", nil), 100002, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, env := s.auth(t, c.body)
			if status != c.status || env.Code != c.code {
				t.Fatalf("got %d %+v, want %d %d", status, env, c.status, c.code)
			}
		})
	}

	t.Run("product-key-instead-of-template-id", func(t *testing.T) {
		var p struct {
			ProductKey string `json:"product_key"`
		}
		s.admin(t, "POST", "/api/v1/products", map[string]string{"name": "p", "template_id": tp.ID}, 201, &p)
		body := signed(tp, tp.Secret, "sig-pk", now, nonce(20), func(b map[string]string) {
			delete(b, "template_id")
			b["product_key"] = p.ProductKey
		})
		if status, env := s.auth(t, body); status != 200 || env.Code != 200 {
			t.Fatalf("got %d %+v", status, env)
		}
	})
	t.Run("rotated-secret-signs-in-grace", func(t *testing.T) {
		var rot struct {
			Secret string `json:"template_secret"`
		}
		s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", map[string]int{"grace_seconds": 600}, 200, &rot)
		for i, secret := range []string{tp.Secret, rot.Secret} {
			if status, env := s.auth(t, signed(tp, secret, fmt.Sprintf("sig-rot-%d", i), now, nonce(30+i), nil)); status != 200 {
				t.Errorf("secret %d: %d %+v", i, status, env)
			}
		}
		s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", map[string]int{"grace_seconds": 0}, 200, &rot)
		if _, env := s.auth(t, signed(tp, tp.Secret, "sig-rot-old", now, nonce(40), nil)); env.Code != 200087 {
			t.Errorf("the secret rotated out without grace still signs: %+v", env)
		}
	})
	t.Run("any-mode-takes-both", func(t *testing.T) {
		any := s.createTemplate(t, nil)
		s.register(t, any.Secret, "any-plain")
		if status, env := s.auth(t, signed(any, any.Secret, "any-signed", now, nonce(50), nil)); status != 200 {
			t.Errorf("signed request on an any-mode template: %d %+v", status, env)
		}
	})
}

func TestAllowlistAndCap(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"registration": "allowlist"})
	var imp struct {
		Received, Added int
	}
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/allowlist", map[string][]string{"device_numbers": {"ok-1", "ok-2", "ok-1"}}, 200, &imp)
	if imp.Received != 3 || imp.Added != 2 {
		t.Errorf("import: %+v", imp)
	}
	s.register(t, tp.Secret, "ok-1")
	if status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "not-listed"}); status != 403 || env.Code != 200090 {
		t.Errorf("unlisted device: %d %+v", status, env)
	}
	t.Run("csv", func(t *testing.T) {
		res, b := do(t, "POST", s.URL+"/api/v1/templates/"+tp.ID+"/allowlist", "device_number\ncsv-1\n\ncsv-2,extra column\n",
			"Authorization", "Bearer "+s.Token, "Content-Type", "text/csv")
		if res.StatusCode != 200 || !strings.Contains(string(b), `"added":2`) {
			t.Fatalf("CSV import: %d %s", res.StatusCode, b)
		}
		s.register(t, tp.Secret, "csv-2")
	})
	t.Run("bad-entry-named", func(t *testing.T) {
		res, b := do(t, "POST", s.URL+"/api/v1/templates/"+tp.ID+"/allowlist", `{"device_numbers":["fine","bad\u0000one"]}`,
			"Authorization", "Bearer "+s.Token)
		if res.StatusCode != 400 || !strings.Contains(string(b), "device_numbers[1]") {
			t.Fatalf("bad entry: %d %s", res.StatusCode, b)
		}
		if status, _ := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "fine"}); status == 200 {
			t.Error("a rejected import was partly applied")
		}
	})
	t.Run("cli", func(t *testing.T) {
		file := t.TempDir() + "/numbers.csv"
		writeFile(t, file, "cli-1\ncli-2\n")
		out, err := s.runCLI(t, "template", "allowlist", "add", tp.ID, "--file", file)
		if err != nil || !strings.Contains(out, "added") {
			t.Fatalf("otos template allowlist add: %v\n%s", err, out)
		}
		s.register(t, tp.Secret, "cli-2")
	})
	t.Run("cap", func(t *testing.T) {
		capped := s.createTemplate(t, map[string]any{"max_devices": 2})
		s.register(t, capped.Secret, "cap-1")
		s.register(t, capped.Secret, "cap-2")
		if status, env := s.auth(t, map[string]string{"template_secret": capped.Secret, "device_number": "cap-3"}); status != 403 || env.Code != 200091 {
			t.Errorf("over the cap: %d %+v", status, env)
		}
		// A repeat of a known device is no new device: not refused by the cap.
		s.register(t, capped.Secret, "cap-1")
		var got struct {
			DeviceCount int `json:"device_count"`
			MaxDevices  int `json:"max_devices"`
		}
		s.admin(t, "GET", "/api/v1/templates/"+capped.ID, nil, 200, &got)
		if got.DeviceCount != 2 || got.MaxDevices != 2 {
			t.Errorf("template shows %+v", got)
		}
		s.admin(t, "PATCH", "/api/v1/templates/"+capped.ID, map[string]int{"max_devices": 3}, 200, nil)
		s.register(t, capped.Secret, "cap-3")
	})
}

func TestAuditRecordsEveryAttempt(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	s.register(t, tp.Secret, "aud-1")
	s.auth(t, map[string]string{"template_secret": "wrong", "device_number": "aud-2"})
	s.auth(t, `{"device_number":`) // malformed
	s.admin(t, "POST", "/api/v1/devices/00000000-0000-7000-8000-000000000000/disable", nil, 404, nil)
	s.Service.FlushAudit(context.Background())

	rs, _, err := s.Store.Audit(context.Background(), otos.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byCode := map[string]*otos.AuditRecord{}
	for _, r := range rs {
		byCode[fmt.Sprintf("%s/%d/%s", r.Kind, r.Code, r.DeviceNumber)] = r
	}
	for key, check := range map[string]func(*otos.AuditRecord) bool{
		"registration/200/aud-1":    func(r *otos.AuditRecord) bool { return r.TemplateID == tp.ID && r.ClientAddr != "" },
		"registration/200080/aud-2": func(r *otos.AuditRecord) bool { return r.TemplateID == "" && r.ClientAddr != "" },
		"registration/100002/":      func(r *otos.AuditRecord) bool { return true },
		"admin/200/": func(r *otos.AuditRecord) bool {
			// The system administrator's change is filed under the template's tenant.
			return r.Action == "template.create" && r.Target == tp.ID && r.TenantID == otos.DefaultTenantID
		},
		"admin/100006/": func(r *otos.AuditRecord) bool { return r.Action == "device.disable" },
	} {
		r, ok := byCode[key]
		if !ok {
			t.Errorf("no audit record %s among %d", key, len(rs))
			continue
		}
		if !check(r) {
			t.Errorf("audit record %s: %+v", key, r)
		}
		if strings.Contains(fmt.Sprintf("%+v", r), tp.Secret) {
			t.Errorf("audit record %s holds the template secret", key)
		}
	}
}
