package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

func TestReregistrationUntilConnected(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	id1, v1 := s.register(t, tp.Secret, "lost-1")
	// The response was lost: the device asks again before connecting.
	id2, v2 := s.register(t, tp.Secret, "lost-1")
	if id1 != id2 {
		t.Fatalf("re-registration made a new device: %s then %s", id1, id2)
	}
	if v1 == v2 || v1.Password == v2.Password {
		t.Fatal("re-registration returned the same voucher")
	}
	if _, err := s.Store.DeviceByCredential(t.Context(), voucherKey(v1.Username)); err == nil {
		t.Error("the old voucher still names the device")
	}
	if d, err := s.Store.DeviceByCredential(t.Context(), voucherKey(v2.Username)); err != nil || d.ID != id1 {
		t.Errorf("the new voucher does not name the device: %v", err)
	}
	// Once connected, the door closes.
	s.markConnected(t, id1)
	status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "lost-1"})
	if status != http.StatusConflict || env.Code != 200082 {
		t.Fatalf("after first connection: %d %+v", status, env)
	}
	// An operator's reset re-opens it, for the same device.
	var d struct {
		FirstConnectedAt *time.Time `json:"first_connected_at"`
	}
	s.admin(t, "POST", "/api/v1/devices/"+id1+"/reset", nil, 200, &d)
	if d.FirstConnectedAt != nil {
		t.Error("reset kept first_connected_at")
	}
	if _, err := s.Store.DeviceByCredential(t.Context(), voucherKey(v2.Username)); err == nil {
		t.Error("reset kept the voucher")
	}
	id3, _ := s.register(t, tp.Secret, "lost-1")
	if id3 != id1 {
		t.Errorf("registration after reset made a new device")
	}
}

func TestReregistrationNever(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"reregistration": "never"})
	id, _ := s.register(t, tp.Secret, "n-1")
	if status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "n-1"}); env.Code != 200082 || status != 409 {
		t.Fatalf("repeat: %d %+v", status, env)
	}
	s.admin(t, "POST", "/api/v1/devices/"+id+"/reset", nil, 200, nil)
	if id2, _ := s.register(t, tp.Secret, "n-1"); id2 != id {
		t.Error("reset did not re-open registration for the same device")
	}
	// Switch the template to until_connected: repeats are answered again.
	s.admin(t, "PATCH", "/api/v1/templates/"+tp.ID, map[string]string{"reregistration": "until_connected"}, 200, nil)
	s.register(t, tp.Secret, "n-1")
}

func TestDisabledDeviceCannotReregister(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	id, _ := s.register(t, tp.Secret, "d-1")
	s.admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, 200, nil)
	if _, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "d-1"}); env.Code != 200082 {
		t.Fatalf("disabled device re-registered: %+v", env)
	}
	s.admin(t, "POST", "/api/v1/devices/"+id+"/enable", nil, 200, nil)
	s.register(t, tp.Secret, "d-1")
}

func TestRegistrationSwitchedOff(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	s.admin(t, "PATCH", "/api/v1/templates/"+tp.ID, map[string]string{"registration": "off"}, 200, nil)
	if status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "o-1"}); status != 403 || env.Code != 200081 {
		t.Fatalf("got %d %+v", status, env)
	}
}

func TestRotateSecret(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	var rot struct {
		Secret string    `json:"template_secret"`
		Until  time.Time `json:"previous_secret_valid_until"`
	}
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", map[string]int{"grace_seconds": 3600}, 200, &rot)
	if rot.Secret == "" || rot.Secret == tp.Secret || time.Until(rot.Until) < 59*time.Minute {
		t.Fatalf("rotation answer %+v", rot)
	}
	// Within the grace period both secrets work.
	s.register(t, tp.Secret, "r-old")
	s.register(t, rot.Secret, "r-new")

	// Rotation without grace: the previous secret stops at once.
	var rot2 struct {
		Secret string `json:"template_secret"`
	}
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", map[string]int{"grace_seconds": 0}, 200, &rot2)
	for _, old := range []string{tp.Secret, rot.Secret} {
		if _, env := s.auth(t, map[string]string{"template_secret": old, "device_number": "r-x"}); env.Code != 200080 {
			t.Errorf("old secret still accepted: %+v", env)
		}
	}
	s.register(t, rot2.Secret, "r-2")

	// Default grace, and bad values.
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", nil, 200, &rot)
	if d := time.Until(rot.Until); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("default grace ends in %v, want 24h", d)
	}
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", map[string]int{"grace_seconds": -1}, 400, nil)
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", map[string]string{"grace_seconds": "soon"}, 400, nil)
}

// TestConcurrentRegistration races 50 requests for one new device number, and
// 50 sub-devices for one parent address: one device each, no 5xx.
func TestConcurrentRegistration(t *testing.T) {
	s := startServer(t, "", nil)
	never := s.createTemplate(t, map[string]any{"reregistration": "never"})
	until := s.createTemplate(t, nil)
	gw := s.createTemplate(t, map[string]any{"device_type": "gateway"})
	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	s.register(t, gw.Secret, "gw-race")

	race := func(body func(i int) map[string]string) map[int]int {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, env := s.auth(t, body(i))
				if status >= 500 {
					t.Errorf("status %d: %+v", status, env)
				}
				mu.Lock()
				codes[env.Code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return codes
	}
	count := func(query string) int {
		var list struct{ Items []struct{ ID string } }
		s.admin(t, "GET", "/api/v1/devices?"+query, nil, 200, &list)
		return len(list.Items)
	}

	codes := race(func(int) map[string]string {
		return map[string]string{"template_secret": never.Secret, "device_number": "same-never"}
	})
	if codes[200] != 1 || codes[200082] != 49 {
		t.Errorf("never: codes %v, want one 200 and 49 200082", codes)
	}
	if n := count("device_number=same-never"); n != 1 {
		t.Errorf("never: %d devices", n)
	}

	codes = race(func(int) map[string]string {
		return map[string]string{"template_secret": until.Secret, "device_number": "same-until"}
	})
	if codes[200]+codes[200082] != 50 || codes[200] == 0 {
		t.Errorf("until_connected: codes %v", codes)
	}
	if n := count("device_number=same-until"); n != 1 {
		t.Errorf("until_connected: %d devices", n)
	}

	codes = race(func(i int) map[string]string {
		return map[string]string{"template_secret": sub.Secret, "device_number": fmt.Sprintf("sub-%d", i),
			"parent_device_number": "gw-race", "sub_device_addr": "0x10"}
	})
	if codes[200] != 1 || codes[200086] != 49 {
		t.Errorf("sub-devices: codes %v, want one 200 and 49 200086", codes)
	}
	if n := count("template_id=" + sub.ID); n != 1 {
		t.Errorf("sub-devices: %d devices", n)
	}
}

// TestRestartKeepsEverything restarts the server on the same data directory.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	tp := s.createTemplate(t, nil)
	id, v := s.register(t, tp.Secret, "persist-1")
	token := s.Token
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := startServer(t, dir, nil)
	if s2.Token != token {
		t.Fatal("admin token changed across restart")
	}
	s2.admin(t, "GET", "/api/v1/devices/"+id, nil, 200, nil)
	s2.register(t, tp.Secret, "persist-2")
	if d, err := s2.Store.DeviceByCredential(t.Context(), voucherKey(v.Username)); err != nil || d.ID != id {
		t.Errorf("voucher lost across restart: %v", err)
	}
}

// TestSecretsStayOutOfLogs runs the whole flow and searches the log for
// every secret issued along the way.
func TestSecretsStayOutOfLogs(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, map[string]any{"device_type": "gateway"})
	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device", "voucher_type": "ACCESSTOKEN"})
	secrets := []string{s.Token, tp.Secret, sub.Secret}
	_, v := s.register(t, tp.Secret, "log-gw")
	_, v2 := s.register(t, tp.Secret, "log-gw") // re-issued
	_, v3 := s.register(t, sub.Secret, "log-sub", "parent_device_number", "log-gw", "sub_device_addr", "1")
	secrets = append(secrets, v.Password, v2.Password, v3.Username)
	var rot struct {
		Secret string `json:"template_secret"`
	}
	s.admin(t, "POST", "/api/v1/templates/"+tp.ID+"/rotate-secret", nil, 200, &rot)
	secrets = append(secrets, rot.Secret)
	s.auth(t, map[string]string{"template_secret": tp.Secret + "x", "device_number": "log-bad"})
	do(t, "GET", s.URL+"/api/v1/templates", "", "Authorization", "Bearer "+s.Token+"x")

	// Signed requests, admin tokens, service accounts: their secrets too.
	signedTp := s.createTemplate(t, map[string]any{"auth_mode": "signed"})
	secrets = append(secrets, signedTp.Secret)
	if status, _ := s.auth(t, signed(signedTp, signedTp.Secret, "log-signed", time.Now(), "log-nonce-1", nil)); status != 200 {
		t.Fatalf("signed registration: %d", status)
	}
	s.auth(t, map[string]string{"template_secret": signedTp.Secret, "device_number": "log-plain-on-signed"})
	var tok struct {
		Token string `json:"token"`
	}
	s.admin(t, "POST", "/api/v1/tokens", map[string]string{"role": "viewer", "name": "log"}, 201, &tok)
	var acct struct {
		Password string `json:"password"`
	}
	s.admin(t, "POST", "/api/v1/service-accounts", map[string]string{"name": "log"}, 201, &acct)
	secrets = append(secrets, tok.Token, acct.Password)
	do(t, "GET", s.URL+"/api/v1/templates", "", "Authorization", "Bearer "+tok.Token)
	do(t, "GET", s.URL+"/api/v1/templates", "", "Authorization", "Bearer "+acct.Password)
	s.Service.FlushAudit(t.Context())
	audit, _, err := s.Store.Audit(t.Context(), otos.AuditFilter{Page: otos.Page{Limit: otos.MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range audit {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(fmt.Sprintf("%+v", *r), secret) {
				t.Errorf("secret %.6s… found in audit record %s", secret, r.Action)
			}
		}
	}

	logs := s.Logs.String()
	if !strings.Contains(logs, "device registered") {
		t.Fatalf("the log did not capture the run:\n%s", logs)
	}
	for _, secret := range secrets {
		if secret == "" || strings.Contains(logs, secret) {
			t.Errorf("secret %.6s… found in the log", secret)
		}
	}
}
