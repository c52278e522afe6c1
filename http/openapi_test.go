package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/otos-iot/otos"
)

// loadOpenAPI loads and validates the embedded document, its examples
// against its schemas included.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("load http/openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("http/openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// patternPath turns a ServeMux pattern's path into an OpenAPI path: the
// wildcard syntax {id} is the same; {name...} and {$} are not OpenAPI's.
func patternPath(path string) string {
	path = strings.TrimSuffix(path, "{$}")
	return strings.ReplaceAll(path, "...}", "}")
}

// serverRoutes are the routes Handler registers, as "METHOD /path".
func serverRoutes(s *Server) []string {
	var out []string
	for _, rt := range s.deviceRoutes() {
		out = append(out, rt.pattern)
	}
	for _, rt := range s.adminTable() {
		out = append(out, rt.pattern)
	}
	for i, p := range out {
		method, path, _ := strings.Cut(p, " ")
		out[i] = method + " " + patternPath(path)
	}
	return out
}

// documented are the operations of doc, as "METHOD /path".
func documented(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIRoutes: every route of the server is in the document, and
// every operation of the document is a route the server's router takes.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	s := NewServer(Config{Admin: denyAdmin{}, Registrar: denyRegistrar{}})
	routes := serverRoutes(s)
	ops := documented(doc)
	inDoc := map[string]bool{}
	for _, op := range ops {
		inDoc[op] = true
	}
	isRoute := map[string]bool{}
	for _, r := range routes {
		isRoute[r] = true
		if !inDoc[r] {
			t.Errorf("route %s is missing from http/openapi.json", r)
		}
	}
	h := s.Handler()
	for _, op := range ops {
		if !isRoute[op] {
			t.Errorf("http/openapi.json names %s, which is no route", op)
		}
		// The tables are what the router serves: the real handler takes
		// the request (the stubs refuse it), not the router's 404 or 405.
		if code, msg := probe(h, op); code == http.StatusNotFound && strings.HasPrefix(msg, "No such route") || code == http.StatusMethodNotAllowed {
			t.Errorf("%s: the router answers %d %q", op, code, msg)
		}
	}
}

// probe sends op, its path parameters filled in, to h, and returns the
// answer's status and message.
func probe(h http.Handler, op string) (int, string) {
	method, path, _ := strings.Cut(op, " ")
	for strings.Contains(path, "{") {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:i] + "01a24f77-7e6a-7a83-acfb-836382d6a89f" + path[j+1:]
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("{}")))
	var body struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body.Message
}

// TestOpenAPIServed: GET /openapi.json serves the document as JSON.
func TestOpenAPIServed(t *testing.T) {
	h := NewServer(Config{}).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(OpenAPI()) {
		t.Fatal("GET /openapi.json does not serve http/openapi.json")
	}
}

// TestOpenAPICodes: the document names every result code of the table,
// so that a code added later is documented too.
func TestOpenAPICodes(t *testing.T) {
	doc := string(OpenAPI())
	for _, c := range otos.Codes() {
		if n := itoa(c.Number()); !strings.Contains(doc, n) {
			t.Errorf("code %s (%s) is not in http/openapi.json", n, c)
		}
	}
}

var errDenied = otos.Errorf(otos.EUNAUTHORIZED, "denied")

// denyAdmin refuses every admin token; it is the only method called.
type denyAdmin struct{ otos.Admin }

func (denyAdmin) Authenticate(context.Context, otos.Client, otos.Secret, otos.Change) (*otos.Principal, error) {
	return nil, errDenied
}

// denyRegistrar refuses every registration.
type denyRegistrar struct{ otos.Registrar }

func (denyRegistrar) Register(context.Context, otos.Client, func() (*otos.AuthRequest, error)) (*otos.Issued, error) {
	return nil, errDenied
}
