package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// fakeEMQXAPI stands in for EMQX's REST API, which cannot run here: it
// answers DELETE /api/v5/clients/{clientid} as EMQX documents it (204, with
// basic authentication by API key) and records the client ids.
// https://docs.emqx.com/en/emqx/latest/admin/api-docs.html
type fakeEMQXAPI struct {
	*httptest.Server
	mu     sync.Mutex
	kicked []string
}

func newFakeEMQXAPI(t *testing.T, key, secret string) *fakeEMQXAPI {
	f := &fakeEMQXAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != key || p != secret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id, ok := strings.CutPrefix(r.URL.Path, "/api/v5/clients/")
		if r.Method != http.MethodDelete || !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		f.mu.Lock()
		f.kicked = append(f.kicked, id)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEMQXAPI) wasKicked(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.kicked {
		if k == id {
			return true
		}
	}
	return false
}

// emqxCall posts body to otos's EMQX endpoint path with token, as EMQX
// does, and decodes the answer.
func emqxCall(t *testing.T, s *testServer, path, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, out := do(t, "POST", s.URL+"/api/v1/emqx"+path, string(b), "Authorization", "Bearer "+token)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %d %s", path, res.StatusCode, out)
	}
	return res.StatusCode, m
}

// TestEMQX: otos answers EMQX 5's HTTP authentication and authorization
// requests, in the form its documentation gives (the bodies are those of
// the templates `otos emqx config` prints), and disconnects a revoked
// device through EMQX's REST API. EMQX itself cannot be installed here.
func TestEMQX(t *testing.T) {
	dir := t.TempDir()
	var conf bytes.Buffer
	if err := run(t.Context(), []string{"emqx", "config", "http://otos.example:8080", "--data", dir}, &conf, &conf,
		func(string) string { return "" }); err != nil {
		t.Fatalf("otos emqx config: %v: %s", err, conf.String())
	}
	m := regexp.MustCompile(`"authorization" = "Bearer ([^"]+)"`).FindStringSubmatch(conf.String())
	if m == nil || !strings.Contains(conf.String(), `url = "http://otos.example:8080/api/v1/emqx/authn"`) {
		t.Fatalf("otos emqx config printed:\n%s", conf.String())
	}
	token := m[1]
	api := newFakeEMQXAPI(t, "otos-key", "otos-secret")
	s := startServer(t, dir, func(c *Config) {
		c.EMQXAPI, c.EMQXAPIKey, c.EMQXAPISecret = api.URL, "otos-key", "otos-secret"
	})
	tp := s.createTemplate(t, nil)
	id, v := s.register(t, tp.Secret, "emqx-1")
	var other otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "other"}, 201, &other)
	tp2 := s.createTemplate(t, map[string]any{"tenant_id": other.ID})
	_, _ = s.register(t, tp2.Secret, "emqx-other")
	acct, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, "", "emqx-app")
	if err != nil {
		t.Fatal(err)
	}

	// Without EMQX's token, nothing.
	if status, ans := emqxCall(t, s, "/authn", "wrong", map[string]string{"username": v.Username, "password": v.Password}); status != 401 || ans["result"] != "deny" {
		t.Fatalf("without the token: %d %v", status, ans)
	}
	authn := func(user, pass, clientID string) map[string]any {
		_, ans := emqxCall(t, s, "/authn", token, map[string]string{"username": user, "password": pass,
			"clientid": clientID, "peerhost": "198.51.100.7"})
		return ans
	}
	if ans := authn(v.Username, "wrong", "emqx-1"); ans["result"] != "deny" {
		t.Fatalf("a wrong password: %v", ans)
	}
	ans := authn(v.Username, v.Password, "emqx-1")
	if ans["result"] != "allow" || ans["is_superuser"] != false {
		t.Fatalf("the device's voucher: %v", ans)
	}
	attrs := ans["client_attrs"].(map[string]any)
	if attrs["otos_tenant"] != otos.DefaultTenantID || attrs["otos_number"] != "emqx-1" {
		t.Errorf("client_attrs %v", attrs)
	}
	acl, _ := json.Marshal(ans["acl"])
	for _, want := range []string{`{"action":"publish","permission":"allow","topic":"devices/telemetry"}`,
		`{"action":"subscribe","permission":"allow","topic":"devices/command/emqx-1/+"}`} {
		if !strings.Contains(string(acl), want) {
			t.Errorf("acl lacks %s: %s", want, acl)
		}
	}
	if !strings.HasSuffix(string(acl), `{"action":"all","permission":"deny","topic":"#"}]`) {
		t.Errorf("acl does not end denying the rest: %s", acl)
	}
	if ans := authn(acct.Username, acct.Password, acct.Username+"/1"); ans["result"] != "allow" {
		t.Fatalf("the service account: %v", ans)
	}
	// What one client id space and one topic space for every tenant cannot
	// keep apart is refused: another's client id (it would end that
	// session), a number whose downlinks are others' uplinks, and one that
	// EMQX would read as an ACL placeholder.
	if ans := authn(v.Username, v.Password, "emqx-other"); ans["result"] != "deny" {
		t.Errorf("another device's client id: %v", ans)
	}
	for _, number := range []string{"response", "${clientid}"} {
		_, rv := s.register(t, tp.Secret, number)
		if ans := authn(rv.Username, rv.Password, number); ans["result"] != "deny" {
			t.Errorf("device number %q: %v", number, ans)
		}
	}
	if !strings.Contains(string(acl), `{"action":"publish","permission":"deny","retain":true,"topic":"#"}`) {
		t.Errorf("retained publishes are not refused first: %s", acl)
	}

	// Authorization: what the ACL leaves open, a service account's downlinks.
	authz := func(user, topic, action string) any {
		_, ans := emqxCall(t, s, "/authz", token, map[string]string{"username": user, "clientid": "c",
			"topic": topic, "action": action})
		return ans["result"]
	}
	for _, c := range []struct {
		user, topic, action, want string
	}{
		{acct.Username, "devices/command/emqx-1/7", "publish", "allow"},
		{acct.Username, "devices/command/emqx-other/7", "publish", "deny"}, // another tenant's device
		{acct.Username, "devices/command/nobody/7", "publish", "deny"},
		{acct.Username, "otos/" + other.ID + "/#", "subscribe", "deny"},
		{v.Username, "devices/command/emqx-other/7", "subscribe", "deny"},
		{"unknown-user", "devices/telemetry", "publish", "deny"},
	} {
		if got := authz(c.user, c.topic, c.action); got != c.want {
			t.Errorf("%s %s by %s: %v, want %s", c.action, c.topic, c.user, got, c.want)
		}
	}
	if res, _ := do(t, "POST", s.URL+"/api/v1/emqx/authz", "{not json", "Authorization", "Bearer "+token); res.StatusCode != 200 {
		t.Errorf("a malformed request: %d, want 200 with deny (another status reads as ignore)", res.StatusCode)
	}

	// A disabled device is disconnected through EMQX's API, and refused.
	if _, err := s.Service.Admin.SetDeviceStatus(t.Context(), systemAdmin, id, otos.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return api.wasKicked("emqx-1") }, time.Second)
	if ans := authn(v.Username, v.Password, "emqx-1"); ans["result"] != "deny" {
		t.Errorf("a disabled device: %v", ans)
	}
	if got := authz(v.Username, "devices/telemetry", "publish"); got != "deny" {
		t.Errorf("a disabled device's publish: %v", got)
	}
}

// TestEMQXRotation: over EMQX, an expiring voucher's answer carries
// expire_at, and the end of a rotation's overlap disconnects the clients of
// the old voucher only, not a client id the device took over with the new one.
func TestEMQXRotation(t *testing.T) {
	dir := t.TempDir()
	var conf bytes.Buffer
	if err := run(t.Context(), []string{"emqx", "config", "http://otos.example:8080", "--data", dir}, &conf, &conf,
		func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`"authorization" = "Bearer ([^"]+)"`).FindStringSubmatch(conf.String())[1]
	api := newFakeEMQXAPI(t, "otos-key", "otos-secret")
	s := startServer(t, dir, func(c *Config) {
		c.EMQXAPI, c.EMQXAPIKey, c.EMQXAPISecret = api.URL, "otos-key", "otos-secret"
	})
	tp := s.createTemplate(t, map[string]any{"voucher_lifetime_seconds": 3600})
	_, old := s.register(t, tp.Secret, "emqx-rot")
	authn := func(v voucher, clientID string) map[string]any {
		_, ans := emqxCall(t, s, "/authn", token, map[string]string{"username": v.Username, "password": v.Password,
			"clientid": clientID, "peerhost": "198.51.100.8"})
		return ans
	}
	ans := authn(old, "emqx-rot/a")
	exp, ok := ans["expire_at"].(float64)
	if ans["result"] != "allow" || !ok || time.Until(time.Unix(int64(exp), 0)) < 59*time.Minute {
		t.Fatalf("authn of an expiring voucher: %v", ans)
	}
	authn(old, "emqx-rot") // the client id the device keeps across the rotation
	status, r := s.rotateHTTP(t, old)
	if status != 200 {
		t.Fatalf("rotation: %d %+v", status, r)
	}
	if ans := authn(r.voucher(t), "emqx-rot"); ans["result"] != "allow" {
		t.Fatalf("the new voucher: %v", ans)
	}
	eventually(t, func() bool { return api.wasKicked("emqx-rot/a") }, time.Second)
	time.Sleep(100 * time.Millisecond)
	if api.wasKicked("emqx-rot") {
		t.Fatal("the client id that took the old session over with the new voucher was kicked")
	}
	if ans := authn(old, "emqx-rot/b"); ans["result"] != "deny" {
		t.Fatalf("the old voucher after its overlap: %v", ans)
	}
}
