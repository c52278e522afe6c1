package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestClientCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":100004,"message":"Missing or invalid admin token"}`)
			return
		}
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"method":%q,"query":%q,"type":%q,"body":%s}`, r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), b)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/invalid":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":100002,"message":"limit must be a whole number","field":"limit"}`)
		case "/proxy":
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>bad gateway</html>")
		default:
			fmt.Fprint(w, "not json")
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := &Client{BaseURL: srv.URL + "/", Token: "tok"}

	raw, err := c.Call(ctx, "POST", "/echo", url.Values{"limit": {"2"}}, map[string]string{"name": "x"})
	var echo struct {
		Method, Query, Type string
		Body                map[string]string
	}
	if err != nil || json.Unmarshal(raw, &echo) != nil || echo.Method != "POST" || echo.Query != "limit=2" ||
		echo.Type != "application/json" || echo.Body["name"] != "x" {
		t.Errorf("echo: %s, %v", raw, err)
	}
	if raw, err := c.Call(ctx, "DELETE", "/empty", nil, nil); raw != nil || err != nil {
		t.Errorf("204: %q, %v; want nil, nil", raw, err)
	}

	tests := []struct {
		name, path, token, want string
		apiErr                  APIError
	}{
		{"fail/unauthorized", "/echo", "bad", "401 unauthorized: Missing or invalid admin token (code 100004)",
			APIError{Status: 401, Code: 100004, Message: "Missing or invalid admin token"}},
		{"fail/field", "/invalid", "tok", "400 bad request: limit must be a whole number (code 100002)",
			APIError{Status: 400, Code: 100002, Message: "limit must be a whole number", Field: "limit"}},
		{"fail/not-json", "/proxy", "tok", "502 bad gateway", APIError{Status: 502, Message: "Bad Gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{BaseURL: srv.URL, Token: tt.token}
			_, err := c.Call(ctx, "GET", tt.path, nil, nil)
			var e *APIError
			if !errors.As(err, &e) || *e != tt.apiErr || err.Error() != tt.want {
				t.Errorf("error %#v (%v), want %q", err, err, tt.want)
			}
		})
	}

	if _, err := c.Call(ctx, "GET", "/other", nil, nil); err == nil || !strings.Contains(err.Error(), "did not answer with JSON") {
		t.Errorf("non-JSON 200: %v", err)
	}
	down := &Client{BaseURL: "http://127.0.0.1:1", Token: "tok"}
	if _, err := down.Call(ctx, "GET", "/x", nil, nil); err == nil || !strings.HasPrefix(err.Error(), "cannot reach the otos server at http://127.0.0.1:1: ") {
		t.Errorf("unreachable: %v", err)
	}
}
