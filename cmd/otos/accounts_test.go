package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
)

// cliAccount is a service account as the CLI's --json prints it.
type cliAccount struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	Username string `json:"username"`
	Password string `json:"password"`
	Revoked  bool   `json:"revoked"`
}

// token stores an admin API token of role in tenant, creating the tenant
// unless it exists, and returns the token.
func (s *testServer) token(t *testing.T, role otos.Role, tenant string) string {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Store.Tenant(ctx, tenant); otos.ErrorCode(err) == otos.ENOTFOUND {
		err = s.Store.CreateTenant(ctx, &otos.Tenant{ID: tenant, Name: "tenant " + tenant, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	token := "otos_test_" + uuid.NewString()
	err := s.Store.CreateToken(ctx, &otos.Token{ID: uuid.NewString(), TenantID: tenant, Role: role, Name: string(role),
		Hash: otos.TokenHash(otos.Secret(token)), CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestCLIServiceAccounts(t *testing.T) {
	s := startServer(t, "", nil)

	out := s.cli(t, "service-account", "create", "--name", "billing backend")
	id, password := value(t, out, "id"), value(t, out, "password")
	if got := value(t, out, "username"); got != "svc_"+id {
		t.Errorf("create: username %q, want svc_%s", got, id)
	}
	if password == "" || password == "-" {
		t.Errorf("create: no password:\n%s", out)
	}
	for _, want := range []string{"shown only this once", "otos/" + otos.DefaultTenantID + "/#"} {
		if !strings.Contains(out, want) {
			t.Errorf("create does not say %q:\n%s", want, out)
		}
	}

	var created cliAccount
	s.cliJSON(t, &created, "service-account", "create", "--name", "analytics")
	if created.ID == "" || created.Username != "svc_"+created.ID || created.Password == "" || created.Password == password ||
		created.TenantID != otos.DefaultTenantID || created.Name != "analytics" || created.Revoked {
		t.Errorf("create --json = %+v", created)
	}
	if _, err := s.Service.Sessions.Authenticate(t.Context(), testClient, created.Username, created.Password); err != nil {
		t.Errorf("the new account does not open MQTT: %v", err)
	}

	rows := tableRows(t, s.cli(t, "service-account", "list"), "ID")
	if len(rows) != 2 || !strings.Contains(rows[0], "svc_"+id) || strings.Contains(strings.Join(rows, "\n"), password) {
		t.Errorf("list: %q, want 2 rows, %s first, no password", rows, id)
	}
	var list struct{ Items []map[string]any }
	s.cliJSON(t, &list, "service-account", "list", "--all", "--limit", "1")
	if len(list.Items) != 2 || list.Items[0]["id"] != id || list.Items[1]["id"] != created.ID {
		t.Fatalf("list --all --json: %v, want %s then %s", list.Items, id, created.ID)
	}
	for _, a := range list.Items {
		if _, ok := a["password"]; ok {
			t.Errorf("list --json shows a password: %v", a)
		}
	}

	var revoked map[string]any
	s.cliJSON(t, &revoked, "service-account", "revoke", created.ID)
	if _, ok := revoked["password"]; ok || revoked["id"] != created.ID || revoked["revoked"] != true {
		t.Errorf("revoke --json = %v, want %s revoked, no password", revoked, created.ID)
	}
	if got := value(t, s.cli(t, "service-account", "revoke", created.ID), "revoked"); got != "yes" {
		t.Errorf("revoke again: revoked %q, want yes", got)
	}
	if _, err := s.Service.Sessions.Authenticate(t.Context(), testClient, created.Username, created.Password); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Errorf("revoked account over MQTT: %v, want EUNAUTHORIZED", err)
	}
	rows = tableRows(t, s.cli(t, "service-account", "list"), "ID")
	if len(rows) != 2 || !strings.Contains(rows[1], " yes ") || strings.Contains(rows[0], " yes ") {
		t.Errorf("list after revoke: %q, want only the second revoked", rows)
	}
}

// TestServiceAccountScope checks that a tenant's admin sees and revokes
// only its own accounts, that a viewer may not create one, and that the
// service-account routes do not reach admin tokens.
func TestServiceAccountScope(t *testing.T) {
	s := startServer(t, "", nil)
	var mine cliAccount
	s.cliJSON(t, &mine, "service-account", "create", "--name", "default tenant")
	const otherTenant = "00000000-0000-0000-0000-0000000000b2"
	other := map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": s.token(t, otos.RoleAdmin, otherTenant)}
	viewer := map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": s.token(t, otos.RoleViewer, otos.DefaultTenantID)}

	out, _, err := runEnv(other, "service-account", "create", "--name", "tenant b", "--json")
	var theirs cliAccount
	if err != nil || json.Unmarshal([]byte(out), &theirs) != nil || theirs.TenantID != otherTenant {
		t.Fatalf("create as tenant b: %v, %s", err, out)
	}
	var list struct{ Items []cliAccount }
	out, _, err = runEnv(other, "service-account", "list", "--json")
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].ID != theirs.ID {
		t.Errorf("list as tenant b: %v, %s; want only %s", err, out, theirs.ID)
	}
	s.cliJSON(t, &list, "service-account", "list")
	if len(list.Items) != 2 {
		t.Errorf("the system administrator lists %d accounts, want both tenants' 2", len(list.Items))
	}
	out, _, err = runEnv(viewer, "service-account", "list")
	if rows := tableRows(t, out, "ID"); err != nil || len(rows) != 1 {
		t.Errorf("list as viewer: %v, %q; want the default tenant's account", err, rows)
	}

	admins, _, err := s.Store.Tokens(t.Context(), otos.TokenFilter{Role: otos.RoleAdmin})
	if err != nil || len(admins) == 0 {
		t.Fatalf("admin tokens: %v, %v", admins, err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"fail/other-tenant", other, []string{"service-account", "revoke", mine.ID}, "404 not found: service account not found (code 100006)"},
		{"fail/unknown", other, []string{"service-account", "revoke", uuid.NewString()}, "404 not found: service account not found"},
		{"fail/not-a-uuid", other, []string{"service-account", "revoke", "nope"}, "404 not found: service account not found"},
		{"fail/admin-token", other, []string{"service-account", "revoke", admins[0].ID}, "service account not found"},
		{"fail/admin-token-as-system", map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": s.Token},
			[]string{"service-account", "revoke", admins[0].ID}, "service account not found"},
		{"fail/viewer-create", viewer, []string{"service-account", "create", "--name", "x"}, "403 forbidden: This token may only read"},
		{"fail/viewer-revoke", viewer, []string{"service-account", "revoke", mine.ID}, "403 forbidden"},
		{"fail/empty-name", other, []string{"service-account", "create", "--name", ""}, "400 bad request"},
		{"fail/missing-name", other, []string{"service-account", "create"}, "--name is required"},
		{"fail/missing-id", other, []string{"service-account", "revoke"}, "missing ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := runEnv(tt.env, tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if got, err := s.Store.Token(t.Context(), mine.ID); err != nil || got.RevokedAt != nil {
		t.Errorf("the default tenant's account after the refusals: %+v, %v; want it active", got, err)
	}
	if got, err := s.Store.Token(t.Context(), admins[0].ID); err != nil || got.RevokedAt != nil {
		t.Errorf("the admin token after the refusals: %+v, %v; want it active", got, err)
	}
}

// TestServiceAccountNotAdminToken checks that a service account's password,
// which shares the token table with admin tokens, does not open the admin API.
func TestServiceAccountNotAdminToken(t *testing.T) {
	s := startServer(t, "", nil)
	var a cliAccount
	s.admin(t, "POST", "/api/v1/service-accounts", map[string]string{"name": "consumer"}, http.StatusCreated, &a)
	if a.Password == "" || a.Username != "svc_"+a.ID {
		t.Fatalf("created account %+v", a)
	}
	for _, path := range []string{"/api/v1/templates", "/api/v1/devices", "/api/v1/service-accounts"} {
		for _, bearer := range []string{a.Password, a.Username} {
			res, b := do(t, "GET", s.URL+path, "", "Authorization", "Bearer "+bearer)
			var e struct{ Code int }
			if res.StatusCode != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || e.Code != 100004 {
				t.Errorf("GET %s with a service account credential: %d %s, want 401 code 100004", path, res.StatusCode, b)
			}
		}
	}
	env := map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": a.Password}
	if _, _, err := runEnv(env, "template", "list"); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Errorf("CLI with the password as token: %v, want 401 unauthorized", err)
	}
}
