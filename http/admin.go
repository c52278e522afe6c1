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
	RecordAdmin(p *provision.Principal, action string, status int, target, detail string)
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

func (s *Server) adminRoutes(mux *http.ServeMux) {
	read, write := false, true
	routes := []struct {
		pattern string
		write   bool
		h       adminHandler
	}{
		{"POST /api/v1/templates", write, s.createTemplate},
		{"GET /api/v1/templates", read, s.listTemplates},
		{"GET /api/v1/templates/{id}", read, s.getTemplate},
		{"PATCH /api/v1/templates/{id}", write, s.updateTemplate},
		{"POST /api/v1/templates/{id}/rotate-secret", write, s.rotateSecret},
		{"POST /api/v1/products", write, s.createProduct},
		{"GET /api/v1/products", read, s.listProducts},
		{"GET /api/v1/products/{id}", read, s.getProduct},
		{"GET /api/v1/devices", read, s.listDevices},
		{"GET /api/v1/devices/{id}", read, s.getDevice},
		{"POST /api/v1/devices/{id}/disable", write, s.deviceStatus(otos.StatusDisabled)},
		{"POST /api/v1/devices/{id}/enable", write, s.deviceStatus(otos.StatusEnabled)},
		{"POST /api/v1/devices/{id}/reset", write, s.resetDevice},
		{"DELETE /api/v1/devices/{id}", write, s.deleteDevice},
		{"POST /api/v1/service-accounts", write, s.createServiceAccount},
		{"GET /api/v1/service-accounts", read, s.listServiceAccounts},
		{"DELETE /api/v1/service-accounts/{id}", write, s.revokeServiceAccount},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, s.admin(rt.write, rt.h))
	}
	// Allow-lists are imported in bulk: a larger body.
	mux.Handle("POST /api/v1/templates/{id}/allowlist", s.adminLimited(true, MaxAllowlistBody, s.importAllowlist))
}

// admin authenticates the bearer token, checks that the principal may write
// when the route changes something, and writes the handler's answer.
func (s *Server) admin(write bool, h adminHandler) http.Handler {
	return s.adminLimited(write, MaxAdminBody, h)
}

// adminLimited is admin with a request body limit of limit bytes.
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
		status = errorStatus(err)
	}
	target := r.PathValue("id")
	if target == "" {
		if o, ok := v.(interface{ AuditID() string }); ok {
			target = o.AuditID()
		}
	}
	s.cfg.Service.RecordAdmin(p, r.Pattern, status, target, "")
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
