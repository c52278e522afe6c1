package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths and a pool that trusts it.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otos test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestMQTTOverTLS(t *testing.T) {
	certFile, keyFile, pool := writeTestCert(t, t.TempDir())
	s := startBroker(t, func(c *Config) {
		c.MQTTTLS, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile
	})
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "tls-1")
	url := "ssl://" + s.MQTTTLSAddr()
	if _, err := connect3(t, url, "tls", v.Username, v.Password, &tls.Config{RootCAs: pool}); err != nil {
		t.Fatalf("voucher over TLS: %v", err)
	}
	if _, err := connect3(t, url, "tls-bad", v.Username, "wrong", &tls.Config{RootCAs: pool}); err == nil {
		t.Error("wrong password accepted over TLS")
	}
}

func TestTLSFilesThatDoNotLoadStopTheStart(t *testing.T) {
	dir := t.TempDir()
	certFile, _, _ := writeTestCert(t, dir)
	m := NewMain()
	m.LogOutput = &syncBuffer{}
	m.Config.Data, m.Config.HTTP, m.Config.MQTT = dir, "127.0.0.1:0", "127.0.0.1:0"
	m.Config.MQTTTLS, m.Config.TLSCert, m.Config.TLSKey = "127.0.0.1:0", certFile, filepath.Join(dir, "missing.pem")
	err := m.Open(context.Background())
	defer m.Close()
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("start with a missing key: %v", err)
	}
}

func TestServeFlags(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		want  string // error substring, "" for none
		check func(*testing.T, *Config)
	}{
		{"defaults", nil, nil, "", func(t *testing.T, c *Config) {
			if c.Data != "./otos-data" || c.HTTP != ":8080" || c.MQTT != ":1883" || c.Compat {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{"env", nil, map[string]string{"OTOS_HTTP": "127.0.0.1:9", "OTOS_COMPAT_THINGSPANEL": "true", "OTOS_DATA": "/tmp/x"}, "", func(t *testing.T, c *Config) {
			if c.HTTP != "127.0.0.1:9" || !c.Compat || c.Data != "/tmp/x" {
				t.Errorf("env: %+v", c)
			}
		}},
		{"flag-over-env", []string{"--http", "127.0.0.1:7"}, map[string]string{"OTOS_HTTP": "127.0.0.1:9"}, "", func(t *testing.T, c *Config) {
			if c.HTTP != "127.0.0.1:7" {
				t.Errorf("flag did not win: %s", c.HTTP)
			}
		}},
		{"mqtt-off", []string{"--mqtt", ""}, nil, "", func(t *testing.T, c *Config) {
			if c.MQTT != "" {
				t.Errorf("mqtt %q", c.MQTT)
			}
		}},
		{"mqtt-off-env", nil, map[string]string{"OTOS_MQTT": "off"}, "", func(t *testing.T, c *Config) {
			if c.MQTT != "" {
				t.Errorf("OTOS_MQTT=off left mqtt %q", c.MQTT)
			}
		}},
		{"bad-http", []string{"--http", "8080"}, nil, "--http", nil},
		{"tls-without-cert", []string{"--mqtt-tls", ":8883"}, nil, "--tls-cert", nil},
		{"short-admin-token", nil, map[string]string{"OTOS_ADMIN_TOKEN": "short"}, "OTOS_ADMIN_TOKEN", nil},
		{"bad-log-level", []string{"--log-level", "loud"}, nil, "--log-level", nil},
		{"short-audit-retention", []string{"--audit-retention", "30m"}, nil, "--audit-retention", nil},
		{"audit-retention-env", nil, map[string]string{"OTOS_AUDIT_RETENTION": "720h"}, "", func(t *testing.T, c *Config) {
			if c.AuditRetention != 720*time.Hour {
				t.Errorf("audit retention %v", c.AuditRetention)
			}
		}},
		{"postgres", []string{"--db", "postgres://otos@db.example/otos"}, nil, "", func(t *testing.T, c *Config) {
			if c.DB != "postgres://otos@db.example/otos" {
				t.Errorf("db %q", c.DB)
			}
		}},
		{"postgres-env", nil, map[string]string{"OTOS_DB": "postgresql://db.example/otos"}, "", nil},
		{"db-timeout", nil, map[string]string{"OTOS_DB_TIMEOUT": "2s"}, "", func(t *testing.T, c *Config) {
			if c.DBTimeout != 2*time.Second {
				t.Errorf("db timeout %v", c.DBTimeout)
			}
		}},
		{"db-timeout-too-long", []string{"--db-timeout", "2h"}, nil, "--db-timeout", nil},
		{"unknown-db", []string{"--db", "mysql://root:hunter2@x/db"}, nil, `unknown database "mysql"`, func(t *testing.T, c *Config) {
			if err := c.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the DSN's password: %v", err)
			}
		}},
		{"stray-argument", []string{"extra"}, nil, "no arguments", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMain()
			var errOut strings.Builder
			err := m.ParseFlags(c.args, &errOut, func(k string) string { return c.env[k] })
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
			if c.check != nil {
				c.check(t, &m.Config)
			}
		})
	}
}

// TestTLSReloadOnHUP: SIGHUP reloads the TLS certificate and key without a
// restart; files that do not load leave the one in use.
func TestTLSReloadOnHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, oldPool := writeTestCert(t, dir)
	s := startBroker(t, func(c *Config) {
		c.MQTTTLS, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile
	})
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "tls-reload")
	url := "ssl://" + s.MQTTTLSAddr()
	if _, err := connect3(t, url, "a", v.Username, v.Password, &tls.Config{RootCAs: oldPool}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.reloadOnHUP(ctx)
	time.Sleep(50 * time.Millisecond)      // signal.Notify is in place
	_, _, newPool := writeTestCert(t, dir) // new key and certificate in the same files
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := connect3(t, url, "b", v.Username, v.Password, &tls.Config{RootCAs: newPool})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new certificate is not served after SIGHUP: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := connect3(t, url, "c", v.Username, v.Password, &tls.Config{RootCAs: oldPool}); err == nil {
		t.Fatal("the old certificate is still served")
	}
	writeFile(t, keyFile, "not a key")
	if err := s.Reload(); err == nil {
		t.Fatal("a key that does not load reloaded")
	}
	if _, err := connect3(t, url, "d", v.Username, v.Password, &tls.Config{RootCAs: newPool}); err != nil {
		t.Fatalf("a failed reload dropped the certificate in use: %v", err)
	}
}
