package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	otoshttp "github.com/otos-iot/otos/http"
)

// looseUUID is any UUID, of any version: otos's ids are UUIDv7, the
// default tenant's is not a version at all.
const looseUUID = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// apiRecorder is the transport of a client whose every request, and the
// answer to it, is validated against http/openapi.json as it passes; it
// notes which operations the traffic exercised.
type apiRecorder struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
	seen   map[string]bool // "METHOD /path" of the document
}

// newAPIRecorder loads the document for the server at url.
func newAPIRecorder(t *testing.T, url string) *apiRecorder {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(otoshttp.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	// The document names the default address; the test's server is elsewhere.
	doc.Servers = openapi3.Servers{{URL: url}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc, // the server checks credentials
		IncludeResponseStatus: true,                                  // a status the document lacks is an error
		MultiError:            true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(looseUUID)),
		},
	}
	return &apiRecorder{t: t, doc: doc, router: router, opts: opts, seen: map[string]bool{}}
}

// offContractKey marks a request that breaks the document on purpose, to
// see the error: only its answer is validated.
type offContractKey struct{}

// RoundTrip implements http.RoundTripper.
func (rc *apiRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(answer))
	rc.check(req, body, res, answer)
	return res, nil
}

// check validates one exchange.
func (rc *apiRecorder) check(req *http.Request, body []byte, res *http.Response, answer []byte) {
	ctx := context.Background()
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	name := req.Method + " " + req.URL.RequestURI()
	route, params, err := rc.router.FindRoute(vreq)
	if err != nil {
		rc.t.Errorf("%s: no operation of the document: %v", name, err)
		return
	}
	rc.seen[route.Method+" "+route.Path] = true
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: rc.opts}
	if req.Context().Value(offContractKey{}) == nil {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			rc.t.Errorf("%s: the request does not match the document: %v\n%s", name, err, body)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode,
		Header: res.Header, Body: io.NopCloser(bytes.NewReader(answer)), Options: rc.opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		rc.t.Errorf("%s: the answer %d does not match the document: %v\n%s", name, res.StatusCode, err, answer)
	}
}

// unexercised lists the operations of the document that no request reached.
func (rc *apiRecorder) unexercised() []string {
	var out []string
	for path, item := range rc.doc.Paths.Map() {
		for method := range item.Operations() {
			if !rc.seen[method+" "+path] {
				out = append(out, method+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// apiCall is one request of the recorded traffic.
type apiCall struct {
	method, path string
	body         any    // encoded as JSON unless a string; nil: none
	ctype        string // default application/json
	auth         string // the Authorization header; default the admin token, "-" none
	off          bool   // breaks the document on purpose
	want         int
}

// apiClient sends the recorded traffic to one server.
type apiClient struct {
	t      *testing.T
	s      *testServer
	client *http.Client
}

// call sends k and returns the answer's body, failing unless its status
// is k.want.
func (c *apiClient) call(k apiCall) []byte {
	c.t.Helper()
	var rd io.Reader
	switch b := k.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	ctx := context.Background()
	if k.off {
		ctx = context.WithValue(ctx, offContractKey{}, true)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.s.URL+k.path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", withDefault(k.ctype, "application/json"))
	}
	if auth := withDefault(k.auth, "Bearer "+c.s.Token); auth != "-" {
		req.Header.Set("Authorization", auth)
	}
	res, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", k.method, k.path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != k.want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", k.method, k.path, res.StatusCode, k.want, b)
	}
	return b
}

// admin sends an admin API request with the server's token.
func (c *apiClient) admin(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	b := c.call(apiCall{method: method, path: path, body: body, want: want})
	out := map[string]any{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return out
}

// basicAuth is the Authorization header of a voucher.
func basicAuth(v voucher) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(v.Username+":"+v.Password))
}

// withDefault returns v, or def when v is empty.
func withDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// TestOpenAPITraffic sends real requests to every operation of
// http/openapi.json, successes and errors, and validates each request and
// answer against the document; it fails for an operation no request
// reached, so that the traffic grows with the document.
func TestOpenAPITraffic(t *testing.T) {
	s := startServer(t, "", quickWebhooks)
	rc := newAPIRecorder(t, s.URL)
	c := &apiClient{t: t, s: s, client: &http.Client{Transport: rc, Timeout: 10 * time.Second}}

	openAPIOperational(c)
	tp := openAPITemplates(c)
	openAPIDevices(c, tp)
	openAPIGateway(c)
	openAPIAccounts(c)
	openAPIWebhooks(c, tp)
	openAPIErrors(c)

	if missing := rc.unexercised(); len(missing) > 0 {
		t.Errorf("no recorded request reached %d operations of http/openapi.json: %s", len(missing), strings.Join(missing, ", "))
	}
}

// openAPIOperational: the operational endpoints.
func openAPIOperational(c *apiClient) {
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		c.call(apiCall{method: "GET", path: p, auth: "-", want: 200})
	}
}

// openAPITemplates: templates, their secrets and allow-lists, products;
// it returns a template for the devices.
func openAPITemplates(c *apiClient) template {
	created := c.admin("POST", "/api/v1/templates", map[string]any{"name": "sensor", "device_type": "direct",
		"reregistration": "hardware", "voucher_lifetime_seconds": 86400}, 201)
	tp := template{ID: created["id"].(string), Secret: created["template_secret"].(string)}
	c.admin("GET", "/api/v1/templates?limit=10", nil, 200)
	c.admin("GET", "/api/v1/templates/"+tp.ID, nil, 200)
	c.admin("PATCH", "/api/v1/templates/"+tp.ID, map[string]any{"name": "sensor-2", "rate_limit": 1000}, 200)

	allow := c.admin("POST", "/api/v1/templates", map[string]any{"name": "listed", "device_type": "direct", "registration": "allowlist"}, 201)
	id := allow["id"].(string)
	c.admin("POST", "/api/v1/templates/"+id+"/allowlist", map[string]any{"device_numbers": []string{"AL-1", "AL-2"}}, 200)
	c.call(apiCall{method: "POST", path: "/api/v1/templates/" + id + "/allowlist", body: "device_number\nAL-3\n", ctype: "text/csv", want: 200})
	c.admin("POST", "/api/v1/templates/"+id+"/rotate-secret", map[string]any{"grace_seconds": 60}, 200)
	c.admin("POST", "/api/v1/templates/"+id+"/rotate-secret", nil, 200)

	prod := c.admin("POST", "/api/v1/products", map[string]any{"name": "thermostat", "template_id": tp.ID}, 201)
	c.admin("GET", "/api/v1/products?template_id="+tp.ID, nil, 200)
	c.admin("GET", "/api/v1/products/"+prod["id"].(string), nil, 200)
	return tp
}

// register posts a registration and returns the device id and voucher.
func (c *apiClient) register(body map[string]any, want int) (string, voucher) {
	c.t.Helper()
	b := c.call(apiCall{method: "POST", path: "/api/v1/device/auth", body: body, auth: "-", want: want})
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil || want != 200 {
		return "", voucher{}
	}
	var v voucher
	if err := json.Unmarshal([]byte(env.Data.Voucher), &v); err != nil {
		c.t.Fatalf("voucher %q: %v", env.Data.Voucher, err)
	}
	return env.Data.DeviceID, v
}

// openAPIDevices: registration and its refusals, rotation, and every
// admin route of a device.
func openAPIDevices(c *apiClient, tp template) {
	id, v := c.register(map[string]any{"template_secret": tp.Secret, "device_number": "OA-1", "device_name": "kitchen",
		"hardware_id": "chip-0001"}, 200)
	c.register(map[string]any{"template_secret": "no such secret", "device_number": "OA-1"}, 401)
	c.register(map[string]any{"template_secret": tp.Secret, "device_number": "OA-1", "hardware_id": "chip-9999"}, 403)
	c.call(apiCall{method: "POST", path: "/api/v1/device/auth", body: `{"template_secret":"x"}`, auth: "-", off: true, want: 400})
	never := c.admin("POST", "/api/v1/templates", map[string]any{"name": "strict", "device_type": "direct", "reregistration": "never"}, 201)
	c.register(map[string]any{"template_secret": never["template_secret"], "device_number": "OA-2"}, 200)
	c.register(map[string]any{"template_secret": never["template_secret"], "device_number": "OA-2"}, 409)

	c.call(apiCall{method: "POST", path: "/api/v1/device/voucher/rotate", auth: basicAuth(v), want: 200})
	c.call(apiCall{method: "POST", path: "/api/v1/device/voucher/rotate", auth: "-", want: 401})

	c.admin("GET", "/api/v1/devices?template_id="+tp.ID+"&status=enabled&limit=10", nil, 200)
	c.admin("GET", "/api/v1/devices?expiring_within=7d", nil, 200)
	c.admin("GET", "/api/v1/devices/"+id, nil, 200)
	c.admin("POST", "/api/v1/rotation-requests", map[string]any{"device_id": id, "deadline_in": "7d"}, 200)
	c.admin("POST", "/api/v1/devices/"+id+"/disable", nil, 200)
	c.admin("POST", "/api/v1/devices/"+id+"/enable", nil, 200)
	c.admin("DELETE", "/api/v1/devices/"+id+"/hardware", nil, 200)
	c.admin("POST", "/api/v1/devices/"+id+"/reset", nil, 200)
	c.admin("DELETE", "/api/v1/devices/"+id, nil, 204)
	c.admin("GET", "/api/v1/audit?device_number=OA-1&since=2000-01-01T00:00:00Z&limit=50", nil, 200)
}

// openAPIGateway: a gateway's batch, and a gateway that cannot be deleted
// while it has sub-devices.
func openAPIGateway(c *apiClient) {
	sub := c.admin("POST", "/api/v1/templates", map[string]any{"name": "thermometer", "device_type": "sub_device"}, 201)
	gwT := c.admin("POST", "/api/v1/templates", map[string]any{"name": "gateway", "device_type": "gateway",
		"sub_device_templates": []string{sub["id"].(string)}}, 201)
	gw, gv := c.register(map[string]any{"template_secret": gwT["template_secret"], "device_number": "OA-GW"}, 200)
	batch := map[string]any{"sub_devices": []map[string]any{
		{"sub_device_addr": "1", "device_number": "OA-TH-1", "device_name": "Thermometer"},
		{"sub_device_addr": "2", "device_number": "OA-TH-2", "template_id": gwT["id"]}}}
	c.call(apiCall{method: "POST", path: "/api/v1/gateway/sub-devices", body: batch, auth: basicAuth(gv), want: 200})
	c.call(apiCall{method: "POST", path: "/api/v1/gateway/sub-devices", body: batch, auth: "-", want: 401})
	c.admin("GET", "/api/v1/devices?parent_id="+gw, nil, 200)
	c.admin("DELETE", "/api/v1/devices/"+gw, nil, 409)
}

// openAPIAccounts: tenants, service accounts and admin tokens, and a
// viewer's token refused a change.
func openAPIAccounts(c *apiClient) {
	ten := c.admin("POST", "/api/v1/tenants", map[string]any{"name": "acme"}, 201)
	c.admin("GET", "/api/v1/tenants", nil, 200)
	c.admin("GET", "/api/v1/tenants/"+ten["id"].(string), nil, 200)

	sa := c.admin("POST", "/api/v1/service-accounts", map[string]any{"name": "rules-engine"}, 201)
	c.admin("GET", "/api/v1/service-accounts?limit=5", nil, 200)
	c.admin("DELETE", "/api/v1/service-accounts/"+sa["id"].(string), nil, 200)

	tok := c.admin("POST", "/api/v1/tokens", map[string]any{"role": "viewer", "name": "grafana", "expires_in_seconds": 3600}, 201)
	viewer := "Bearer " + tok["token"].(string)
	c.call(apiCall{method: "GET", path: "/api/v1/tokens", auth: viewer, want: 200})
	c.call(apiCall{method: "POST", path: "/api/v1/tenants", body: map[string]any{"name": "nope"}, auth: viewer, want: 403})
	c.admin("DELETE", "/api/v1/tokens/"+tok["id"].(string), nil, 200)
	c.call(apiCall{method: "GET", path: "/api/v1/tokens", auth: viewer, want: 401})
}

// openAPIWebhooks: a webhook whose endpoint fails, its deliveries, a
// resend, and the replay of events.
func openAPIWebhooks(c *apiClient, tp template) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	c.t.Cleanup(down.Close)
	hook := c.admin("POST", "/api/v1/webhooks", map[string]any{"url": down.URL + "/hook", "types": []string{"device.registered"}}, 201)
	id := hook["id"].(string)
	c.admin("GET", "/api/v1/webhooks", nil, 200)
	c.admin("GET", "/api/v1/webhooks/"+id, nil, 200)
	c.register(map[string]any{"template_secret": tp.Secret, "device_number": "OA-HOOK"}, 200)
	var event string
	for deadline := time.Now().Add(10 * time.Second); event == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		items, _ := c.admin("GET", "/api/v1/webhooks/"+id+"/deliveries?limit=10", nil, 200)["items"].([]any)
		if len(items) > 0 {
			event = items[0].(map[string]any)["event_id"].(string)
		}
	}
	if event == "" {
		c.t.Fatal("the failing webhook has no delivery")
	}
	c.admin("POST", "/api/v1/webhooks/"+id+"/deliveries/"+event+"/resend", nil, 200)
	c.admin("GET", "/api/v1/webhooks/"+id+"/deliveries?state=dead", nil, 200)
	c.admin("DELETE", "/api/v1/webhooks/"+id, nil, 204)

	page := c.admin("GET", "/api/v1/events?limit=5", nil, 200)
	c.admin("GET", "/api/v1/events?after="+page["after"].(string), nil, 200)
}

// openAPIErrors: admin API errors, some for requests that break the
// document on purpose.
func openAPIErrors(c *apiClient) {
	missing := "/api/v1/devices/01a24f77-7e6a-7a83-acfb-836382d6a89f"
	c.call(apiCall{method: "GET", path: "/api/v1/devices", auth: "-", want: 401})
	c.call(apiCall{method: "GET", path: "/api/v1/devices", auth: "Bearer otos_wrong", want: 401})
	c.call(apiCall{method: "GET", path: missing, want: 404})
	c.call(apiCall{method: "POST", path: missing + "/disable", want: 404})
	c.call(apiCall{method: "GET", path: "/api/v1/devices/not-a-uuid", off: true, want: 404})
	c.call(apiCall{method: "GET", path: "/api/v1/devices?limit=5000", off: true, want: 400})
	c.call(apiCall{method: "POST", path: "/api/v1/templates", body: map[string]any{"nmae": "typo", "device_type": "direct"}, off: true, want: 400})
	c.call(apiCall{method: "POST", path: "/api/v1/tenants", body: strings.Repeat(" ", otoshttp.MaxAdminBody+1), off: true, want: 413})
}
