package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
	otoshttp "github.com/otos-iot/otos/http"
)

// apiToken is an admin token as POST /api/v1/tokens answers it.
type apiToken struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id"`
	Role      string     `json:"role"`
	Name      string     `json:"name"`
	Token     string     `json:"token"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// as calls the admin API with token and returns the status and body.
func (s *testServer) as(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var js string
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		js = string(b)
	}
	res, b := do(t, method, s.URL+path, js, "Authorization", "Bearer "+token)
	return res.StatusCode, b
}

// asOK is as, failing unless the status is want, and decoding into out.
func (s *testServer) asOK(t *testing.T, token, method, path string, body any, want int, out any) {
	t.Helper()
	status, b := s.as(t, token, method, path, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// newToken creates an admin token through the API with the given token.
func (s *testServer) newToken(t *testing.T, by string, body map[string]any) apiToken {
	t.Helper()
	var tk apiToken
	s.asOK(t, by, "POST", "/api/v1/tokens", body, http.StatusCreated, &tk)
	if tk.ID == "" || !strings.HasPrefix(tk.Token, "otos_") {
		t.Fatalf("POST /api/v1/tokens %v: %+v, want an id and an otos_ token", body, tk)
	}
	return tk
}

// tenantA holds the ids of the objects of tenant A (the default tenant)
// that tenant B must neither see nor change.
type tenantA struct {
	template                 template
	product, device, account string
	token, bootstrap, tenant string
	deviceNumber             string
	webhook, event           string
}

// ids returns every id of a.
func (a *tenantA) ids() []string {
	return []string{a.template.ID, a.product, a.device, a.account, a.token, a.bootstrap, a.tenant, a.webhook, a.event}
}

// setUpTenantA creates, as the system administrator, one object of each
// kind in the default tenant, and an audit record of it.
func setUpTenantA(t *testing.T, s *testServer) *tenantA {
	t.Helper()
	a := &tenantA{tenant: otos.DefaultTenantID, deviceNumber: "A-0001"}
	a.template = s.createTemplate(t, map[string]any{"name": "tenant A sensor", "device_type": "gateway"})
	var obj struct{ ID string }
	s.admin(t, "POST", "/api/v1/products", map[string]any{"name": "A product", "template_id": a.template.ID}, http.StatusCreated, &obj)
	a.product = obj.ID
	a.device, _ = s.register(t, a.template.Secret, a.deviceNumber)
	s.admin(t, "POST", "/api/v1/service-accounts", map[string]any{"name": "A backend"}, http.StatusCreated, &obj)
	a.account = obj.ID
	a.token = s.newToken(t, s.Token, map[string]any{"role": "admin", "tenant_id": a.tenant, "name": "A admin"}).ID
	var tokens otoshttp.List[apiToken]
	s.admin(t, "GET", "/api/v1/tokens", nil, http.StatusOK, &tokens)
	for _, tk := range tokens.Items {
		if tk.Name == otos.BootstrapTokenName {
			a.bootstrap = tk.ID
		}
	}
	if a.bootstrap == "" {
		t.Fatalf("the system administrator's token list has no bootstrap token: %+v", tokens.Items)
	}
	seedAudit(t, s, a.tenant, a.template.ID, a.deviceNumber)
	var hook struct{ ID string }
	s.admin(t, "POST", "/api/v1/webhooks", map[string]any{"url": "https://example.com/tenant-a"}, http.StatusCreated, &hook)
	a.webhook = hook.ID
	es, err := s.Store.Events(t.Context(), otos.EventFilter{TenantID: a.tenant})
	if err != nil || len(es) == 0 {
		t.Fatalf("tenant A's events: %v, %v", es, err)
	}
	a.event = es[0].ID
	return a
}

// seedAudit stores an audit record of a registration in tenant.
func seedAudit(t *testing.T, s *testServer, tenant, templateID, number string) {
	t.Helper()
	err := s.Store.AppendAudit(t.Context(), []*otos.AuditRecord{{ID: uuid.Must(uuid.NewV7()).String(), At: time.Now(),
		Kind: otos.AuditRegistration, TenantID: tenant, Actor: "192.0.2.1", Action: "device.auth", Code: 200,
		TemplateID: templateID, DeviceNumber: number, ClientAddr: "192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
}

// probe is one request of tenant B's admin at tenant A's objects: the
// status it must get and, for a list, that every item is B's.
type probe struct {
	path string // with A's ids in it
	body any
	want int
	list bool
}

// isolationProbes are, for every admin route, the requests that tenant B's
// admin sends with tenant A's ids. TestTenantIsolation fails for a route of
// otoshttp.AdminRoutes that has no entry here: a new route must say how it
// keeps tenants apart.
func isolationProbes(a *tenantA) map[string][]probe {
	list := func(path string) probe { return probe{path: path, want: http.StatusOK, list: true} }
	notFound := func(path string, body any) probe { return probe{path: path, body: body, want: http.StatusNotFound} }
	forbidden := func(path string, body any) probe { return probe{path: path, body: body, want: http.StatusForbidden} }
	tpl, dev := "/api/v1/templates/"+a.template.ID, "/api/v1/devices/"+a.device
	return map[string][]probe{
		"POST /api/v1/templates": {forbidden("/api/v1/templates",
			map[string]any{"name": "x", "device_type": "direct", "tenant_id": a.tenant})},
		"GET /api/v1/templates":                     {list("/api/v1/templates")},
		"GET /api/v1/templates/{id}":                {notFound(tpl, nil)},
		"PATCH /api/v1/templates/{id}":              {notFound(tpl, map[string]any{"name": "taken over"})},
		"POST /api/v1/templates/{id}/rotate-secret": {notFound(tpl+"/rotate-secret", map[string]any{"grace_seconds": 0})},
		"POST /api/v1/templates/{id}/allowlist":     {notFound(tpl+"/allowlist", map[string]any{"device_numbers": []string{"B-1"}})},
		"POST /api/v1/products": {{path: "/api/v1/products", want: http.StatusBadRequest,
			body: map[string]any{"name": "x", "template_id": a.template.ID}}},
		"GET /api/v1/products":      {list("/api/v1/products"), list("/api/v1/products?template_id=" + a.template.ID)},
		"GET /api/v1/products/{id}": {notFound("/api/v1/products/"+a.product, nil)},
		"GET /api/v1/devices": {list("/api/v1/devices"), list("/api/v1/devices?template_id=" + a.template.ID),
			list("/api/v1/devices?device_number=" + a.deviceNumber), list("/api/v1/devices?parent_id=" + a.device)},
		"GET /api/v1/devices/{id}":             {notFound(dev, nil)},
		"POST /api/v1/devices/{id}/disable":    {notFound(dev+"/disable", nil)},
		"POST /api/v1/devices/{id}/enable":     {notFound(dev+"/enable", nil)},
		"POST /api/v1/devices/{id}/reset":      {notFound(dev+"/reset", nil)},
		"DELETE /api/v1/devices/{id}":          {notFound(dev, nil)},
		"DELETE /api/v1/devices/{id}/hardware": {notFound(dev+"/hardware", nil)},
		"POST /api/v1/rotation-requests": {notFound("/api/v1/rotation-requests", map[string]any{"device_id": a.device}),
			notFound("/api/v1/rotation-requests", map[string]any{"template_id": a.template.ID}),
			forbidden("/api/v1/rotation-requests", map[string]any{"tenant_id": a.tenant})},
		"POST /api/v1/service-accounts": {forbidden("/api/v1/service-accounts",
			map[string]any{"name": "x", "tenant_id": a.tenant})},
		"GET /api/v1/service-accounts":         {list("/api/v1/service-accounts")},
		"DELETE /api/v1/service-accounts/{id}": {notFound("/api/v1/service-accounts/"+a.account, nil)},
		"POST /api/v1/tenants":                 {forbidden("/api/v1/tenants", map[string]any{"name": "x"})},
		"GET /api/v1/tenants":                  {list("/api/v1/tenants")},
		"GET /api/v1/tenants/{id}":             {notFound("/api/v1/tenants/"+a.tenant, nil)},
		"POST /api/v1/tokens":                  {forbidden("/api/v1/tokens", map[string]any{"role": "admin", "tenant_id": a.tenant})},
		"GET /api/v1/tokens":                   {list("/api/v1/tokens")},
		"DELETE /api/v1/tokens/{id}": {notFound("/api/v1/tokens/"+a.token, nil), notFound("/api/v1/tokens/"+a.bootstrap, nil),
			notFound("/api/v1/tokens/"+a.account, nil)},
		"GET /api/v1/audit": {list("/api/v1/audit"), list("/api/v1/audit?template_id=" + a.template.ID),
			list("/api/v1/audit?device_number=" + a.deviceNumber)},
		"POST /api/v1/webhooks": {forbidden("/api/v1/webhooks",
			map[string]any{"url": "https://example.com/b", "tenant_id": a.tenant})},
		"GET /api/v1/webhooks":                 {list("/api/v1/webhooks")},
		"GET /api/v1/webhooks/{id}":            {notFound("/api/v1/webhooks/"+a.webhook, nil)},
		"DELETE /api/v1/webhooks/{id}":         {notFound("/api/v1/webhooks/"+a.webhook, nil)},
		"GET /api/v1/webhooks/{id}/deliveries": {notFound("/api/v1/webhooks/"+a.webhook+"/deliveries", nil)},
		"POST /api/v1/webhooks/{id}/deliveries/{event_id}/resend": {notFound(
			"/api/v1/webhooks/"+a.webhook+"/deliveries/"+a.event+"/resend", nil)},
		"GET /api/v1/events": {list("/api/v1/events"), list("/api/v1/events?after=" + a.event)},
	}
}

// TestTenantIsolation calls every admin route with tenant B's tokens and
// tenant A's ids: B's admin gets 404 for each of A's objects, finds nothing
// of A in any list and cannot create in A; B's viewer gets 403 from every
// route that changes something; revoked and expired tokens get 401; the
// system administrator sees both tenants.
func TestTenantIsolation(t *testing.T) {
	s := startServer(t, "", nil)
	a := setUpTenantA(t, s)

	var b otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "tenant B"}, http.StatusCreated, &b)
	admin := s.newToken(t, s.Token, map[string]any{"role": "admin", "tenant_id": b.ID, "name": "B admin"})
	viewer := s.newToken(t, admin.Token, map[string]any{"role": "viewer", "name": "B viewer"})
	if admin.TenantID != b.ID || viewer.TenantID != b.ID || viewer.Role != "viewer" {
		t.Fatalf("B's tokens: %+v, %+v; want both in tenant %s", admin, viewer, b.ID)
	}
	var tplB template
	s.asOK(t, admin.Token, "POST", "/api/v1/templates", map[string]any{"name": "B sensor", "device_type": "direct"},
		http.StatusCreated, &tplB)
	s.register(t, tplB.Secret, "B-0001")
	seedAudit(t, s, b.ID, tplB.ID, "B-0001")

	probes := isolationProbes(a)
	for _, rt := range otoshttp.AdminRoutes() {
		method, _, _ := strings.Cut(rt.Pattern, " ")
		if rt.Write == (method == http.MethodGet) {
			t.Errorf("route %s is marked write=%v: GET routes read, all others write", rt.Pattern, rt.Write)
		}
		ps, ok := probes[rt.Pattern]
		if !ok {
			t.Errorf("route %s has no case in isolationProbes: say how it keeps tenants apart", rt.Pattern)
			continue
		}
		delete(probes, rt.Pattern)
		for _, p := range ps {
			status, body := s.as(t, admin.Token, method, p.path, p.body)
			if status != p.want {
				t.Errorf("tenant B: %s %s: status %d, want %d: %s", method, p.path, status, p.want, body)
			} else if p.list {
				wantOnly(t, method+" "+p.path, body, b.ID, a.ids())
			}
		}
		if rt.Write {
			path := strings.ReplaceAll(strings.TrimPrefix(rt.Pattern, method+" "), "{id}", uuid.NewString())
			if status, body := s.as(t, viewer.Token, method, path, map[string]any{}); status != http.StatusForbidden {
				t.Errorf("tenant B's viewer: %s %s: status %d, want 403: %s", method, path, status, body)
			}
			// Refused before anything of the request is read: a body that
			// does not parse, or an id that is none, gets 403 too.
			bad := strings.ReplaceAll(strings.TrimPrefix(rt.Pattern, method+" "), "{id}", "not-an-id")
			if res, body := do(t, method, s.URL+bad, "{", "Authorization", "Bearer "+viewer.Token); res.StatusCode != http.StatusForbidden {
				t.Errorf("tenant B's viewer, a malformed request: %s %s: status %d, want 403: %s", method, bad, res.StatusCode, body)
			}
		}
	}
	for pattern := range probes {
		t.Errorf("isolationProbes has a case for %s, which is no admin route", pattern)
	}

	t.Run("tenant-A-unchanged", func(t *testing.T) { wantUnchanged(t, s, a) })
	t.Run("revoked-and-expired", func(t *testing.T) { testTokenEnds(t, s, admin.Token) })
	t.Run("system-sees-both", func(t *testing.T) {
		for path, want := range map[string][]string{
			"/api/v1/tenants":   {a.tenant, b.ID},
			"/api/v1/templates": {a.template.ID, tplB.ID},
			"/api/v1/tokens":    {a.token, a.bootstrap, admin.ID, viewer.ID},
			"/api/v1/audit":     {a.template.ID, tplB.ID},
		} {
			status, body := s.as(t, s.Token, "GET", path+"?limit=1000", nil)
			for _, id := range want {
				if status != http.StatusOK || !strings.Contains(string(body), id) {
					t.Errorf("system GET %s: %d, want %s in %s", path, status, id, body)
				}
			}
		}
		s.asOK(t, s.Token, "GET", "/api/v1/tenants/"+b.ID, nil, http.StatusOK, nil)
	})
}

// wantOnly fails unless every item of the list in body is tenant b's (its
// tenant_id, or for a tenant its id) and none has one of a's ids.
func wantOnly(t *testing.T, what string, body []byte, b string, aIDs []string) {
	t.Helper()
	var l otoshttp.List[map[string]any]
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("%s: not a list: %s", what, body)
	}
	for _, item := range l.Items {
		owner, ok := item["tenant_id"]
		if !ok {
			owner = item["id"] // a tenant
		}
		if owner != b {
			t.Errorf("%s: tenant B sees an item of tenant %v: %v", what, owner, item)
		}
		for _, id := range aIDs {
			if item["id"] == id {
				t.Errorf("%s: tenant B sees tenant A's %s: %v", what, id, item)
			}
		}
	}
}

// wantUnchanged checks that B's attempts left A's objects as they were.
func wantUnchanged(t *testing.T, s *testServer, a *tenantA) {
	var tpl cliTemplate
	s.admin(t, "GET", "/api/v1/templates/"+a.template.ID, nil, http.StatusOK, &tpl)
	if tpl.Name != "tenant A sensor" {
		t.Errorf("A's template was renamed to %q", tpl.Name)
	}
	s.register(t, a.template.Secret, "A-0002") // the secret was not rotated
	var dev otos.Device
	s.admin(t, "GET", "/api/v1/devices/"+a.device, nil, http.StatusOK, &dev)
	if dev.Status != otos.StatusEnabled {
		t.Errorf("A's device is %s", dev.Status)
	}
	for _, id := range []string{a.account, a.token, a.bootstrap} {
		if tk, err := s.Store.Token(t.Context(), id); err != nil || tk.RevokedAt != nil {
			t.Errorf("A's token or account %s: %+v, %v; want it active", id, tk, err)
		}
	}
	if ok, err := s.Store.Allowed(t.Context(), a.template.ID, "B-1"); err != nil || ok {
		t.Errorf("B put a number on A's allow-list: %v, %v", ok, err)
	}
}

// testTokenEnds checks that a revoked token and an expired one get 401.
func testTokenEnds(t *testing.T, s *testServer, admin string) {
	revoked := s.newToken(t, admin, map[string]any{"role": "viewer", "name": "to revoke"})
	s.asOK(t, revoked.Token, "GET", "/api/v1/templates", nil, http.StatusOK, nil)
	var got apiToken
	s.asOK(t, admin, "DELETE", "/api/v1/tokens/"+revoked.ID, nil, http.StatusOK, &got)
	if got.RevokedAt == nil || got.Token != "" {
		t.Errorf("revoke answered %+v, want revoked_at and no token", got)
	}
	if status, body := s.as(t, revoked.Token, "GET", "/api/v1/templates", nil); status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d %s, want 401", status, body)
	}

	before := time.Now()
	expiring := s.newToken(t, admin, map[string]any{"role": "admin", "expires_in_seconds": 1})
	if expiring.ExpiresAt == nil || expiring.ExpiresAt.Before(before.Add(time.Second-time.Millisecond)) ||
		expiring.ExpiresAt.After(time.Now().Add(time.Second)) {
		t.Errorf("expires_at %v, want about a second from %v", expiring.ExpiresAt, before)
	}
	if status, body := s.as(t, expiring.Token, "GET", "/api/v1/templates", nil); status != http.StatusOK &&
		time.Now().Before(*expiring.ExpiresAt) {
		t.Errorf("token before its expiry: %d %s, want 200", status, body)
	}
	time.Sleep(time.Until(*expiring.ExpiresAt))
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := s.as(t, expiring.Token, "GET", "/api/v1/templates", nil)
		if status == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired token: %d %s, want 401", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCreateInTenant checks where objects are created: the system
// administrator in the default tenant or the tenant its body names, a
// tenant's token only in its own.
func TestCreateInTenant(t *testing.T) {
	s := startServer(t, "", nil)
	var b otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "tenant B"}, http.StatusCreated, &b)
	admin := s.newToken(t, s.Token, map[string]any{"role": "admin", "tenant_id": b.ID})
	unknown := uuid.NewString()

	tests := []struct {
		name, token, path string
		body              map[string]any
		want              int
		tenant            string // the created object's, or for an error the field at fault
	}{
		{"system/template-default", s.Token, "/api/v1/templates", map[string]any{"name": "t", "device_type": "direct"},
			http.StatusCreated, otos.DefaultTenantID},
		{"system/template-in-b", s.Token, "/api/v1/templates", map[string]any{"name": "t", "device_type": "direct", "tenant_id": b.ID},
			http.StatusCreated, b.ID},
		{"system/account-in-b", s.Token, "/api/v1/service-accounts", map[string]any{"name": "a", "tenant_id": b.ID},
			http.StatusCreated, b.ID},
		{"system/token-system", s.Token, "/api/v1/tokens", map[string]any{"role": "viewer"}, http.StatusCreated, ""},
		{"system/token-in-b", s.Token, "/api/v1/tokens", map[string]any{"role": "viewer", "tenant_id": b.ID}, http.StatusCreated, b.ID},
		{"tenant/template-own", admin.Token, "/api/v1/templates", map[string]any{"name": "t", "device_type": "direct"},
			http.StatusCreated, b.ID},
		{"tenant/template-own-named", admin.Token, "/api/v1/templates",
			map[string]any{"name": "t", "device_type": "direct", "tenant_id": b.ID}, http.StatusCreated, b.ID},
		{"tenant/account-own", admin.Token, "/api/v1/service-accounts", map[string]any{"name": "a"}, http.StatusCreated, b.ID},
		{"tenant/token-own", admin.Token, "/api/v1/tokens", map[string]any{"role": "admin"}, http.StatusCreated, b.ID},
		{"fail/system-unknown-tenant", s.Token, "/api/v1/templates",
			map[string]any{"name": "t", "device_type": "direct", "tenant_id": unknown}, http.StatusBadRequest, "tenant_id"},
		{"fail/system-token-unknown-tenant", s.Token, "/api/v1/tokens", map[string]any{"role": "admin", "tenant_id": unknown},
			http.StatusBadRequest, "tenant_id"},
		{"fail/tenant-default", admin.Token, "/api/v1/templates",
			map[string]any{"name": "t", "device_type": "direct", "tenant_id": otos.DefaultTenantID}, http.StatusForbidden, "tenant_id"},
		{"fail/tenant-unknown", admin.Token, "/api/v1/service-accounts", map[string]any{"name": "a", "tenant_id": unknown},
			http.StatusForbidden, "tenant_id"},
		{"fail/tenant-creates-tenant", admin.Token, "/api/v1/tenants", map[string]any{"name": "C"}, http.StatusForbidden, ""},
		{"fail/tenant-name-empty", s.Token, "/api/v1/tenants", map[string]any{"name": ""}, http.StatusBadRequest, "name"},
		{"fail/token-no-role", s.Token, "/api/v1/tokens", map[string]any{}, http.StatusBadRequest, "role"},
		{"fail/token-service-role", s.Token, "/api/v1/tokens", map[string]any{"role": "service"}, http.StatusBadRequest, "role"},
		{"fail/token-bootstrap-name", s.Token, "/api/v1/tokens", map[string]any{"role": "admin", "name": "bootstrap"},
			http.StatusBadRequest, "name"},
		{"fail/token-both-expiries", s.Token, "/api/v1/tokens",
			map[string]any{"role": "admin", "expires_in_seconds": 60, "expires_at": "2099-01-01T00:00:00Z"}, http.StatusBadRequest, "expires_at"},
		{"fail/token-expired", s.Token, "/api/v1/tokens", map[string]any{"role": "admin", "expires_at": "2020-01-01T00:00:00Z"},
			http.StatusBadRequest, "expires_at"},
		{"fail/token-expires-at-syntax", s.Token, "/api/v1/tokens", map[string]any{"role": "admin", "expires_at": "tomorrow"},
			http.StatusBadRequest, "expires_at"},
		{"fail/token-zero-seconds", s.Token, "/api/v1/tokens", map[string]any{"role": "admin", "expires_in_seconds": 0},
			http.StatusBadRequest, "expires_in_seconds"},
		{"fail/product-tenant-id", s.Token, "/api/v1/products", map[string]any{"name": "p", "template_id": unknown, "tenant_id": b.ID},
			http.StatusBadRequest, "tenant_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				TenantID *string `json:"tenant_id"`
				Field    string  `json:"field"`
				Token    string  `json:"token"`
			}
			s.asOK(t, tt.token, "POST", tt.path, tt.body, tt.want, &got)
			switch {
			case tt.want != http.StatusCreated && got.Field != tt.tenant:
				t.Errorf("error names field %q, want %q", got.Field, tt.tenant)
			case tt.want == http.StatusCreated && tt.path != "/api/v1/tenants" && (got.TenantID == nil || *got.TenantID != tt.tenant):
				t.Errorf("created in tenant %v, want %q", got.TenantID, tt.tenant)
			}
		})
	}

	t.Run("product-takes-template-tenant", func(t *testing.T) {
		var tpl, prod struct {
			ID       string `json:"id"`
			TenantID string `json:"tenant_id"`
		}
		s.admin(t, "POST", "/api/v1/templates", map[string]any{"name": "t", "device_type": "direct", "tenant_id": b.ID},
			http.StatusCreated, &tpl)
		s.admin(t, "POST", "/api/v1/products", map[string]any{"name": "p", "template_id": tpl.ID}, http.StatusCreated, &prod)
		if prod.TenantID != b.ID {
			t.Errorf("product in tenant %s, want its template's %s", prod.TenantID, b.ID)
		}
	})
}

// createdToken returns the token that "token create" prints set apart.
func createdToken(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if tk, ok := strings.CutPrefix(l, "    "); ok && strings.HasPrefix(tk, "otos_") {
			return tk
		}
	}
	t.Fatalf("no token in:\n%s", out)
	return ""
}

func TestCLITenantsTokensAudit(t *testing.T) {
	s := startServer(t, "", nil)

	out := s.cli(t, "tenant", "create", "--name", "Acme")
	tenant := value(t, out, "id")
	if value(t, out, "name") != "Acme" || value(t, s.cli(t, "tenant", "show", tenant), "name") != "Acme" {
		t.Errorf("tenant create / show:\n%s", out)
	}
	if rows := tableRows(t, s.cli(t, "tenant", "list"), "ID"); len(rows) != 2 {
		t.Errorf("tenant list: %q, want the default tenant and Acme", rows)
	}

	if got := value(t, s.cli(t, "template", "create", "--name", "acme meter", "--type", "direct", "--tenant", tenant), "tenant"); got != tenant {
		t.Errorf("template create --tenant: tenant %s, want %s", got, tenant)
	}
	if got := value(t, s.cli(t, "service-account", "create", "--name", "acme backend", "--tenant", tenant), "tenant"); got != tenant {
		t.Errorf("service-account create --tenant: tenant %s, want %s", got, tenant)
	}

	out = s.cli(t, "token", "create", "--role", "admin", "--tenant", tenant, "--name", "acme ops", "--expires", "24h")
	token, id := createdToken(t, out), value(t, out, "id")
	if value(t, out, "tenant") != tenant || value(t, out, "role") != "admin" || value(t, out, "expires") == "-" ||
		!strings.Contains(out, "shown only this once") {
		t.Errorf("token create:\n%s", out)
	}
	acme := map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": token}
	out, _, err := runEnv(acme, "tenant", "list")
	if rows := tableRows(t, out, "ID"); err != nil || len(rows) != 1 || !strings.HasPrefix(rows[0], tenant) {
		t.Errorf("tenant list as Acme: %v, %q; want only Acme", err, rows)
	}
	if _, _, err := runEnv(acme, "tenant", "create", "--name", "x"); err == nil || !strings.Contains(err.Error(), "403 forbidden") {
		t.Errorf("tenant create as Acme: %v, want 403", err)
	}

	out = s.cli(t, "token", "list")
	if !strings.Contains(out, id) || !strings.Contains(out, "system") || strings.Contains(out, token) {
		t.Errorf("token list: want %s and the system bootstrap token, never a token:\n%s", id, out)
	}
	var list otoshttp.List[map[string]any]
	s.cliJSON(t, &list, "token", "list", "--all", "--limit", "1")
	if len(list.Items) != 2 {
		t.Errorf("token list --all: %d tokens, want the bootstrap token and Acme's", len(list.Items))
	}
	for _, item := range list.Items {
		if _, ok := item["token"]; ok {
			t.Errorf("token list --json shows a token: %v", item)
		}
		if _, ok := item["hash"]; ok {
			t.Errorf("token list --json shows a hash: %v", item)
		}
	}

	if value(t, s.cli(t, "token", "revoke", id), "revoked") == "-" {
		t.Error("token revoke: no revocation time")
	}
	if _, _, err := runEnv(acme, "template", "list"); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Errorf("revoked token: %v, want 401", err)
	}

	tpl := s.newTemplate(t, "meter")
	seedAudit(t, s, otos.DefaultTenantID, tpl.ID, "M-1")
	for _, args := range [][]string{
		{"--number", "M-1"}, {"--template", tpl.ID, "--number", "M-1"}, {"--since", "1h", "--number", "M-1"},
		{"--since", "2000-01-01T00:00:00Z", "--number", "M-1"},
	} {
		rows := tableRows(t, s.cli(t, append([]string{"audit", "list"}, args...)...), "AT")
		if len(rows) != 1 || !strings.Contains(rows[0], "M-1") || !strings.Contains(rows[0], "device.auth") {
			t.Errorf("audit list %v: %q, want the one record of M-1", args, rows)
		}
	}
	if rows := tableRows(t, s.cli(t, "audit", "list", "--number", "M-1", "--since", "2999-01-01T00:00:00Z"), "AT"); len(rows) != 0 {
		t.Errorf("audit list --since the future: %q", rows)
	}

	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"fail/no-role", []string{"token", "create"}, "--role is required"},
		{"fail/fractional-expiry", []string{"token", "create", "--role", "viewer", "--expires", "1.5s"}, "--expires must be whole seconds"},
		{"fail/bad-role", []string{"token", "create", "--role", "root"}, "400 bad request: role must be admin or viewer"},
		{"fail/since", []string{"audit", "list", "--since", "yesterday"}, "since must be an RFC 3339 time"},
		{"fail/tenant-name", []string{"tenant", "create"}, "--name is required"},
		{"fail/tenant-show", []string{"tenant", "show", uuid.NewString()}, "404 not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.runCLI(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
