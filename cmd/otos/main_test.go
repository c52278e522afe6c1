package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a running otos on free ports with its data in a temp dir.
type testServer struct {
	*Main
	URL   string
	Token string
	Logs  *syncBuffer
}

// startServer starts otos on a free HTTP port, the MQTT broker off, in dir
// (a new temp dir when ""), after edit changes its configuration.
func startServer(t testing.TB, dir string, edit func(*Config)) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	m := NewMain()
	logs := &syncBuffer{}
	m.LogOutput = logs
	m.Config.Data = dir
	m.Config.HTTP = "127.0.0.1:0"
	m.Config.MQTT = ""
	m.Config.LogLevel = "debug"
	if edit != nil {
		edit(&m.Config)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatalf("open server: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	s := &testServer{Main: m, URL: m.HTTP.URL(), Logs: logs, Token: string(m.Config.AdminToken)}
	if s.Token == "" {
		b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err != nil {
			t.Fatalf("read admin token: %v", err)
		}
		s.Token = strings.TrimSpace(string(b))
	}
	return s
}

// runCLI runs an otos command line against s and returns its stdout.
func (s *testServer) runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		switch k {
		case "OTOS_SERVER":
			return s.URL
		case "OTOS_TOKEN":
			return s.Token
		}
		return ""
	}
	err := run(context.Background(), args, &out, &errOut, env)
	if err != nil && errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}
