package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
)

// MaxAdminBody is the largest accepted admin API request body.
const MaxAdminBody = 1 << 20

// Admin is what the admin API needs of the service.
type Admin interface {
	Authenticate(ctx context.Context, token otos.Secret) (*provision.Principal, error)
	RecordAdmin(p *provision.Principal, action string, status int, target, tenantID, detail string)
	CreateTemplate(ctx context.Context, sc provision.Scope, t *otos.Template) (otos.Secret, error)
	Template(ctx context.Context, sc provision.Scope, id string) (*otos.Template, error)
	Templates(ctx context.Context, sc provision.Scope, f otos.TemplateFilter) ([]*otos.Template, string, error)
	UpdateTemplate(ctx context.Context, sc provision.Scope, id string, u otos.TemplateUpdate) (*otos.Template, error)
	RotateSecret(ctx context.Context, sc provision.Scope, id string, grace time.Duration) (otos.Secret, time.Time, error)
	CreateProduct(ctx context.Context, sc provision.Scope, p *otos.Product) error
	Product(ctx context.Context, sc provision.Scope, id string) (*otos.Product, error)
	Products(ctx context.Context, sc provision.Scope, f otos.ProductFilter) ([]*otos.Product, string, error)
	Device(ctx context.Context, sc provision.Scope, id string) (*otos.Device, error)
	Devices(ctx context.Context, sc provision.Scope, f otos.DeviceFilter) ([]*otos.Device, string, error)
	SetDeviceStatus(ctx context.Context, sc provision.Scope, id string, st otos.DeviceStatus) (*otos.Device, error)
	ResetDevice(ctx context.Context, sc provision.Scope, id string) (*otos.Device, error)
	DeleteDevice(ctx context.Context, sc provision.Scope, id string) error
	AllowlistImporter
	CreateServiceAccount(ctx context.Context, sc provision.Scope, name string) (*provision.ServiceAccount, error)
	ServiceAccounts(ctx context.Context, sc provision.Scope, p otos.Page) ([]*provision.ServiceAccount, string, error)
	RevokeServiceAccount(ctx context.Context, sc provision.Scope, id string) (*provision.ServiceAccount, error)
	CreationScope(ctx context.Context, sc provision.Scope, tenantID string) (provision.Scope, error)
	CreateTenant(ctx context.Context, sc provision.Scope, name string) (*otos.Tenant, error)
	Tenant(ctx context.Context, sc provision.Scope, id string) (*otos.Tenant, error)
	Tenants(ctx context.Context, sc provision.Scope, p otos.Page) ([]*otos.Tenant, string, error)
	CreateToken(ctx context.Context, sc provision.Scope, spec provision.TokenSpec) (*provision.AdminToken, error)
	Tokens(ctx context.Context, sc provision.Scope, p otos.Page) ([]*provision.AdminToken, string, error)
	RevokeToken(ctx context.Context, sc provision.Scope, id string) (*provision.AdminToken, error)
	AuditRecords(ctx context.Context, sc provision.Scope, f otos.AuditFilter) ([]*otos.AuditRecord, string, error)
}

// adminHandler serves one admin route for an authenticated principal and
// returns the status and value to write.
type adminHandler func(r *http.Request, p *provision.Principal) (int, any, error)

// AdminError is the body of an admin API error.
type AdminError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// List is the body of an admin list answer.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// adminRoute is one admin API route: its pattern, whether it changes
// something (a viewer's token may not call it), and its handler.
type adminRoute struct {
	pattern string
	write   bool
	h       adminHandler
}

// bodyLimits are the routes whose body may exceed MaxAdminBody.
var bodyLimits = map[string]int64{
	// Allow-lists are imported in bulk: a larger body.
	"POST /api/v1/templates/{id}/allowlist": MaxAllowlistBody,
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	for _, rt := range s.adminTable() {
		limit, ok := bodyLimits[rt.pattern]
		if !ok {
			limit = MaxAdminBody
		}
		mux.Handle(rt.pattern, s.adminLimited(rt.write, limit, rt.h))
	}
}

// adminTable is every admin route. Each one is checked by the tenant
// isolation test in cmd/otos, which fails for a route it has no case for.
func (s *Server) adminTable() []adminRoute {
	read, write := false, true
	return []adminRoute{
		{"POST /api/v1/templates", write, s.createTemplate},
		{"GET /api/v1/templates", read, s.listTemplates},
		{"GET /api/v1/templates/{id}", read, byID(s, "template", Admin.Template)},
		{"PATCH /api/v1/templates/{id}", write, s.updateTemplate},
		{"POST /api/v1/templates/{id}/rotate-secret", write, s.rotateSecret},
		{"POST /api/v1/products", write, s.createProduct},
		{"GET /api/v1/products", read, s.listProducts},
		{"GET /api/v1/products/{id}", read, byID(s, "product", Admin.Product)},
		{"GET /api/v1/devices", read, s.listDevices},
		{"GET /api/v1/devices/{id}", read, byID(s, "device", Admin.Device)},
		{"POST /api/v1/devices/{id}/disable", write, s.deviceStatus(otos.StatusDisabled)},
		{"POST /api/v1/devices/{id}/enable", write, s.deviceStatus(otos.StatusEnabled)},
		{"POST /api/v1/devices/{id}/reset", write, byID(s, "device", Admin.ResetDevice)},
		{"DELETE /api/v1/devices/{id}", write, s.deleteDevice},
		{"POST /api/v1/service-accounts", write, s.createServiceAccount},
		{"GET /api/v1/service-accounts", read, s.listServiceAccounts},
		{"DELETE /api/v1/service-accounts/{id}", write, byID(s, "service account", Admin.RevokeServiceAccount)},
		{"POST /api/v1/templates/{id}/allowlist", write, s.importAllowlist},
		{"POST /api/v1/tenants", write, s.createTenant},
		{"GET /api/v1/tenants", read, s.listTenants},
		{"GET /api/v1/tenants/{id}", read, byID(s, "tenant", Admin.Tenant)},
		{"POST /api/v1/tokens", write, s.createToken},
		{"GET /api/v1/tokens", read, s.listTokens},
		{"DELETE /api/v1/tokens/{id}", write, byID(s, "token", Admin.RevokeToken)},
		{"GET /api/v1/audit", read, s.listAudit},
	}
}

// AdminRoute is an admin API route as a test sees it.
type AdminRoute struct {
	Pattern string // e.g. "GET /api/v1/devices/{id}"
	Write   bool   // it changes something: a viewer's token gets 403
}

// AdminRoutes lists every admin API route, so that a test can check each
// one (tenant isolation, roles) and notices a route added later.
func AdminRoutes() []AdminRoute {
	var s Server // the handlers are only named, never called
	table := s.adminTable()
	routes := make([]AdminRoute, len(table))
	for i, rt := range table {
		routes[i] = AdminRoute{Pattern: rt.pattern, Write: rt.write}
	}
	return routes
}

// adminLimited limits the request body to limit bytes, authenticates the
// bearer token, checks that the principal may write when the route changes
// something, and writes the handler's answer.
func (s *Server) adminLimited(write bool, limit int64, h adminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		p, status, v, err := s.authorize(r, write, h)
		if write && p != nil {
			s.auditAdmin(r, p, status, v, err)
		}
		if err != nil {
			logError(s.log, r, err)
			writeJSON(w, errorStatus(err), AdminError{Code: errorCode(err).Number(),
				Message: message(err, language(r.Header.Get("Accept-Language"))), Field: otos.ErrorField(err)})
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	})
}

// authorize authenticates the request and runs h; it returns the principal
// (nil when authentication failed) with h's answer.
func (s *Server) authorize(r *http.Request, write bool, h adminHandler) (*provision.Principal, int, any, error) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p, err := s.cfg.Service.Authenticate(r.Context(), otos.Secret(strings.TrimSpace(token)))
	if err != nil {
		return nil, 0, nil, err
	}
	if write && !p.CanWrite() {
		return p, 0, nil, otos.Errorf(otos.EFORBIDDEN, "This token may only read")
	}
	status, v, err := h(r, p)
	return p, status, v, err
}

// auditAdmin records an admin change, or a refused attempt at one: the
// route, the status, and the object's id (from the path, or the created
// object).
func (s *Server) auditAdmin(r *http.Request, p *provision.Principal, status int, v any, err error) {
	if err != nil {
		// Handlers return a typed nil with an error: nothing to read from it.
		status, v = errorStatus(err), nil
	}
	target := r.PathValue("id")
	if target == "" {
		if o, ok := v.(interface{ AuditID() string }); ok {
			target = o.AuditID()
		}
	}
	tenant := ""
	if o, ok := v.(interface{ AuditTenant() string }); ok {
		tenant = o.AuditTenant()
	}
	s.cfg.Service.RecordAdmin(p, r.Pattern, status, target, tenant, "")
}

// byID serves a route that acts on the object named by its {id}: fn, an
// Admin method, gets the caller's scope and the id; what names the object
// in a not-found answer.
func byID[T any](s *Server, what string, fn func(Admin, context.Context, provision.Scope, string) (T, error)) adminHandler {
	return func(r *http.Request, p *provision.Principal) (int, any, error) {
		id, err := pathID(r, what)
		if err != nil {
			return 0, nil, err
		}
		v, err := fn(s.cfg.Service, r.Context(), p.Scope, id)
		return http.StatusOK, v, err
	}
}

// pathID returns the {id} of the route; ENOTFOUND when it cannot be one.
func pathID(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return "", otos.Errorf(otos.ENOTFOUND, "%s not found", what)
	}
	return id, nil
}

// queryID returns an optional id filter from the query string.
func queryID(q map[string][]string, field string) (string, error) {
	v := first(q, field)
	if v == "" {
		return "", nil
	}
	if _, err := uuid.Parse(v); err != nil {
		return "", otos.FieldError(field, otos.ReasonValue, "%s must be a UUID", field)
	}
	return v, nil
}

func first(q map[string][]string, key string) string {
	if v := q[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// page reads limit and cursor from the query string.
func page(q map[string][]string) (otos.Page, error) {
	p := otos.Page{Cursor: first(q, "cursor")}
	if v := first(q, "limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, otos.FieldError("limit", otos.ReasonValue, "limit must be a whole number")
		}
		p.Limit = n
	}
	return p, p.Validate()
}

// decodeAdmin reads a JSON admin body into v; an empty body leaves v as is
// when allowEmpty.
func decodeAdmin(r *http.Request, v any, allowEmpty bool) error {
	body, err := readBody(nil, r, MaxAdminBody)
	if err != nil {
		return err
	}
	if allowEmpty && len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return decodeObject(body, v, true)
}
