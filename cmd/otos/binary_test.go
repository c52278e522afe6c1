package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryServeAndGracefulShutdown builds the otos binary, runs "otos
// serve" as an operator would, and stops it with SIGTERM while a request is
// in flight: the request completes and the process exits 0.
func TestBinaryServeAndGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildOtos(t)
	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "OTOS_ADMIN_TOKEN=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := waitServing(t, stderr)

	if res, err := http.Get(base + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}
	tokenFile := filepath.Join(dir, "data", "admin.token")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tokenFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v, want 0600", fi.Mode().Perm())
	}
	if res, _ := do(t, "GET", base+"/api/v1/templates", "", "Authorization", "Bearer "+strings.TrimSpace(string(token))); res.StatusCode != 200 {
		t.Errorf("admin API with the written token: %d", res.StatusCode)
	}

	// Start a request and leave its body unfinished.
	u := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"template_secret":"nope","device_number":"slow-1"}`
	fmt.Fprintf(conn, "POST /api/v1/device/auth HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u, len(body), body[:10])
	time.Sleep(100 * time.Millisecond)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatalf("finish the body: %v", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost at shutdown: %v", err)
	}
	var env envelope
	_ = json.NewDecoder(res.Body).Decode(&env)
	if env.Code != 200080 {
		t.Errorf("in-flight request answered %d %+v", res.StatusCode, env)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("otos did not exit within 10s of SIGTERM")
	}
}

// buildOtos builds the otos binary into a temporary directory.
func buildOtos(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "otos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitServing reads the JSON log until the "otos serving" line and returns
// the HTTP base URL it names.
func waitServing(t *testing.T, stderr io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "otos serving" {
				found <- line.HTTP
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("otos did not start within 30s")
		return ""
	}
}
