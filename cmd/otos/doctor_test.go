package main

import (
	"bytes"
	"database/sql"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// doctor runs "otos doctor" with args and returns its output and error.
func doctor(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), append([]string{"doctor"}, args...), &out, &out, func(string) string { return "" })
	return out.String(), err
}

// TestDoctor: "otos doctor" passes a good configuration and names each kind
// of broken one with what to fix.
func TestDoctor(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	s.createTemplate(t, nil)
	s.Close()
	free := []string{"--data", dir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}
	if out, err := doctor(t, free...); err != nil || !strings.Contains(out, "ok    store: ") {
		t.Fatalf("a good configuration: %v\n%s", err, out)
	}

	certDir := t.TempDir()
	cert, key := writeTestCertFiles(t, certDir, "a")
	_, otherKey := writeTestCertFiles(t, certDir, "b")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	damaged := t.TempDir()
	writeFile(t, filepath.Join(damaged, "otos.db"), "SQLite format 3\x00"+strings.Repeat("x", 5000))
	newer := t.TempDir()
	copyTo(t, filepath.Join(dir, "otos.db"), filepath.Join(newer, "otos.db"))
	db, err := sql.Open("sqlite", "file:"+filepath.Join(newer, "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"port in use":     {[]string{"--data", dir, "--http", ln.Addr().String(), "--mqtt", "127.0.0.1:0"}, "FAIL  http " + ln.Addr().String()},
		"tls missing":     {append(free, "--mqtt-tls", "127.0.0.1:0", "--tls-cert", filepath.Join(certDir, "none.pem"), "--tls-key", key), "FAIL  tls"},
		"tls mismatched":  {append(free, "--mqtt-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", otherKey), "the key is the certificate's"},
		"store damaged":   {[]string{"--data", damaged, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, "FAIL  store"},
		"store newer":     {[]string{"--data", newer, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, "run a newer otos"},
		"postgres down":   {append(free, "--db", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"), "cannot connect to PostgreSQL at 127.0.0.1:1"},
		"data unwritable": {[]string{"--data", "/proc/otos", "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, "FAIL  store"},
	} {
		out, err := doctor(t, c.args...)
		if err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, "fix: ") {
			t.Errorf("%s: %v, want it to fail saying %q and a fix:\n%s", name, err, c.want, out)
		}
	}
	// A configuration "otos serve" would refuse is refused as such.
	if _, err := doctor(t, append(free, "--mqtt-tls", "127.0.0.1:0", "--tls-cert", cert)...); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("--tls-cert without --tls-key: %v", err)
	}
	if out, err := doctor(t, append(free, "--mqtt-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)...); err != nil {
		t.Errorf("good TLS files: %v\n%s", err, out)
	}
}

// writeTestCertFiles writes a test certificate and key under names led by
// prefix.
func writeTestCertFiles(t *testing.T, dir, prefix string) (cert, key string) {
	t.Helper()
	sub := filepath.Join(dir, prefix)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key, _ = writeTestCert(t, sub)
	return cert, key
}

// copyTo copies a file.
func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVersionAndCompletion: "otos version" names the build; completion
// scripts name the commands, and bash's parses.
func TestVersionAndCompletion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, &out, &out, func(string) string { return "" }); err != nil ||
		!strings.HasPrefix(out.String(), "otos ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out.Reset()
		if err := run(t.Context(), []string{"completion", sh}, &out, &out, func(string) string { return "" }); err != nil {
			t.Fatalf("completion %s: %v", sh, err)
		}
		for _, w := range []string{"serve", "template", "rotate-vouchers", "backup"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s completion lacks %s", sh, w)
			}
		}
		if sh == "bash" {
			f := filepath.Join(t.TempDir(), "otos.bash")
			writeFile(t, f, out.String())
			if b, err := execBash(f); err != nil {
				t.Errorf("bash -n: %v: %s", err, b)
			}
		}
	}
	if err := run(t.Context(), []string{"completion", "tcsh"}, &out, &out, func(string) string { return "" }); err == nil {
		t.Error("an unknown shell was accepted")
	}
}

// execBash checks a script's syntax with bash -n.
func execBash(file string) ([]byte, error) {
	return exec.Command("bash", "-n", file).CombinedOutput()
}
