package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkDeviceAuth measures, in process and without a socket, the CPU
// that answering POST /api/v1/device/auth costs for what floods send: a
// locked-out client, a wrong secret, a repeat of a device that has
// connected. bench/ratios.sh measures the same over loopback, where the
// machine's noise is larger than the differences these show.
func BenchmarkDeviceAuth(b *testing.B) {
	for _, c := range []struct {
		name      string
		threshold int
		body      func(secret string) string
	}{
		{"locked-out", 1, func(secret string) string { return authBody(secret, "bench-locked") }},
		{"wrong-secret", 0, func(string) string { return authBody("wrong-secret", "bench-wrong") }},
		{"repeat", 0, func(secret string) string { return authBody(secret, "bench-repeat") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := startServer(b, "", func(cfg *Config) { cfg.LogLevel, cfg.LockoutThreshold = "warn", c.threshold })
			h := s.HTTP.Handler()
			serve := func(body, token string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(http.MethodPost, "/api/v1/device/auth", bytes.NewReader([]byte(body)))
				if token != "" {
					r = httptest.NewRequest(http.MethodPost, "/api/v1/templates", bytes.NewReader([]byte(body)))
					r.Header.Set("Authorization", "Bearer "+token)
				}
				r.RemoteAddr = "198.51.100.1:4000"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w
			}
			var tpl struct {
				Secret string `json:"template_secret"`
			}
			if err := json.Unmarshal(serve(`{"name":"bench","device_type":"direct"}`, s.Token).Body.Bytes(), &tpl); err != nil {
				b.Fatal(err)
			}
			switch c.name {
			case "locked-out":
				serve(authBody("wrong-secret", "x"), "")
			case "repeat":
				var env envelope
				if err := json.Unmarshal(serve(authBody(tpl.Secret, "bench-repeat"), "").Body.Bytes(), &env); err != nil || env.Data == nil {
					b.Fatalf("register: %v", err)
				}
				d, err := s.Store.Device(context.Background(), env.Data.DeviceID)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Store.MarkConnected(context.Background(), d.ID, d.Credential.Lookup, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			body := c.body(tpl.Secret)
			b.ReportAllocs()
			for b.Loop() {
				serve(body, "")
			}
		})
	}
}
