package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs an otos command line against s and fails the test if it fails.
func (s *testServer) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.runCLI(t, args...)
	if err != nil {
		t.Fatalf("otos %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// cliJSON runs a command with --json and decodes its output into v.
func (s *testServer) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := s.cli(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("otos %s --json: %v in %q", strings.Join(args, " "), err, out)
	}
}

// runEnv runs a command line with env as the whole environment and returns
// its stdout and stderr.
func runEnv(env map[string]string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return out.String(), errOut.String(), err
}

// tableRows returns the lines of a table after its header, without hints.
func tableRows(t *testing.T, out, header string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], header) {
		t.Fatalf("table header %q, want it to start with %q", lines[0], header)
	}
	var rows []string
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "next cursor:") {
			rows = append(rows, l)
		}
	}
	return rows
}

// value returns the value of the first "key: value" line of out, indented
// or not.
func value(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimLeft(l, " "), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q line in:\n%s", key, out)
	return ""
}

type cliTemplate struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	DeviceType     string `json:"device_type"`
	VoucherType    string `json:"voucher_type"`
	Registration   string `json:"registration"`
	Reregistration string `json:"reregistration"`
	Secret         string `json:"template_secret"`
}

// newTemplate creates a direct-device template through the CLI.
func (s *testServer) newTemplate(t *testing.T, name string) cliTemplate {
	t.Helper()
	var tp cliTemplate
	s.cliJSON(t, &tp, "template", "create", "--name", name, "--type", "direct")
	if tp.ID == "" || tp.Secret == "" {
		t.Fatalf("template create --json: no id or secret: %+v", tp)
	}
	return tp
}

func TestCLITemplates(t *testing.T) {
	s := startServer(t, "", nil)

	out := s.cli(t, "template", "create", "--name", "meter", "--type", "gateway", "--voucher", "ACCESSTOKEN", "--reregistration", "never")
	id := value(t, out, "id")
	for key, want := range map[string]string{"name": "meter", "device type": "gateway", "voucher type": "ACCESSTOKEN",
		"registration": "auto", "reregistration": "never"} {
		if got := value(t, out, key); got != want {
			t.Errorf("create: %s = %q, want %q", key, got, want)
		}
	}
	if !strings.Contains(out, "shown only this once") {
		t.Errorf("create does not warn that the secret is shown once:\n%s", out)
	}
	second := s.newTemplate(t, "sensor")

	rows := tableRows(t, s.cli(t, "template", "list"), "ID")
	if len(rows) != 2 || !strings.Contains(strings.Join(rows, "\n"), id) {
		t.Errorf("template list: %q, want 2 rows with %s", rows, id)
	}
	var list struct{ Items []map[string]any }
	s.cliJSON(t, &list, "template", "list")
	if len(list.Items) != 2 {
		t.Errorf("template list --json: %d items, want 2", len(list.Items))
	}

	if got := value(t, s.cli(t, "template", "show", second.ID), "name"); got != "sensor" {
		t.Errorf("show: name %q", got)
	}
	var shown map[string]any
	s.cliJSON(t, &shown, "template", "show", second.ID)
	if _, ok := shown["template_secret"]; ok || shown["id"] != second.ID {
		t.Errorf("template show --json = %v, want id %s and no template_secret", shown, second.ID)
	}

	var updated cliTemplate
	s.cliJSON(t, &updated, "template", "update", second.ID, "--registration", "off")
	if updated.Registration != "off" || updated.Name != "sensor" || updated.Reregistration != "until_connected" {
		t.Errorf("update --registration off changed more or less than asked: %+v", updated)
	}
	if got := value(t, s.cli(t, "template", "update", "--name", "sensor 2", second.ID), "name"); got != "sensor 2" {
		t.Errorf("update --name: name %q", got)
	}
}

func TestCLIRotateSecret(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.newTemplate(t, "sensor")

	var rot struct {
		TemplateID    string    `json:"template_id"`
		Secret        string    `json:"template_secret"`
		PreviousUntil time.Time `json:"previous_secret_valid_until"`
	}
	s.cliJSON(t, &rot, "template", "rotate-secret", tp.ID, "--grace", "1h")
	if rot.TemplateID != tp.ID || rot.Secret == "" || rot.Secret == tp.Secret {
		t.Errorf("rotate-secret --json = %+v", rot)
	}
	if d := time.Until(rot.PreviousUntil); d < 59*time.Minute || d > time.Hour {
		t.Errorf("previous secret valid for %v, want 1h", d)
	}

	out := s.cli(t, "template", "rotate-secret", "--grace", "0s", tp.ID)
	until, err := time.Parse(time.RFC3339, value(t, out, "previous secret valid until"))
	if err != nil || until.After(time.Now()) {
		t.Errorf("with --grace 0s: previous secret valid until %v (%v), want now", until, err)
	}
	if !strings.Contains(out, "New template secret, shown only this once") {
		t.Errorf("rotate-secret does not print the new secret prominently:\n%s", out)
	}
}

func TestCLIProducts(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.newTemplate(t, "sensor")
	other := s.newTemplate(t, "meter")

	out := s.cli(t, "product", "create", "--name", "sensor v2", "--template", tp.ID)
	id, key := value(t, out, "id"), value(t, out, "product key")
	if key == "" || key == "-" {
		t.Errorf("product create: no product key:\n%s", out)
	}
	s.cli(t, "product", "create", "--name", "meter v1", "--template", other.ID)

	if rows := tableRows(t, s.cli(t, "product", "list"), "ID"); len(rows) != 2 {
		t.Errorf("product list: %q, want 2 rows", rows)
	}
	var list struct {
		Items []struct {
			ID         string `json:"id"`
			ProductKey string `json:"product_key"`
		}
	}
	s.cliJSON(t, &list, "product", "list", "--template", tp.ID)
	if len(list.Items) != 1 || list.Items[0].ID != id || list.Items[0].ProductKey != key {
		t.Errorf("product list --template: %+v, want only %s", list.Items, id)
	}
	if got := value(t, s.cli(t, "product", "show", id), "template"); got != tp.ID {
		t.Errorf("product show: template %q, want %s", got, tp.ID)
	}
}

func TestCLIDevices(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.newTemplate(t, "sensor")
	id, _ := s.register(t, tp.Secret, "SN-1", "device_name", "kitchen")
	s.register(t, tp.Secret, "SN-2")

	rows := tableRows(t, s.cli(t, "device", "list"), "ID")
	if len(rows) != 2 || !strings.Contains(strings.Join(rows, "\n"), "kitchen") {
		t.Errorf("device list: %q", rows)
	}
	for _, args := range [][]string{{"device", "show", id, "--json"}, {"device", "show", "--json", id}} {
		var d map[string]any
		s.cliJSON(t, &d, args...)
		if d["id"] != id || d["device_number"] != "SN-1" || d["status"] != "enabled" || d["online"] != false {
			t.Errorf("otos %s: %v", strings.Join(args, " "), d)
		}
	}
	out := s.cli(t, "device", "show", id)
	for key, want := range map[string]string{"device number": "SN-1", "name": "kitchen", "status": "enabled",
		"online": "no", "template": tp.ID, "first connected": "-"} {
		if got := value(t, out, key); got != want {
			t.Errorf("device show: %s = %q, want %q", key, got, want)
		}
	}

	for _, step := range []struct{ verb, status string }{{"disable", "disabled"}, {"enable", "enabled"}, {"reset", "enabled"}} {
		if got := value(t, s.cli(t, "device", step.verb, id), "status"); got != step.status {
			t.Errorf("device %s: status %q, want %q", step.verb, got, step.status)
		}
	}
	s.cli(t, "device", "disable", id)
	var list struct{ Items []struct{ ID string } }
	s.cliJSON(t, &list, "device", "list", "--status", "disabled")
	if len(list.Items) != 1 || list.Items[0].ID != id {
		t.Errorf("device list --status disabled: %+v, want only %s", list.Items, id)
	}

	if out := s.cli(t, "device", "delete", id); !strings.Contains(out, "deleted") {
		t.Errorf("device delete: %q", out)
	}
	if _, err := s.runCLI(t, "device", "show", id); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("show after delete: %v, want not found", err)
	}
	s.cliJSON(t, &list, "device", "list", "--number", "SN-2")
	if len(list.Items) != 1 {
		t.Errorf("device list --number SN-2: %+v", list.Items)
	}
}

func TestCLIListAll(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.newTemplate(t, "sensor")
	for i := range 5 {
		s.register(t, tp.Secret, fmt.Sprintf("SN-%d", i))
	}

	out := s.cli(t, "device", "list", "--limit", "2")
	if rows := tableRows(t, out, "ID"); len(rows) != 2 || !strings.Contains(out, "next cursor: ") {
		t.Fatalf("device list --limit 2: want 2 rows and a cursor hint:\n%s", out)
	}
	var page struct {
		Items      []struct{ ID string }
		NextCursor string `json:"next_cursor"`
	}
	s.cliJSON(t, &page, "device", "list", "--limit", "2")
	s.cliJSON(t, &page, "device", "list", "--limit", "2", "--cursor", page.NextCursor)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Errorf("second page: %+v", page)
	}

	out = s.cli(t, "device", "list", "--limit", "2", "--all")
	if rows := tableRows(t, out, "ID"); len(rows) != 5 || strings.Contains(out, "next cursor") {
		t.Errorf("device list --limit 2 --all: want 5 rows and no hint:\n%s", out)
	}
	s.cliJSON(t, &page, "device", "list", "--all", "--limit", "2")
	seen := map[string]bool{}
	for _, d := range page.Items {
		seen[d.ID] = true
	}
	if len(seen) != 5 || page.NextCursor != "" {
		t.Errorf("device list --all --json: %d distinct devices, next cursor %q; want 5 and none", len(seen), page.NextCursor)
	}
}

func TestCLIErrors(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.newTemplate(t, "sensor")
	env := map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": s.Token}
	badToken := map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": "not-the-token"}
	down := map[string]string{"OTOS_SERVER": "http://127.0.0.1:1", "OTOS_TOKEN": s.Token}
	const missingID = "00000000-0000-0000-0000-0000000000ff"

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // in the error
		usage   bool   // the command's usage on stderr
	}{
		{"fail/bad-token", badToken, []string{"template", "list"}, "401 unauthorized", false},
		{"fail/bad-token-flag", env, []string{"device", "list", "--token", "wrong"}, "unauthorized", false},
		{"fail/unknown-device", env, []string{"device", "show", missingID}, "404 not found: device not found (code 100006)", false},
		{"fail/unknown-template", env, []string{"template", "rotate-secret", missingID}, "template not found", false},
		{"fail/not-a-uuid", env, []string{"device", "delete", "nope"}, "not found", false},
		{"fail/bad-value", env, []string{"template", "update", tp.ID, "--registration", "maybe"}, "registration must be auto, off or allowlist", false},
		{"fail/unreachable", down, []string{"template", "list"}, "cannot reach the otos server at http://127.0.0.1:1", false},
		{"fail/missing-type", env, []string{"template", "create", "--name", "x"}, "--type is required", true},
		{"fail/missing-template", env, []string{"product", "create", "--name", "x"}, "--template is required", true},
		{"fail/missing-id", env, []string{"device", "show"}, "missing ID", true},
		{"fail/extra-arg", env, []string{"device", "show", "a", "b"}, `unexpected argument "b"`, true},
		{"fail/no-changes", env, []string{"template", "update", tp.ID}, "nothing to change", true},
		{"fail/bad-grace", env, []string{"template", "rotate-secret", tp.ID, "--grace", "1.5s"}, "--grace must be", true},
		{"fail/unknown-subcommand", env, []string{"device", "explode"}, `unknown subcommand "explode"`, true},
		{"fail/unknown-flag", env, []string{"device", "list", "--colour"}, "flag provided but not defined", true},
		{"fail/help", env, []string{"device", "list", "-h"}, flag.ErrHelp.Error(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runEnv(tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
			if got := strings.Contains(stderr, "Usage: otos "); got != tt.usage {
				t.Errorf("usage printed: %v, want %v; stderr:\n%s", got, tt.usage, stderr)
			}
			if strings.Contains(stdout+stderr+fmt.Sprint(err), s.Token) {
				t.Errorf("the token was printed")
			}
		})
	}
	if _, _, err := runEnv(env, "device", "show", "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string // "" for an error
	}{
		{"ok/flag-wins", "from-flag", map[string]string{"OTOS_TOKEN": "from-env", "OTOS_DATA": dir}, "from-flag"},
		{"ok/env-over-file", "", map[string]string{"OTOS_TOKEN": "from-env", "OTOS_DATA": dir}, "from-env"},
		{"ok/file", "", map[string]string{"OTOS_DATA": dir}, "from-file"},
		{"fail/none", "", map[string]string{"OTOS_DATA": t.TempDir()}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveToken(tt.flag, func(k string) string { return tt.env[k] })
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("resolveToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResolveServer(t *testing.T) {
	tests := []struct{ name, flag, env, want string }{
		{"ok/default", "", "", "http://127.0.0.1:8080"},
		{"ok/env", "", "https://otos.example/", "https://otos.example"},
		{"ok/flag-wins", "http://a:1", "http://b:2", "http://a:1"},
		{"ok/bare-host", "localhost:9000", "", "http://localhost:9000"},
		{"fail/scheme", "ftp://x", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveServer(tt.flag, func(string) string { return tt.env })
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("resolveServer = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
